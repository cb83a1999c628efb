export { configSteps, DEFAULT_CONFIG_TOML } from "./default_config.ts";
export {
  DenoCommandRunner,
  DenoServiceFiles,
  homeOfUser,
  linuxInitSystem,
  pathClosedTo,
} from "./deno_service_io.ts";
export { LaunchdPlatform, launchdPlistPath, renderLaunchdPlist } from "./launchd_plist.ts";
export {
  DEFAULT_SERVICE_NAME,
  defineService,
  type LinuxInit,
  SERVICE_ACTIONS,
  SERVICE_DESCRIPTION,
  type ServiceAction,
  type ServiceDefinition,
  type ServiceFlags,
  type ServiceHost,
  type ServiceKind,
} from "./service_definition.ts";
export { ServiceError } from "./service_error.ts";
export {
  type CommandRunner,
  planServiceAction,
  type ServiceFiles,
  ServiceManager,
  servicePlatform,
  type ServiceStatus,
} from "./service_manager.ts";
export type {
  CommandResult,
  RunStep,
  ServicePlatform,
  ServiceState,
  ServiceStep,
} from "./service_plan.ts";
export { renderSystemdUnit, SystemdPlatform, systemdUnitPath } from "./systemd_unit.ts";
export { quoteWindowsArg, windowsCommandLine, WindowsPlatform } from "./windows_service.ts";
export {
  renderSysvInitScript,
  SYSV_STOP_TIMEOUT_SECONDS,
  sysvInitScriptPath,
  SysvPlatform,
} from "./sysv_init_script.ts";
