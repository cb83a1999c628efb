/**
 * Extension points for the stages another module implements: cache restore
 * and archive, artifact download and upload. runBuild calls them in the
 * official order (spec/gitlab-runner-api.md §8.2):
 *
 *   get_sources → restore_cache → download_artifacts → step_* → after_script
 *   → archive_cache | archive_cache_on_failure
 *   → upload_artifacts_on_success | upload_artifacts_on_failure
 *   → cleanup_file_variables
 *
 * A hook whose `isNeeded` says false is skipped silently (no section, no
 * headline). `run` fails the stage by throwing; a `JobFailedError` keeps its
 * reason, anything else is a runner_system_failure. restore_cache and
 * download_artifacts are retried per RESTORE_CACHE_ATTEMPTS and
 * ARTIFACT_DOWNLOAD_ATTEMPTS; their failure skips the user's script. A
 * failing archive or upload stage fails an otherwise successful job.
 */
import type { Executor } from "../executors/executor.ts";
import type { JobSpec, JobVariable } from "../job/job_spec.ts";
import type { JobLog } from "./job_log.ts";

export type HookStage =
  | "restore_cache"
  | "download_artifacts"
  | "archive_cache"
  | "archive_cache_on_failure"
  | "upload_artifacts_on_success"
  | "upload_artifacts_on_failure";

export interface StageContext {
  readonly stage: HookStage;
  readonly job: JobSpec;
  /** The job's final variables, expanded (file variables hold their contents). */
  readonly variables: readonly JobVariable[];
  /** CI_BUILDS_DIR. */
  readonly buildsDir: string;
  /** CI_PROJECT_DIR. */
  readonly projectDir: string;
  /** The executor's cache_dir (the cache archive is `<cacheDir>/<project path>/<key>/cache.zip`). */
  readonly cacheDir: string;
  /** `<namespace>/<project>` (or `project-<id>`) as used in the cache and build paths. */
  readonly projectPath: string;
  /** RUNNER_TEMP_PROJECT_DIR. */
  readonly tmpDir: string;
  readonly executor: Executor;
  /** For the stage's own lines in the job log (notices, warnings). */
  readonly log: JobLog;
  /** Aborts on job timeout or cancel. */
  readonly signal: AbortSignal;
  /**
   * Runs shell lines where the job runs, with the job's variables exported and
   * the project dir as working directory; resolves with the exit code.
   */
  runScript(lines: readonly string[]): Promise<number>;
}

export interface BuildStageHook {
  isNeeded(context: StageContext): boolean;
  run(context: StageContext): Promise<void>;
}

export type BuildStageHooks = Partial<Record<HookStage, BuildStageHook>>;
