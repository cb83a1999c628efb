/**
 * The syntax of `[runners.docker]` values that fail every job when wrong:
 * sizes, CPU counts, pull policies. The docker executor turns them into
 * Engine API fields (executors/docker/host_config.ts, image_policy.ts) and
 * config loading checks them, so a typo is named at load and by lint, not only
 * in each job's log. Pure and without `node:` imports: the poller loads it.
 */
import type { DockerConfig } from "./runner_config.ts";
import { ipVersion } from "./ssh_address.ts";
import { parseDockerVolume, parseDockerVolumes, VolumeSyntaxError } from "./docker_volumes.ts";

export const PULL_POLICIES: readonly string[] = ["always", "if-not-present", "never"];

/** A pull policy as the executor reads it: case and surrounding blanks do not matter. */
export function isPullPolicy(value: string): boolean {
  return PULL_POLICIES.includes(value.trim().toLowerCase());
}

/**
 * Units as Docker's RAMInBytes (which the official runner uses) reads them: a
 * binary prefix, then an optional "i", then an optional "b" ("512MiB" too).
 */
const SIZE_UNITS: Record<string, number> = Object.fromEntries([
  ["", 1],
  ["b", 1],
  ...["k", "m", "g", "t", "p"].flatMap((prefix, i) =>
    ["", "b", "i", "ib"].map((tail) => [prefix + tail, 1024 ** (i + 1)])
  ),
]);

/** Docker's smallest memory limit (4m): below it the daemon refuses the container. */
export const MIN_MEMORY = 4 * 1024 * 1024;

/**
 * Docker size syntax (`512m`, `1g`, `1024`) -> bytes; "" is 0 (no limit).
 * Throws a RangeError saying what is wrong with `value`.
 */
export function parseDockerSize(value: string): number {
  if (value.trim() === "") return 0;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) throw new RangeError("expected a size such as 512m or 2g");
  const bytes = Math.floor(Number(m[1]) * unit);
  // Docker's daemon refused the JSON of a larger one (1.1e+26), naming no key.
  if (!Number.isSafeInteger(bytes)) {
    throw new RangeError(`too large: at most ${Number.MAX_SAFE_INTEGER} bytes`);
  }
  return bytes;
}

function sizeOrNull(value: string): number | null {
  try {
    return parseDockerSize(value);
  } catch {
    return null;
  }
}

/** `cpus = "1.5"` -> NanoCpus; "" is 0 (no limit). Throws a RangeError saying what is wrong. */
export function parseDockerCpus(value: string): number {
  if (value.trim() === "") return 0;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError("expected a positive number");
  // The kernel's smallest CFS quota is 1 ms per Docker's 100 ms period: below 0.01 the
  // container failed at start ('failed to write "100": …cpu.cfs_quota_us: invalid argument'),
  // a system failure retried by prepare. Docker's own range message starts at 0.01.
  if (n < 0.01) throw new RangeError("the minimum is 0.01 (Docker's range)");
  const nanoCpus = Math.round(n * 1e9);
  if (!Number.isSafeInteger(nanoCpus)) throw new RangeError("too large: at most 9007199 CPUs");
  return nanoCpus;
}

/**
 * Whether `value` is an IP address, as the official runner reads `dns`
 * entries (netip.ParseAddr: an IPv6 zone such as `%eth0` included).
 */
export function isIpAddress(value: string): boolean {
  const zone = value.indexOf("%");
  if (zone < 0) return ipVersion(value) !== 0;
  return zone < value.length - 1 && ipVersion(value.slice(0, zone)) === 6;
}

/** A `[runners.docker]` value every job would refuse: its key, index in a list, and why. */
/**
 * Whether a HEALTHCHECK_TCP_PORT value names a TCP port; "" (set empty) names
 * none and is no problem. The official runner fails the job on any other
 * value (ParseInt), and so does ours, naming it.
 */
export function isHealthCheckPort(value: string): boolean {
  const text = value.trim();
  if (text === "") return true;
  return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
}

export interface DockerValueProblem {
  key: string;
  index?: number;
  /** A table key below `key`: the ulimit name, the tmpfs mount point. */
  subkey?: string;
  /** Not shown when the subkey says it (a tmpfs mount point). */
  value?: string | number | readonly string[];
  /**
   * Which jobs fail, when not all: "that sets no pull_policy of its own"; "" for
   * every job. Absent: every job, or every job that has services for a service_ key.
   */
  jobs?: string;
  why: string;
}

/**
 * The values of `config` with which every job fails, each as the executor
 * names it. `hasServices`: whether the executor starts services and mounts
 * volumes (docker+ssh does neither, so it never reads the service_* limits or
 * `volumes`); `isPullPolicySet`: whether
 * the file sets pull_policy (else its default, always, is named by what refuses it).
 */
export function dockerValueProblems(
  config: DockerConfig,
  options: { hasServices: boolean; isPullPolicySet: boolean },
): DockerValueProblem[] {
  const problems: DockerValueProblem[] = [];
  const policies = (key: string, values: readonly string[]) =>
    values.forEach((value, index) => {
      if (!isPullPolicy(value)) {
        problems.push({ key, index, value, why: "expected always, if-not-present or never" });
      }
    });
  policies("pull_policy", config.pullPolicy);
  policies("allowed_pull_policies", config.allowedPullPolicies);
  // As the executor resolves them: the runner's own policies must be allowed too.
  const normal = (values: readonly string[]) => values.map((v) => v.trim().toLowerCase());
  const own = config.pullPolicy.length > 0 ? normal(config.pullPolicy) : ["always"];
  const allowed = normal(config.allowedPullPolicies);
  const refused = own.filter((p) => isPullPolicy(p) && allowed.length > 0 && !allowed.includes(p));
  if (refused.length > 0 && allowed.every(isPullPolicy)) {
    const jobs = "that sets no pull_policy of its own";
    problems.push(
      options.isPullPolicySet
        ? {
          key: "pull_policy",
          value: [...config.pullPolicy],
          why: `not one of the allowed_pull_policies (${allowed.join(", ")})`,
          jobs,
        }
        : {
          key: "allowed_pull_policies",
          value: [...config.allowedPullPolicies],
          why: 'it leaves out "always", the pull_policy of a runner that sets none',
          jobs,
        },
    );
  }
  const sizes: [string, string, boolean][] = [
    ["memory", config.memory, true],
    ["memory_swap", config.memorySwap, false],
    ["memory_reservation", config.memoryReservation, false],
  ];
  const cpus: [string, string][] = [["cpus", config.cpus]];
  const counts: [string, number][] = [["shm_size", config.shmSize], [
    "cpu_shares",
    config.cpuShares,
  ]];
  if (options.hasServices) {
    sizes.push(
      ["service_memory", config.serviceMemory, true],
      ["service_memory_swap", config.serviceMemorySwap, false],
      ["service_memory_reservation", config.serviceMemoryReservation, false],
    );
    cpus.push(["service_cpus", config.serviceCpus]);
    counts.push(["service_cpu_shares", config.serviceCpuShares]);
  }
  for (const [key, value, hasMinimum] of sizes) {
    try {
      const bytes = parseDockerSize(value);
      if (hasMinimum && bytes > 0 && bytes < MIN_MEMORY) {
        problems.push({ key, value, why: "the minimum is 4m" });
      }
    } catch (error) {
      problems.push({ key, value, why: (error as RangeError).message });
    }
  }
  // Docker refuses a swap limit without a memory limit, or below it.
  const swapPairs: [string, string, string, string][] = [
    ["memory_swap", config.memorySwap, "memory", config.memory],
  ];
  if (options.hasServices) {
    swapPairs.push([
      "service_memory_swap",
      config.serviceMemorySwap,
      "service_memory",
      config.serviceMemory,
    ]);
  }
  for (const [key, value, memoryKey, memoryValue] of swapPairs) {
    const swap = sizeOrNull(value);
    const memory = sizeOrNull(memoryValue);
    if (swap === null || memory === null || swap <= 0) continue;
    if (memory === 0) {
      problems.push({ key, value, why: `Docker needs ${memoryKey} set with a swap limit` });
    } else if (swap < memory) {
      problems.push({ key, value, why: `Docker needs it at least ${memoryKey} (memory + swap)` });
    }
  }
  const oom = config.oomScoreAdjust;
  if (oom < -1000 || oom > 1000) {
    problems.push({ key: "oom_score_adjust", value: oom, why: "Docker's range is -1000 to 1000" });
  }
  for (const [key, value] of cpus) {
    try {
      parseDockerCpus(value);
    } catch (error) {
      problems.push({ key, value, why: (error as RangeError).message });
    }
  }
  for (const [key, value] of counts) {
    if (value < 0) {
      problems.push({ key, value, why: "Docker refuses a value below 0" });
    }
  }
  // Each entry's syntax, then (all valid) what the list as a whole may not hold.
  const volumeProblem = (parse: () => unknown, index: (value: string) => number) => {
    try {
      parse();
      return false;
    } catch (error) {
      if (!(error instanceof VolumeSyntaxError)) throw error;
      problems.push({
        key: "volumes",
        index: index(error.value),
        value: error.value,
        why: error.message,
      });
      return true;
    }
  };
  const volumes = options.hasServices ? config.volumes : [];
  const bad = volumes.filter((value, i) => volumeProblem(() => parseDockerVolume(value), () => i));
  if (bad.length === 0) {
    volumeProblem(() => parseDockerVolumes(volumes), (v) => volumes.lastIndexOf(v));
  }
  const check = (parse: () => unknown, problem: Omit<DockerValueProblem, "why">) => {
    try {
      parse();
    } catch (error) {
      if (!(error instanceof DockerValueError)) throw error;
      problems.push({ ...problem, why: error.message });
    }
  };
  config.devices.forEach((value, index) =>
    check(() => parseDockerDevice(value), { key: "devices", index, value })
  );
  for (const [name, value] of Object.entries(config.ulimit)) {
    check(() => parseDockerUlimits({ [name]: value }), { key: "ulimit", subkey: name, value });
  }
  const gpus: [string, string][] = [["gpus", config.gpus]];
  const tmpfs: [string, Record<string, string>][] = [["tmpfs", config.tmpfs]];
  if (options.hasServices) {
    gpus.push(["service_gpus", config.serviceGpus]);
    tmpfs.push(["services_tmpfs", config.servicesTmpfs]);
  }
  for (const [key, value] of gpus) check(() => parseDockerGpus(key, value), { key, value });
  for (const [key, mounts] of tmpfs) {
    for (const [path, value] of Object.entries(mounts)) {
      check(() => checkTmpfsMounts(key, { [path]: value }), { key, subkey: path });
    }
  }
  config.dns.forEach((value, index) => {
    if (!isIpAddress(value)) {
      problems.push({
        key: "dns",
        index,
        value,
        why: "expected an IP address (the official runner refuses any other)",
      });
    }
  });
  if (options.hasServices && config.servicesLimit >= 0) {
    // As the executor counts: the runner's services and the job's together.
    if (config.services.length > config.servicesLimit) {
      problems.push({
        key: "services_limit",
        value: config.servicesLimit,
        why: `[[runners.docker.services]] alone starts ${config.services.length}`,
        jobs: "",
      });
    }
  }
  if (options.hasServices) {
    config.services.forEach((service, index) => {
      // Checked as written: a $VAR name that expands to "" fails only the job it does.
      if (service.name.trim() === "") {
        problems.push({
          key: "services",
          index,
          subkey: "name",
          value: service.name,
          why: "a service needs an image name",
        });
      }
      for (const entry of service.environment) {
        const eq = entry.indexOf("=");
        if (eq <= 0 || entry.slice(0, eq).toUpperCase() !== "HEALTHCHECK_TCP_PORT") continue;
        if (entry.includes("$") || isHealthCheckPort(entry.slice(eq + 1))) continue;
        problems.push({
          key: "services",
          index,
          subkey: "environment",
          value: entry,
          why: "HEALTHCHECK_TCP_PORT must be a TCP port number from 1 to 65535",
        });
      }
    });
  }
  if (config.usernsMode !== "" && config.usernsMode !== "host") {
    problems.push({
      key: "userns_mode",
      value: config.usernsMode,
      why: 'expected "host" (or no value)',
    });
  }
  return problems;
}

/** A `[runners.docker]` value the parsers below refuse: its key (`ulimit.nofile`), value and why. */
export class DockerValueError extends RangeError {
  override readonly name = "DockerValueError";
  constructor(readonly key: string, readonly value: string, why: string) {
    super(why);
  }
}

/**
 * `tmpfs` / `services_tmpfs` as given to Docker, each mount point absolute:
 * Docker refused another at create ("invalid mount path"), naming no key.
 */
export function checkTmpfsMounts(
  key: string,
  tmpfs: Record<string, string>,
): Record<string, string> {
  for (const path of Object.keys(tmpfs)) {
    if (!path.startsWith("/")) {
      throw new DockerValueError(key, path, "a mount point must be an absolute path");
    }
  }
  return tmpfs;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** `/dev/fuse`, `/dev/a:/dev/b`, `/dev/a:/dev/b:rw`. */
export function parseDockerDevice(value: string, key = "devices"): DeviceMapping {
  const parts = value.split(":");
  const host = parts[0] ?? "";
  if (host === "" || parts.length > 3) {
    throw new DockerValueError(key, value, "expected host[:container[:permissions]]");
  }
  const permissions = parts[2] || "rwm";
  // As docker run --device: Docker's daemon takes any letters ("rwz", "x") and
  // starts the container, the unknown ones meaning nothing.
  if (!/^[rwm]+$/.test(permissions) || new Set(permissions).size !== permissions.length) {
    throw new DockerValueError(
      key,
      value,
      "the permissions may hold r, w and m, each once (as docker run --device)",
    );
  }
  return { PathOnHost: host, PathInContainer: parts[1] || host, CgroupPermissions: permissions };
}

/** `ulimit = { nofile = "1024:2048" }` -> Engine Ulimits; a bare number is soft and hard. */
export function parseDockerUlimits(
  ulimit: Record<string, string>,
): { Name: string; Soft: number; Hard: number }[] {
  return Object.entries(ulimit).map(([name, value]) => {
    const [soft = "", hard = soft, extra] = value.split(":");
    // Decimal digits only, as Go's ParseInt reads them ("1e3" and "0x10" are refused),
    // and exact: a larger one went to Docker as 100000000000000000000, which it refused.
    const isInteger = (text: string) =>
      /^-?\d+$/.test(text.trim()) && Number.isSafeInteger(Number(text));
    if (extra !== undefined || !isInteger(soft) || !isInteger(hard)) {
      throw new DockerValueError(`ulimit.${name}`, value, "expected soft[:hard] as integers");
    }
    const s = Number(soft);
    const h = Number(hard);
    return { Name: name, Soft: s, Hard: h };
  });
}

export interface DeviceRequest {
  Driver: string;
  Count: number;
  DeviceIDs: string[];
  Capabilities: string[][];
  Options: Record<string, string>;
}

/** Splits CSV like the docker CLI's `--gpus` flag: quotes keep commas inside a field. */
function splitCsv(value: string): string[] {
  const fields: string[] = [];
  let current = "";
  let isQuoted = false;
  for (const ch of value) {
    if (ch === '"') isQuoted = !isQuoted;
    else if (ch === "," && !isQuoted) {
      fields.push(current);
      current = "";
    } else current += ch;
  }
  fields.push(current);
  return fields.map((f) => f.trim()).filter((f) => f !== "");
}

/**
 * `gpus` / `service_gpus` in docker CLI `--gpus` syntax: `all`, a count, or
 * `count=…,driver=…,"device=0,1",capabilities=…,options=k=v`. "" = none.
 */
export function parseDockerGpus(key: string, value: string): DeviceRequest[] {
  if (value.trim() === "") return [];
  const request: DeviceRequest = {
    Driver: "",
    Count: 0,
    DeviceIDs: [],
    Capabilities: [],
    Options: {},
  };
  const count = (text: string): number => {
    if (text === "all") return -1;
    const n = Number(text);
    if (!Number.isInteger(n)) {
      throw new DockerValueError(key, value, `"${text}" is not a GPU count or all`);
    }
    return n;
  };
  const capabilities: string[] = [];
  for (const field of splitCsv(value)) {
    const eq = field.indexOf("=");
    if (eq < 0) {
      request.Count = count(field);
      continue;
    }
    const name = field.slice(0, eq);
    const v = field.slice(eq + 1);
    if (name === "count") request.Count = count(v);
    else if (name === "driver") request.Driver = v;
    else if (name === "device") request.DeviceIDs = v.split(",").filter((d) => d !== "");
    else if (name === "capabilities") capabilities.push(...v.split(",").filter((c) => c !== ""));
    else if (name === "options") {
      const oe = v.indexOf("=");
      if (oe < 0) throw new DockerValueError(key, value, `option "${v}" is not key=value`);
      request.Options[v.slice(0, oe)] = v.slice(oe + 1);
    } else throw new DockerValueError(key, value, `unexpected key "${name}"`);
  }
  if (request.Count !== 0 && request.DeviceIDs.length > 0) {
    throw new DockerValueError(key, value, "count and device cannot both be set");
  }
  // As the docker CLI: a GPU request always asks for the "gpu" capability.
  request.Capabilities = [["gpu", ...capabilities.filter((c) => c !== "gpu")]];
  return [request];
}
