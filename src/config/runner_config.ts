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
  /** Seconds; 0 or less: connections to GitLab are kept as long as they serve. */
  connectionMaxAge: number;
  user: string;
  labels: Record<string, string>;
  sessionServer: SessionServerConfig;
  runners: RunnerConfig[];
  /** See {@link UnsupportedValues}. */
  unsupported: UnsupportedValues;
}

/** `[session_server]`: the web terminal. */
export interface SessionServerConfig {
  /** `host:port`; "" = no session server. */
  listenAddress: string;
  /** "" = the listen address. */
  advertiseAddress: string;
  /** Seconds a connected terminal keeps a finished job open. */
  sessionTimeout: number;
}

/**
 * Raw TOML values of keys we accept but do not model (P3 keys, unimplemented P2
 * sections such as [runners.kubernetes], unknown keys), by dotted official path
 * relative to the owning table ("kubernetes", "docker.mac_address"). Kept only so
 * that saving the file does not drop them; nothing outside config/ reads them.
 */
export type UnsupportedValues = Record<string, unknown>;

/**
 * How [[runners]] url/token were written when they referenced $VARs: `template` is
 * the file text, `value` what it expanded to at load. Saving writes the template
 * back while the field still holds `value`. null when the file held a literal.
 */
export interface EnvExpansion {
  template: string;
  value: string;
}

/** [runners.artifact]: deadlines of artifact uploads, in seconds; 0 or less = none. */
export interface RunnerArtifactConfig {
  uploadTimeout: number;
  responseHeaderTimeout: number;
}

export interface RunnerCacheConfig {
  type: string;
  path: string;
  shared: boolean;
  /** Bytes; 0 = no limit. */
  maxUploadedArchiveSize: number;
  s3: S3CacheConfig;
  gcs: GcsCacheConfig;
  azure: AzureCacheConfig;
}

/** [runners.cache.azure]; "" = not set. */
export interface AzureCacheConfig {
  accountName: string;
  accountKey: string;
  containerName: string;
  /** blob.core.windows.net unless set. */
  storageDomain: string;
}

/** [runners.cache.gcs]; "" = not set. */
export interface GcsCacheConfig {
  /** Service-account JSON key file; wins over accessId/privateKey. */
  credentialsFile: string;
  accessId: string;
  privateKey: string;
  bucketName: string;
  universeDomain: string;
}

/** [runners.cache.s3]; "" = not set. */
export interface S3CacheConfig {
  serverAddress: string;
  accessKey: string;
  secretKey: string;
  sessionToken: string;
  bucketName: string;
  bucketLocation: string;
  insecure: boolean;
  /** "" = access-key when AccessKey and SecretKey are set, else iam. */
  authenticationType: string;
  serverSideEncryption: string;
  serverSideEncryptionKeyId: string;
  dualStack: boolean;
  /** null = detect from the server address. */
  pathStyle: boolean | null;
  accelerate: boolean;
  /** AssumeRole for every transfer; "" = sign with the credentials above. */
  roleArn: string;
  /** Deprecated: AssumeRole for uploads only (RoleARN wins). */
  uploadRoleArn: string;
  /** Parallel AssumeRole calls; 0 = 5, -1 = unlimited. */
  assumeRoleMaxConcurrency: number;
  disableAssumeRoleCredentialsCaching: boolean;
}

/** One [[runners.docker.services]] entry. */
export interface DockerServiceConfig {
  name: string;
  alias: string;
  entrypoint: string[];
  command: string[];
  /** `KEY=value` entries. */
  environment: string[];
  unsupported: UnsupportedValues;
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
  /** Seconds; -1 = do not wait. */
  waitForServicesTimeout: number;
  allowedImages: string[];
  allowedServices: string[];
  /** Filled with pullPolicy when the file does not set it. */
  allowedPullPolicies: string[];
  /** Never empty: ["always"] by default. */
  pullPolicy: string[];
  /** Bytes; 0 = daemon default. */
  shmSize: number;
  tmpfs: Record<string, string>;
  servicesTmpfs: Record<string, string>;
  /** "" = the built-in helper image. */
  helperImage: string;
  runtime: string;
  cgroupParent: string;
  cpusetMems: string;
  /** null = same as privileged. */
  servicesPrivileged: boolean | null;
  usernsMode: string;
  oomScoreAdjust: number;
  servicesSecurityOpt: string[];
  deviceCgroupRules: string[];
  gpus: string;
  /** Image glob -> devices. */
  servicesDevices: Record<string, string[]>;
  volumeKeep: boolean;
  volumeDriver: string;
  volumeDriverOps: Record<string, string>;
  volumesFrom: string[];
  pidMode: string;
  ipcmode: string;
  links: string[];
  services: DockerServiceConfig[];
  /** -1 = unlimited. */
  servicesLimit: number;
  serviceMemory: string;
  serviceMemorySwap: string;
  serviceMemoryReservation: string;
  serviceCgroupParent: string;
  serviceCpusetCpus: string;
  serviceCpus: string;
  serviceCpuShares: number;
  serviceGpus: string;
  allowedPrivilegedImages: string[];
  allowedPrivilegedServices: string[];
  sysctls: Record<string, string>;
  /** name -> "soft[:hard]". */
  ulimit: Record<string, string>;
  helperImageFlavor: string;
  containerLabels: Record<string, string>;
  enableIpv6: boolean;
  networkMtu: number;
  logOptions: Record<string, string>;
}

export interface SshConfig {
  host: string;
  /** A string in TOML; "22" by default. */
  port: string;
  user: string;
  password: string;
  identityFile: string;
  disableStrictHostKeyChecking: boolean;
  /** "" = ~/.ssh/known_hosts. */
  knownHostsFile: string;
}

/** [runners.custom]; timeouts in seconds. */
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
  /** Client certificate and key (PEM files) for mutual TLS; both or neither are used. */
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
  artifact: RunnerArtifactConfig;
  cache: RunnerCacheConfig;
  docker: DockerConfig;
  ssh: SshConfig;
  custom: CustomConfig;
  /** See {@link EnvExpansion}; url/token hold the expanded values. */
  envExpansion: { url: EnvExpansion | null; token: EnvExpansion | null };
  /**
   * The global `labels` overlaid with this entry's `labels` (the entry wins), as
   * the official runner sends them to GitLab. Filled at load; never saved.
   */
  combinedLabels: Record<string, string>;
  /** See {@link UnsupportedValues}. */
  unsupported: UnsupportedValues;
}
