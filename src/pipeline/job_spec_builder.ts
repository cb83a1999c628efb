import type {
  JobArtifact,
  JobCache,
  JobDependency,
  JobImage,
  JobSpec,
  JobVariable,
} from "../job/job_spec.ts";
import { reportArchive } from "./artifact_reports.ts";
import type { ExecVariable } from "./exec_variable.ts";
import type { GitState } from "./git_state.ts";
import type { CiVariable, ImageConfig, JobConfig } from "./pipeline.ts";

/** GitLab's failure reasons, as a current GitLab lists them in `features`. */
const FAILURE_REASONS = [
  "unknown_failure",
  "script_failure",
  "api_failure",
  "stuck_or_timeout_failure",
  "runner_system_failure",
  "missing_dependency_failure",
  "runner_unsupported",
  "stale_schedule",
  "job_execution_timeout",
  "archived_failure",
  "unmet_prerequisites",
  "scheduler_failure",
  "data_integrity_failure",
  "forward_deployment_failure",
  "user_blocked",
  "project_deleted",
  "ci_quota_exceeded",
  "pipeline_loop_detected",
  "no_matching_runner",
  "trace_size_exceeded",
  "builds_disabled",
  "environment_creation_failure",
  "deployment_rejected",
  "failed_outdated_deployment_job",
  "job_execution_server_timeout",
];

/** GitLab's default project job timeout: one hour. */
export const DEFAULT_EXEC_TIMEOUT_SECONDS = 3600;

/** Everything about one job instance that goes into its payload. */
export interface JobSpecInput {
  id: number;
  token: string;
  name: string;
  job: JobConfig;
  pipelineId: number;
  projectName: string;
  projectPath: string;
  /** Absolute project path, sent as `git_info.repo_url`. */
  projectDir: string;
  git: GitState;
  /**
   * Variables in increasing precedence, each layer already in order:
   * predefined, global YAML, job YAML, matrix, rule variables.
   */
  yamlLayers: Array<Array<[string, string] | CiVariable>>;
  /** Variables file then `--variable`s: they beat everything from the YAML. */
  execVariables: ExecVariable[];
  cacheKeys: string[];
  /**
   * Upstream jobs whose artifacts this job downloads. Jobs given the same
   * array (a stage's jobs in stage order) share their `dependencies`.
   */
  dependencies: ReadonlyArray<{ id: number; name: string }>;
  /** Seconds the job's timeout is capped at (a runner's `maximum_timeout`). */
  maximumTimeout?: number;
}

/**
 * Builds the payload GitLab would send for this job. Exec runs on a copy of
 * the working tree, so `GIT_STRATEGY` is `none` whatever the YAML says; it is
 * the last variable so nothing overrides it.
 */
export function buildJobSpec(input: JobSpecInput): { spec: JobSpec; userVariableCount: number } {
  const { job } = input;
  // GitLab gives the runner the job's timeout (else the project's), capped at
  // the runner's maximum timeout.
  const timeout = Math.min(
    job.timeout ?? DEFAULT_EXEC_TIMEOUT_SECONDS,
    input.maximumTimeout ?? Infinity,
  );
  const variables: JobVariable[] = [];
  for (const layer of input.yamlLayers) {
    for (const v of layer) {
      variables.push(
        Array.isArray(v) ? plain(v[0], v[1]) : { ...plain(v.key, v.value), raw: v.isRaw },
      );
    }
  }
  variables.push({ ...plain("CI_JOB_TOKEN", input.token), public: false, masked: true });
  const tail: JobVariable[] = input.execVariables.map((v) => ({
    key: v.key,
    value: v.value,
    public: false,
    file: v.isFile,
    masked: v.isMasked,
    raw: v.isRaw,
  }));
  tail.push(plain("GIT_STRATEGY", "none"));
  const steps: JobSpec["steps"] = [{
    name: "script",
    script: [...job.beforeScript, ...job.script],
    timeout,
    when: "on_success",
    allowFailure: false,
  }];
  if (job.afterScript.length > 0) {
    steps.push({
      name: "after_script",
      script: job.afterScript,
      timeout,
      when: "always",
      allowFailure: false,
    });
  }
  const spec: JobSpec = {
    id: input.id,
    token: input.token,
    allowGitFetch: false,
    jobInfo: {
      name: input.name,
      stage: job.stage,
      pipelineId: input.pipelineId,
      projectId: 0,
      projectName: input.projectName,
      projectFullPath: input.projectPath,
      namespaceId: 0,
      userId: 0,
      timeInQueueSeconds: 0,
      projectJobsRunningOnInstanceRunnersCount: "+Inf",
      queueSize: 0,
      queueDepth: 0,
    },
    gitInfo: {
      repoUrl: input.projectDir,
      repoObjectFormat: "sha1",
      ref: input.git.ref,
      sha: input.git.sha,
      beforeSha: input.git.beforeSha,
      refType: input.git.refType,
      refspecs: [],
      depth: 0,
      protected: false,
    },
    timeout,
    variables: [...variables, ...tail],
    steps,
    image: toImage(job.image),
    services: job.services.map(toImage),
    artifacts: toArtifacts(job),
    cache: job.cache.map((c, i): JobCache => ({
      key: input.cacheKeys[i] ?? "default",
      untracked: c.untracked,
      policy: c.policy,
      paths: c.paths,
      when: c.when,
      fallbackKeys: c.fallbackKeys,
    })),
    credentials: [],
    dependencies: dependenciesOf(input.dependencies),
    features: { traceSections: true, tokenMaskPrefixes: [], failureReasons: [...FAILURE_REASONS] },
    hooks: [],
    secrets: [],
    run: "",
    inputs: [],
    // No job request brought it: no Gitaly correlation ID.
    requestCorrelationId: "",
  };
  return { spec, userVariableCount: tail.length };
}

const dependencyLists = new WeakMap<object, JobDependency[]>();

/**
 * The payload's `dependencies` on `upstream`, with an empty `token` and
 * `artifacts_file`: whoever runs the plan fills both in as the job starts
 * (the running job's token, as GitLab sends, and what the upstream job
 * uploaded). One array per `upstream` array: in a pipeline of n jobs in
 * stage order, the jobs of a stage share theirs, so planning takes memory
 * linear in n rather than n² (a stage of 2,500 jobs after one of 2,500).
 */
function dependenciesOf(upstream: ReadonlyArray<{ id: number; name: string }>): JobDependency[] {
  let list = dependencyLists.get(upstream);
  if (list === undefined) {
    list = upstream.map((d) => ({
      id: d.id,
      token: "",
      name: d.name,
      artifactsFile: { filename: "", size: 0 },
    }));
    dependencyLists.set(upstream, list);
  }
  return list;
}

function plain(key: string, value: string): JobVariable {
  return { key, value, public: true, file: false, masked: false, raw: false };
}

function toImage(image: ImageConfig | null): JobImage {
  return {
    name: image?.name ?? "",
    alias: image?.alias ?? "",
    command: image?.command ?? [],
    entrypoint: image?.entrypoint ?? [],
    ports: [],
    variables: (image?.variables ?? []).map((v) => ({ ...plain(v.key, v.value), raw: v.isRaw })),
    pullPolicy: image?.pullPolicy ?? [],
    dockerPlatform: image?.platform ?? "",
    dockerUser: image?.user ?? "",
    unsupportedOptions: [],
  };
}

/** One `archive` entry for paths/untracked, then one per report, as GitLab builds them. */
function toArtifacts(job: JobConfig): JobArtifact[] {
  const a = job.artifacts;
  if (!a) return [];
  const out: JobArtifact[] = [];
  if (a.paths.length > 0 || a.untracked) {
    out.push({
      name: a.name,
      untracked: a.untracked,
      paths: a.paths,
      exclude: a.exclude,
      when: a.when,
      artifactType: "archive",
      artifactFormat: "zip",
      expireIn: a.expireIn,
    });
  }
  for (const report of a.reports) {
    const archive = reportArchive(report.type);
    out.push({
      name: archive.file,
      untracked: false,
      paths: report.paths,
      exclude: [],
      when: "always",
      artifactType: report.type,
      artifactFormat: archive.format,
      expireIn: a.expireIn,
    });
  }
  return out;
}

/**
 * The payload of `planned` with the variables of upstream `dotenv` reports
 * added where GitLab puts them: above the YAML variables, below the
 * variables file and `--variable`s.
 */
export function withDotenvVariables(
  planned: { jobSpec: JobSpec; userVariableCount: number },
  dotenv: ReadonlyArray<{ key: string; value: string }>,
): JobSpec {
  const vars = planned.jobSpec.variables;
  const at = vars.length - planned.userVariableCount;
  const added = dotenv.map((v) => ({ ...plain(v.key, v.value), public: false }));
  return { ...planned.jobSpec, variables: [...vars.slice(0, at), ...added, ...vars.slice(at)] };
}
