/**
 * The validated config.toml, every default filled (spec/config-reference.md).
 * TOML keys keep the official spelling on disk; fields here are camelCase.
 * Code past `config/` never sees an optional field.
 */

export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal" | "panic";
export type LogFormat = "runner" | "text" | "json";

export interface GlobalConfig {
  concurrent: number;
  /** Seconds. */
  checkInterval: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** "" when the metrics server is off. */
  listenAddress: string;
  /** Seconds. */
  shutdownTimeout: number;
  user: string;
  labels: Record<string, string>;
  sessionServer: { listenAddress: string; advertiseAddress: string; sessionTimeout: number };
  runners: RunnerConfig[];
}

export interface RunnerCacheConfig {
  type: string;
  path: string;
  shared: boolean;
  maxUploadedArchiveSize: number;
}

export interface DockerConfig {
  host: string;
  tlsCertPath: string;
  tlsVerify: boolean;
  image: string;
  hostname: string;
  memory: string;
  memorySwap: string;
  memoryReservation: string;
  cpusetCpus: string;
  cpus: string;
  cpuShares: number;
  dns: string[];
  dnsSearch: string[];
  privileged: boolean;
  disableEntrypointOverwrite: boolean;
  user: string;
  allowedUsers: string[];
  groupAdd: string[];
  capAdd: string[];
  capDrop: string[];
  oomKillDisable: boolean;
  securityOpt: string[];
  devices: string[];
  disableCache: boolean;
  volumes: string[];
  cacheDir: string;
  extraHosts: string[];
  networkMode: string;
  waitForServicesTimeout: number;
  allowedImages: string[];
  allowedServices: string[];
  allowedPullPolicies: string[];
  pullPolicy: string[];
  shmSize: number;
  tmpfs: Record<string, string>;
  servicesTmpfs: Record<string, string>;
  helperImage: string;
}

export interface SshConfig {
  host: string;
  port: string;
  user: string;
  password: string;
  identityFile: string;
  disableStrictHostKeyChecking: boolean;
  knownHostsFile: string;
}

export interface CustomConfig {
  configExec: string;
  configArgs: string[];
  configExecTimeout: number;
  prepareExec: string;
  prepareArgs: string[];
  prepareExecTimeout: number;
  runExec: string;
  runArgs: string[];
  cleanupExec: string;
  cleanupArgs: string[];
  cleanupExecTimeout: number;
  gracefulKillTimeout: number;
  forceKillTimeout: number;
}

export interface RunnerConfig {
  name: string;
  url: string;
  id: number;
  token: string;
  /** RFC 3339; "0001-01-01T00:00:00Z" when unknown. */
  tokenObtainedAt: string;
  tokenExpiresAt: string;
  tlsCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  executor: string;
  /** "" = the executor's default shell. */
  shell: string;
  /** "" = the executor's default. */
  buildsDir: string;
  cacheDir: string;
  cloneUrl: string;
  /** `KEY=value` entries. */
  environment: string[];
  /** 0 = unlimited. */
  limit: number;
  requestConcurrency: number;
  strictCheckInterval: boolean;
  /** KiB. */
  outputLimit: number;
  unhealthyRequestsLimit: number;
  /** Seconds. */
  unhealthyInterval: number;
  jobStatusFinalUpdateRetryLimit: number;
  preGetSourcesScript: string;
  postGetSourcesScript: string;
  preBuildScript: string;
  postBuildScript: string;
  /** Seconds; 0 = the job timeout. */
  prepareTimeout: number;
  getSourcesTimeout: number;
  debugTraceDisabled: boolean;
  safeDirectoryCheckout: boolean;
  cleanGitConfig: boolean;
  customBuildDirEnabled: boolean;
  featureFlags: Record<string, boolean>;
  labels: Record<string, string>;
  cache: RunnerCacheConfig;
  docker: DockerConfig;
  ssh: SshConfig;
  custom: CustomConfig;
}
