/** Runs a job on an executor: variables, stage order, timeouts, cancel, job log lines. */
export { type BuildCancel, type BuildResult, runBuild, type RunBuildOptions } from "./run_build.ts";
export type { BuildStageHook, BuildStageHooks, HookStage, StageContext } from "./stage_hooks.ts";
export { type Clock, systemClock } from "../time/clock.ts";
export { JobLog, stageDescription } from "./job_log.ts";
export { type JobTls, type RunnerVersion } from "./job_variables.ts";
export { FEATURE_FLAG_DEFAULTS, resolveFeatureFlags } from "./feature_flags.ts";
export { formatGoDuration, parseGoDuration } from "../time/go_duration.ts";
