/**
 * Turns `[runners.docker]` settings into Engine API HostConfig fields. Pure;
 * bad values are a runner_configuration_error naming the key and value.
 */
import { posix } from "node:path";
import picomatch from "picomatch";
import type { DockerConfig } from "../../config/runner_config.ts";
import {
  parseDockerVolume,
  parseDockerVolumes,
  type VolumeSpec,
  VolumeSyntaxError,
} from "../../config/docker_volumes.ts";
import {
  checkTmpfsMounts,
  type DeviceMapping,
  type DeviceRequest,
  DockerValueError,
  isIpAddress,
  MIN_MEMORY,
  parseDockerCpus,
  parseDockerDevice,
  parseDockerGpus,
  parseDockerSize,
  parseDockerUlimits,
} from "../../config/docker_values.ts";
import { JobFailedError } from "../../job/failure_reason.ts";

function configError(key: string, value: string, why: string): JobFailedError {
  return new JobFailedError(
    "runner_configuration_error",
    `Invalid [runners.docker] ${key} "${value}": ${why}`,
  );
}

/**
 * An integer limit Docker refuses below 0 (ShmSize, CpuShares): the official
 * runner passes it on and the job fails with Docker's error, so it fails here
 * too, naming the key, rather than run without the limit. 0 is Docker's default.
 */
function notNegative(key: string, value: number): number {
  if (value < 0) throw configError(key, String(value), "Docker refuses a value below 0");
  return value;
}

/** Docker size syntax (`512m`, `1g`, `1024`); "" is 0 (no limit). */
export function parseSize(key: string, value: string): number {
  try {
    return parseDockerSize(value);
  } catch (error) {
    throw configError(key, value, (error as RangeError).message);
  }
}

/**
 * `userns_mode`: "host" is the only mode a container can ask for (docker run --userns
 * refuses others: "invalid USER mode"); Docker's daemon takes any string and gives the
 * container nothing for it, so "hots" went unnoticed.
 */
function usernsMode(value: string): string {
  if (value !== "host") throw configError("userns_mode", value, 'expected "host" (or no value)');
  return value;
}

/** IPC modes Docker knows besides "container:<name>" (docker run --ipc). */
const IPC_MODES = ["none", "private", "shareable", "host"];

/**
 * `ipcmode` and `pid_mode` as docker run --ipc and --pid take them: one of
 * `modes` or "container:<name>". Docker's daemon took a pid_mode it does not
 * know and gave the container its own namespace without a word, and refused
 * an ipcmode only at start ("Invalid IPC mode"), a system failure retried by prepare.
 */
function namespaceMode(key: string, value: string, modes: readonly string[]): string {
  if (modes.includes(value) || /^container:.+/.test(value)) return value;
  throw configError(
    key,
    value,
    `expected ${modes.map((m) => `"${m}"`).join(", ")} or "container:<name>"`,
  );
}

/** `cpus = "1.5"` -> NanoCpus. */
export function parseCpus(key: string, value: string): number {
  try {
    return parseDockerCpus(value);
  } catch (error) {
    throw configError(key, value, (error as RangeError).message);
  }
}

/**
 * `dns` entries as the official runner reads them (netip.ParseAddr): each an IP
 * address. Docker takes any string, so "notanip" ran the job with a broken
 * resolv.conf; the official runner fails the job as a configuration error.
 */
export function dnsServers(dns: readonly string[]): string[] {
  for (const entry of dns) {
    if (!isIpAddress(entry)) {
      throw configError(
        "dns",
        entry,
        "expected an IP address (the official runner refuses any other)",
      );
    }
  }
  return [...dns];
}

export type { DeviceMapping, DeviceRequest };

/**
 * The `[runners.docker]` parsers of config/docker_values.ts, whose refusal
 * fails the job as a configuration error naming the key and value.
 */
function naming<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DockerValueError) throw configError(error.key, error.value, error.message);
    throw error;
  }
}

/** `tmpfs` / `services_tmpfs`, each mount point absolute. */
function tmpfsMounts(key: string, tmpfs: Record<string, string>): Record<string, string> {
  return naming(() => checkTmpfsMounts(key, tmpfs));
}

/** `/dev/fuse`, `/dev/a:/dev/b`, `/dev/a:/dev/b:rw`. */
export function parseDevice(value: string, key = "devices"): DeviceMapping {
  return naming(() => parseDockerDevice(value, key));
}

/** `ulimit = { nofile = "1024:2048" }` -> Engine Ulimits. */
export function parseUlimits(
  ulimit: Record<string, string>,
): ReturnType<typeof parseDockerUlimits> {
  return naming(() => parseDockerUlimits(ulimit));
}

/** `gpus` / `service_gpus` in docker CLI `--gpus` syntax. */
export function parseGpus(key: string, value: string): DeviceRequest[] {
  return naming(() => parseDockerGpus(key, value));
}

export type { VolumeSpec };

/**
 * Docker `-v` syntax from `volumes` (config/docker_volumes.ts): a spec the
 * official parser refuses fails the job naming the key.
 */
export function parseVolume(value: string): VolumeSpec {
  return namingVolumes(() => parseDockerVolume(value));
}

/** Every `volumes` entry; a second volume for one container path, or one at "/", fails too. */
export function parseVolumes(values: readonly string[]): VolumeSpec[] {
  return namingVolumes(() => parseDockerVolumes(values));
}

function namingVolumes<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof VolumeSyntaxError) {
      throw configError("volumes", error.value, error.message);
    }
    throw error;
  }
}

/** Whether `inner` is `outer` or below it. */
export function isPathWithin(inner: string, outer: string): boolean {
  const a = posix.normalize(inner);
  const b = posix.normalize(outer).replace(/\/$/, "");
  return a === b || a.startsWith(`${b}/`) || b === "";
}

const ALLOWED_LOG_OPTIONS = ["env", "labels"];

/** json-file with `log_options`; like the official runner only env and labels are allowed. */
export function logConfig(config: DockerConfig): { Type: string; Config: Record<string, string> } {
  const invalid = Object.keys(config.logOptions).filter((k) => !ALLOWED_LOG_OPTIONS.includes(k))
    .sort();
  if (invalid.length > 0) {
    throw new JobFailedError(
      "runner_configuration_error",
      `Invalid [runners.docker] log_options: only "env" and "labels" are allowed, found ${
        invalid.map((k) => `"${k}"`).join(", ")
      }`,
    );
  }
  return { Type: "json-file", Config: { ...config.logOptions } };
}

/**
 * Whether `image` may run privileged under an allow-list (`allowed_privileged_images`
 * or `allowed_privileged_services`): doublestar globs, empty list = every image.
 */
export function isPrivilegeAllowed(image: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((pattern) => picomatch.isMatch(image, pattern, { dot: true }));
}

export interface HostConfigOptions {
  /** The build container gets `pid_mode`; the helper does not (as the official runner). */
  isBuild: boolean;
  /** Image name checked against `allowed_privileged_images`. */
  image: string;
}

/**
 * HostConfig of the build and helper containers from `[runners.docker]`
 * (services: serviceHostConfig). `privileged` holds only for images on
 * `allowed_privileged_images` (empty list = all).
 */
export function buildHostConfig(
  config: DockerConfig,
  options: HostConfigOptions = { isBuild: true, image: "" },
): Record<string, unknown> {
  const host: Record<string, unknown> = {
    Privileged: config.privileged &&
      isPrivilegeAllowed(options.image, config.allowedPrivilegedImages),
    CapAdd: config.capAdd,
    CapDrop: config.capDrop,
    SecurityOpt: config.securityOpt,
    Devices: config.devices.map((d) => parseDevice(d)),
    Dns: dnsServers(config.dns),
    DnsSearch: config.dnsSearch,
    ExtraHosts: config.extraHosts,
    GroupAdd: config.groupAdd,
    Tmpfs: tmpfsMounts("tmpfs", config.tmpfs),
    Sysctls: config.sysctls,
    Ulimits: parseUlimits(config.ulimit),
    DeviceCgroupRules: config.deviceCgroupRules,
    DeviceRequests: parseGpus("gpus", config.gpus),
    Links: config.links,
    VolumesFrom: config.volumesFrom,
    LogConfig: logConfig(config),
  };
  if (config.runtime) host["Runtime"] = config.runtime;
  if (config.usernsMode) host["UsernsMode"] = usernsMode(config.usernsMode);
  if (config.ipcmode) host["IpcMode"] = namespaceMode("ipcmode", config.ipcmode, IPC_MODES);
  if (options.isBuild && config.pidMode) {
    host["PidMode"] = namespaceMode("pid_mode", config.pidMode, ["host"]);
  }
  if (config.cgroupParent) host["CgroupParent"] = config.cgroupParent;
  if (config.cpusetMems) host["CpusetMems"] = config.cpusetMems;
  if (config.oomScoreAdjust !== 0) host["OomScoreAdj"] = config.oomScoreAdjust;
  if (config.volumeDriver) host["VolumeDriver"] = config.volumeDriver;
  const memory = parseSize("memory", config.memory);
  if (memory > 0) {
    if (memory < MIN_MEMORY) throw configError("memory", config.memory, "the minimum is 4m");
    host["Memory"] = memory;
  }
  const swap = parseSize("memory_swap", config.memorySwap);
  if (swap > 0) host["MemorySwap"] = swap;
  const reservation = parseSize("memory_reservation", config.memoryReservation);
  if (reservation > 0) host["MemoryReservation"] = reservation;
  const nanoCpus = parseCpus("cpus", config.cpus);
  if (nanoCpus > 0) host["NanoCpus"] = nanoCpus;
  if (config.cpusetCpus) host["CpusetCpus"] = config.cpusetCpus;
  if (notNegative("cpu_shares", config.cpuShares) > 0) host["CpuShares"] = config.cpuShares;
  if (config.oomKillDisable) host["OomKillDisable"] = true;
  if (notNegative("shm_size", config.shmSize) > 0) host["ShmSize"] = config.shmSize;
  return host;
}

/**
 * HostConfig of a service container, as the official runner builds it: the
 * `service_*` limits, `services_devices` whose image glob matches,
 * `service_gpus`, `services_security_opt`, `services_tmpfs`, and privileged
 * from `services_privileged` (else `privileged`) for images on
 * `allowed_privileged_services`.
 */
export function serviceHostConfig(config: DockerConfig, image: string): Record<string, unknown> {
  const privileged = (config.servicesPrivileged ?? config.privileged) &&
    isPrivilegeAllowed(image, config.allowedPrivilegedServices);
  const devices = Object.entries(config.servicesDevices)
    .filter(([glob]) => picomatch.isMatch(image, glob, { dot: true }))
    .flatMap(([, list]) => list.map((d) => parseDevice(d, "services_devices")));
  const host: Record<string, unknown> = {
    Privileged: privileged,
    SecurityOpt: config.servicesSecurityOpt,
    Devices: devices,
    DeviceRequests: parseGpus("service_gpus", config.serviceGpus),
    Dns: dnsServers(config.dns),
    DnsSearch: config.dnsSearch,
    ExtraHosts: config.extraHosts,
    Tmpfs: tmpfsMounts("services_tmpfs", config.servicesTmpfs),
    LogConfig: logConfig(config),
  };
  if (config.runtime) host["Runtime"] = config.runtime;
  if (config.usernsMode) host["UsernsMode"] = usernsMode(config.usernsMode);
  if (notNegative("shm_size", config.shmSize) > 0) host["ShmSize"] = config.shmSize;
  if (config.serviceCgroupParent) host["CgroupParent"] = config.serviceCgroupParent;
  if (config.serviceCpusetCpus) host["CpusetCpus"] = config.serviceCpusetCpus;
  if (notNegative("service_cpu_shares", config.serviceCpuShares) > 0) {
    host["CpuShares"] = config.serviceCpuShares;
  }
  const nanoCpus = parseCpus("service_cpus", config.serviceCpus);
  if (nanoCpus > 0) host["NanoCpus"] = nanoCpus;
  const memory = parseSize("service_memory", config.serviceMemory);
  if (memory > 0) {
    if (memory < MIN_MEMORY) {
      throw configError("service_memory", config.serviceMemory, "the minimum is 4m");
    }
    host["Memory"] = memory;
  }
  const swap = parseSize("service_memory_swap", config.serviceMemorySwap);
  if (swap > 0) host["MemorySwap"] = swap;
  const reservation = parseSize("service_memory_reservation", config.serviceMemoryReservation);
  if (reservation > 0) host["MemoryReservation"] = reservation;
  return host;
}

/**
 * The user stage scripts run as: the job's `image:docker:user` when allowed,
 * else `[runners.docker] user`; "" is the image's default.
 */
export function resolveUser(config: DockerConfig, jobUser: string): string {
  if (jobUser === "") return config.user;
  const allowed = config.allowedUsers.length > 0
    ? config.allowedUsers
    : config.user !== ""
    ? [config.user]
    : null;
  if (allowed && !allowed.includes(jobUser)) {
    throw new JobFailedError(
      "runner_configuration_error",
      `The user "${jobUser}" requested by the job is not in allowed_users ([${allowed.join(" ")}])`,
    );
  }
  return jobUser;
}
