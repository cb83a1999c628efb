import type { StepWhen } from "../job/job_spec.ts";
import type { CiWarning, SourceLocation } from "./ci_config_error.ts";

/** A job's `when`, including the values only rules and GitLab's UI know. */
export type JobWhen = "on_success" | "on_failure" | "always" | "manual" | "delayed" | "never";

export interface CiVariable {
  key: string;
  value: string;
  /** `expand: false`: `$VAR` in the value is left as written. */
  isRaw: boolean;
  description: string;
}

/** `image:` or one of `services:`. */
export interface ImageConfig {
  name: string;
  entrypoint: string[];
  command: string[];
  alias: string;
  pullPolicy: string[];
  platform: string;
  user: string;
  variables: CiVariable[];
}

export interface ReportConfig {
  /** GitLab's report type: `junit`, `dotenv`, `coverage_report`, … */
  type: string;
  paths: string[];
}

export interface ArtifactsConfig {
  name: string;
  paths: string[];
  exclude: string[];
  untracked: boolean;
  when: StepWhen;
  expireIn: string;
  reports: ReportConfig[];
}

export type CacheKeyConfig =
  | { kind: "text"; value: string }
  | { kind: "files"; files: string[]; prefix: string };

export interface CacheConfig {
  key: CacheKeyConfig;
  paths: string[];
  untracked: boolean;
  policy: "pull" | "push" | "pull-push";
  when: StepWhen;
  fallbackKeys: string[];
}

export interface NeedConfig {
  job: string;
  artifacts: boolean;
  optional: boolean;
  /**
   * `parallel: matrix:` filter: only these matrix instances; null means all.
   * A value may list several (`[a, b]`) or be `$[[ matrix.NAME ]]`: the needing
   * job's own value of NAME.
   */
  matrix: Record<string, string[]>[] | null;
  /** `needs:project` or `needs:pipeline`: what exec cannot fetch, e.g. `project "group/lib"`. */
  external: string;
}

export interface RuleConfig {
  loc: SourceLocation;
  /** The `if:` expression, or null. */
  if: string | null;
  changes: string[] | null;
  exists: string[] | null;
  when: JobWhen | null;
  startIn: string;
  allowFailure: boolean | null;
  variables: CiVariable[];
  needs: NeedConfig[] | null;
}

export interface OnlyExceptConfig {
  loc: SourceLocation;
  refs: string[];
  variables: string[];
  changes: string[];
}

export interface RetryConfig {
  max: number;
  /** GitLab failure types to retry on; `always` by default. */
  when: string[];
  exitCodes: number[];
}

export interface AllowFailureConfig {
  isAllowed: boolean;
  /** With `allow_failure: exit_codes`, only these exit codes are allowed to fail. */
  exitCodes: number[];
}

export type ParallelConfig =
  | { kind: "count"; count: number }
  | { kind: "matrix"; matrix: Array<Array<[string, string[]]>> };

export interface EnvironmentConfig {
  name: string;
  url: string;
  action: string;
  /** `deployment_tier`; empty: GitLab guesses it from the name. */
  tier: string;
}

/** One job of `.gitlab-ci.yml` after includes, `extends`, `!reference` and `default:`. */
export interface JobConfig {
  name: string;
  /** Where the job's key is written. */
  loc: SourceLocation;
  stage: string;
  beforeScript: string[];
  script: string[];
  afterScript: string[];
  image: ImageConfig | null;
  services: ImageConfig[];
  /** Job-level variables; `inherit: variables` already applied to `Pipeline.variables`. */
  variables: CiVariable[];
  /** `inherit:variables`: which global variables the job sees (true: all, the default). */
  inheritVariables: boolean | string[];
  rules: RuleConfig[] | null;
  only: OnlyExceptConfig | null;
  except: OnlyExceptConfig | null;
  when: JobWhen;
  startIn: string;
  /** Null: GitLab's default (true for `when: manual`, otherwise false). */
  allowFailure: AllowFailureConfig | null;
  /** Seconds, or null for the project default. */
  timeout: number | null;
  retry: RetryConfig;
  parallel: ParallelConfig | null;
  /** Null when `needs:` is absent (the job waits for earlier stages). */
  needs: NeedConfig[] | null;
  dependencies: string[] | null;
  artifacts: ArtifactsConfig | null;
  cache: CacheConfig[];
  tags: string[];
  environment: EnvironmentConfig | null;
  interruptible: boolean;
  coverage: string;
  /** A `trigger:` job (child or multi-project pipeline). */
  isTrigger: boolean;
  /** What the trigger starts; null for other jobs. */
  trigger: TriggerConfig | null;
}

/** `trigger:`: a child pipeline from local files, or something only GitLab can start. */
export interface TriggerConfig {
  /** `trigger:include` local files (child pipeline), in order; empty otherwise. */
  localIncludes: string[];
  /** Why exec cannot run it (multi-project, remote or artifact includes), or empty. */
  unsupported: string;
  /** `strategy: depend`: the trigger job (and later stages) wait for the child pipeline. */
  isDepend: boolean;
  /** `forward:yaml_variables` (default true): the trigger job's variables go to the child. */
  isYamlVariablesForwarded: boolean;
  /** `forward:pipeline_variables` (default false): the child gets the pipeline variables. */
  isPipelineVariablesForwarded: boolean;
}

export interface WorkflowConfig {
  name: string;
  rules: RuleConfig[] | null;
}

/** A loaded, validated pipeline definition. Pure data; plan it with `planPipeline`. */
export interface Pipeline {
  /** Absolute path of the project on disk. */
  projectDir: string;
  /** Every YAML file read, the main one first. */
  files: string[];
  stages: string[];
  variables: CiVariable[];
  workflow: WorkflowConfig;
  /** Visible jobs in definition order; hidden (`.name`) jobs are not here. */
  jobs: JobConfig[];
  /** Jobs left out because they extend a template from an include exec skipped. */
  unavailableJobs?: string[];
  warnings: CiWarning[];
}
