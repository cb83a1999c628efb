/**
 * `runner exec`: run a planned pipeline (see `pipeline/`) locally. The project
 * directory is read through `LocalProjectFiles`; each `PlannedJob.jobSpec` goes
 * to an executor process, stage by stage, with a local artifacts server between
 * jobs.
 */
export { LocalProjectFiles, readGitState } from "./local_project.ts";
export { parseCacheFile } from "./parse_cache_file.ts";
