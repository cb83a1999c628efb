/**
 * Turns `[runners.docker]` settings into Engine API HostConfig fields. Pure;
 * bad values are a runner_configuration_error naming the key and value.
 */
import { posix } from "node:path";
import type { DockerConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";

function configError(key: string, value: string, why: string): JobFailedError {
  return new JobFailedError(
    "runner_configuration_error",
    `Invalid [runners.docker] ${key} "${value}": ${why}`,
  );
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** Docker size syntax (`512m`, `1g`, `1024`); "" is 0 (no limit). */
export function parseSize(key: string, value: string): number {
  if (value.trim() === "") return 0;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) {
    throw configError(key, value, "expected a size such as 512m or 2g");
  }
  return Math.floor(Number(m[1]) * unit);
}

/** `cpus = "1.5"` -> NanoCpus. */
export function parseCpus(value: string): number {
  if (value.trim() === "") return 0;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw configError("cpus", value, "expected a positive number");
  return Math.round(n * 1e9);
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** `/dev/fuse`, `/dev/a:/dev/b`, `/dev/a:/dev/b:rw`. */
export function parseDevice(value: string): DeviceMapping {
  const parts = value.split(":");
  const host = parts[0] ?? "";
  if (host === "" || parts.length > 3) {
    throw configError("devices", value, "expected host[:container[:permissions]]");
  }
  return {
    PathOnHost: host,
    PathInContainer: parts[1] || host,
    CgroupPermissions: parts[2] || "rwm",
  };
}

export type VolumeSpec =
  /** `host:container[:mode]`: passed to Docker as a bind. */
  | { kind: "bind"; hostPath: string; containerPath: string; bind: string }
  /** `container`: a Runner-managed volume (cache volume, or temporary with disable_cache). */
  | { kind: "managed"; containerPath: string };

/** Docker `-v` syntax from `volumes`. */
export function parseVolume(value: string): VolumeSpec {
  const parts = value.split(":");
  const first = parts[0] ?? "";
  if (parts.length === 1) {
    if (!first.startsWith("/")) {
      throw configError("volumes", value, "a container path must be absolute");
    }
    return { kind: "managed", containerPath: posix.normalize(first) };
  }
  const container = parts[1] ?? "";
  if (first === "" || !container.startsWith("/") || parts.length > 3) {
    throw configError(
      "volumes",
      value,
      "expected /container/path or source:/container/path[:mode]",
    );
  }
  return {
    kind: "bind",
    hostPath: first,
    containerPath: posix.normalize(container),
    bind: value,
  };
}

/** Whether `inner` is `outer` or below it. */
export function isPathWithin(inner: string, outer: string): boolean {
  const a = posix.normalize(inner);
  const b = posix.normalize(outer).replace(/\/$/, "");
  return a === b || a.startsWith(`${b}/`) || b === "";
}

/**
 * The HostConfig fields shared by the build container (services get a subset:
 * no devices, no user binds of the build dir, their own tmpfs).
 */
export function buildHostConfig(config: DockerConfig): Record<string, unknown> {
  const host: Record<string, unknown> = {
    Privileged: config.privileged,
    CapAdd: config.capAdd,
    CapDrop: config.capDrop,
    SecurityOpt: config.securityOpt,
    Devices: config.devices.map(parseDevice),
    Dns: config.dns,
    DnsSearch: config.dnsSearch,
    ExtraHosts: config.extraHosts,
    GroupAdd: config.groupAdd,
    Tmpfs: config.tmpfs,
  };
  const memory = parseSize("memory", config.memory);
  if (memory > 0) {
    if (memory < 4 * 1024 * 1024) throw configError("memory", config.memory, "the minimum is 4m");
    host["Memory"] = memory;
  }
  const swap = parseSize("memory_swap", config.memorySwap);
  if (swap > 0) host["MemorySwap"] = swap;
  const reservation = parseSize("memory_reservation", config.memoryReservation);
  if (reservation > 0) host["MemoryReservation"] = reservation;
  const nanoCpus = parseCpus(config.cpus);
  if (nanoCpus > 0) host["NanoCpus"] = nanoCpus;
  if (config.cpusetCpus) host["CpusetCpus"] = config.cpusetCpus;
  if (config.cpuShares > 0) host["CpuShares"] = config.cpuShares;
  if (config.oomKillDisable) host["OomKillDisable"] = true;
  if (config.shmSize > 0) host["ShmSize"] = config.shmSize;
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
