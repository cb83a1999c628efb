/** config/: config.toml -> validated GlobalConfig; save it; watch it; side files. */
export type * from "./runner_config.ts";
export {
  CONFIG_KEYS,
  CONFIG_SECTIONS,
  type KeySpec,
  type KeyType,
  type Priority,
  type SectionSpec,
} from "./schema.ts";
export {
  ConfigError,
  type ConfigProblem,
  type ConfigWarning,
  type ConfigWarningKind,
  formatConfigProblem,
} from "./config_error.ts";
export { type LoadedConfig, parseConfig, type ParseConfigOptions } from "./parse_config.ts";
export { loadConfigFile, type LoadConfigOptions, type LoadedConfigFile } from "./load_config.ts";
export {
  defaultConfig,
  defaultDockerServiceConfig,
  defaultRunnerConfig,
  isContainerExecutor,
  isDockerExecutor,
} from "./default_config.ts";
export { encodeConfig } from "./encode_config.ts";
export { saveConfig } from "./save_config.ts";
export { formatGoDuration, parseGoDuration } from "./go_duration.ts";
export { expandEnv } from "./env_expansion.ts";
export { shortToken } from "./short_token.ts";
export { MASKED, maskSecrets } from "./mask_secrets.ts";
export { describeConfigChanges } from "./config_diff.ts";
export { ConfigWatcher, type ConfigWatcherOptions, type ReloadOutcome } from "./config_watcher.ts";
export {
  isValidSystemId,
  loadOrCreateSystemId,
  SYSTEM_ID_FILE,
  type SystemIdOptions,
  type SystemIdResult,
} from "./system_id.ts";
export { defaultConfigPath, type DefaultConfigPathOptions } from "./default_paths.ts";
export { renderConfigDocs } from "./config_docs.ts";
export { isSupportedExecutor, SUPPORTED_EXECUTORS } from "./executor_names.ts";
