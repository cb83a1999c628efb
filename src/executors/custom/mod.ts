/** The custom executor: jobs run through driver programs (docs/executors/custom.md). */
export {
  BUILD_FAILURE_EXIT_CODE,
  CustomExecutor,
  type CustomExecutorOptions,
  type CustomStageScript,
  SYSTEM_FAILURE_EXIT_CODE,
} from "./custom_executor.ts";
export { type ConfigExecOutput, parseConfigExecOutput } from "./config_exec_output.ts";
export { type DriverCall, type DriverExit, runDriver } from "./driver_process.ts";
export { jobResponseJson, jobServicesJson } from "./job_response.ts";
