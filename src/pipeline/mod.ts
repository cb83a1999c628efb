/**
 * The `.gitlab-ci.yml` model: read the file and its includes, validate it,
 * resolve `extends` and `!reference`, evaluate rules and plan the pipeline into
 * job payloads (`PlannedJob.jobSpec`). Pure apart from the `ProjectFiles` it is
 * given; running the plan is `exec/`'s business.
 */
export {
  CiConfigError,
  type CiWarning,
  formatWarning,
  type SourceLocation,
} from "./ci_config_error.ts";
export { type CiYamlParse, parseCiYamlLazily } from "./ci_yaml_parse.ts";
export { CiYamlParseCache, type ParseCacheStore } from "./ci_yaml_parse_cache.ts";
export { extractCoverage } from "./coverage.ts";
export { type ExecVariable, parseVariableArgument } from "./exec_variable.ts";
export { decodeCiText } from "./utf8_text.ts";
export { type GitState, ZERO_SHA } from "./git_state.ts";
export { withDotenvVariables } from "./job_spec_builder.ts";
export { loadPipeline, type LoadPipelineOptions } from "./load_pipeline.ts";
export type { JobConfig, Pipeline } from "./pipeline.ts";
export {
  isReadingChanges,
  JobSelectionError,
  type Plan,
  type PlannedJob,
  type PlannedWhen,
  type PlanOptions,
  planPipeline,
  type SkippedJob,
  type WorkspacePlan,
} from "./pipeline_plan.ts";
export { renderPlanList } from "./plan_list.ts";
export type { ProjectFiles } from "./project_files.ts";
export { parseDotenv, parseVariablesFile } from "./variables_file.ts";
