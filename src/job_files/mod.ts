/**
 * Getting files in and out of a job: the artifact and cache stages as
 * BuildStageHooks, the GitLab artifact calls they make, and where the job's
 * files are for each executor (this host, a container, an SSH host).
 */

export { createJobFileHooks, type JobFileHooksOptions } from "./job_file_hooks.ts";
export {
  type ArtifactApi,
  configUploadDeadlines,
  JobArtifactTransfer,
  type UploadDeadlines,
} from "./artifact_transfer.ts";
export type { JobFiles, ScriptRunner, SourceSession, TargetSession } from "./job_files.ts";
export { LocalJobFiles } from "./local_job_files.ts";
export { ContainerJobFiles } from "./container_job_files.ts";
export type { ContainerStat, ContainerTarAccess } from "./container_tar_access.ts";
export { ContainerSnapshot } from "./container_snapshot.ts";
export { ContainerStagedTarget } from "./container_staged_target.ts";
export { ContainerCacheStore } from "./container_cache_store.ts";
export { RemoteCacheStore, type RemoteFileAccess, RemoteJobFiles } from "./remote_job_files.ts";
export { ScriptCommandRunner, type ScriptCommandRunnerOptions } from "./script_command_runner.ts";
export { UnavailableJobFiles } from "./unavailable_job_files.ts";
export {
  createRunnerCommandHooks,
  type RunnerCommandHooksOptions,
} from "./runner_command_hooks.ts";
