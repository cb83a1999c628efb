/**
 * Every match on what dockerd answers lives here. dockerode rejects with an
 * Error carrying the HTTP `statusCode` and the daemon's JSON `json.message`.
 */

function statusCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === "number" ? code : undefined;
}

/** 404: "No such container: …", "No such image: …", "network … not found". */
export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

/** 304 on start/stop/kill: "container already started" / "already stopped". */
export function isNotModified(err: unknown): boolean {
  return statusCode(err) === 304;
}

/** 409 on kill: "Container … is not running". */
export function isConflict(err: unknown): boolean {
  return statusCode(err) === 409;
}

/**
 * 400 on create: the request is wrong, e.g. "Unknown runtime specified nope",
 * "invalid IpcMode: …". The official runner reports these as configuration errors.
 */
export function isBadParameter(err: unknown): boolean {
  return statusCode(err) === 400;
}

/**
 * 500 on create: 'invalid --security-opt 1: "bogus"', the daemon's words for a
 * security option it does not know (a docker CLI one such as systempaths
 * among them). A server error by its status, a configuration error by its cause.
 */
export function isRefusedSecurityOpt(err: unknown): boolean {
  return statusCode(err) === 500 && daemonMessage(err).startsWith("invalid --security-opt");
}

/**
 * 500 or 400 on start: the runtime could not exec the container's first
 * process, which no retry changes: 'failed to create shim task: OCI runtime
 * create failed: runc create failed: unable to start container process: exec:
 * "/nonexistent": stat /nonexistent: no such file or directory: unknown', or
 * '… exec: "sh": executable file not found in $PATH: unknown'.
 */
export function isProcessNotStarted(err: unknown): boolean {
  return daemonMessage(err).includes("unable to start container process: exec:");
}

/**
 * A 500 on start that a setting caused, which no retry changes, as dockerd
 * and runc word it:
 * - "user": 'unable to find user nosuch: no matching entries in passwd file'
 * - "group": 'Unable to find group nosuch: no matching entries in group file'
 * - "sysctl": 'sysctl "kernel.bogus" is not in a separate kernel namespace',
 *   'sysctl "vm.x" is not allowed in the hosts network namespace'
 * - "tmpfs": 'invalid tmpfs option ["bogusopt"]'
 * - "device": 'error gathering device information while adding custom device
 *   "/dev/nosuch": no such file or directory'
 * - "cpu_shares": '… error setting cgroup config for procHooks process: the minimum
 *   allowed cpu-shares is 2: unknown'
 * - "device_cgroup_rule": "invalid device cgroup rule format: 'bogus'"
 */
export type StartRefusal =
  | "user"
  | "group"
  | "sysctl"
  | "tmpfs"
  | "device"
  | "cpu_shares"
  | "device_cgroup_rule";

export function startRefusal(err: unknown): StartRefusal | null {
  const message = daemonMessage(err);
  if (/unable to find user .*: no matching entries in passwd file/i.test(message)) return "user";
  if (/unable to find group .*: no matching entries in group file/i.test(message)) return "group";
  if (/\bsysctl "[^"]*" (is not|not allowed)/.test(message)) return "sysctl";
  if (message.includes("invalid tmpfs option")) return "tmpfs";
  if (message.includes("error gathering device information")) return "device";
  if (message.includes("the minimum allowed cpu-shares is")) return "cpu_shares";
  if (message.includes("invalid device cgroup rule format")) return "device_cgroup_rule";
  return null;
}

/**
 * 400 on create: the `[runners.docker]` key whose value the daemon refused, as it
 * words it for the container's HostConfig, or null:
 * - cap_add / cap_drop: 'invalid CapAdd: unknown capability: "CAP_BOGUS"'
 * - runtime: 'Unknown runtime specified bogus'
 * - cpuset_cpus / cpuset_mems: 'Invalid value abc for cpuset cpus: invalid format: abc'
 * - oom_score_adjust: 'Invalid value 5000, range for oom score adj is [-1000, 1000]'
 * - memory_swap: 'You should always set the Memory limit when using Memoryswap limit, see usage'
 * - volume_driver (any status): 'create runner-…-cache-…: error looking up volume plugin
 *   bogus: plugin "bogus" not found'
 * `isService`: the service container's keys (service_cpuset_cpus) are named.
 */
export function refusedHostConfigKey(err: unknown, isService: boolean): string | null {
  const message = daemonMessage(err);
  // Whatever its status: the volumes Docker creates on mount use the driver.
  if (message.includes("error looking up volume plugin")) return "volume_driver";
  if (!isBadParameter(err)) return null;
  if (message.startsWith("invalid CapAdd")) return "cap_add";
  if (message.startsWith("invalid CapDrop")) return "cap_drop";
  if (message.startsWith("Unknown runtime specified")) return "runtime";
  if (/^Invalid value .* for cpuset cpus/.test(message)) {
    return isService ? "service_cpuset_cpus" : "cpuset_cpus";
  }
  if (/^Invalid value .* for cpuset mems/.test(message)) return "cpuset_mems";
  if (message.includes("range for oom score adj")) return "oom_score_adjust";
  if (
    message.includes("set the Memory limit when using Memoryswap") ||
    message.includes("Minimum memoryswap limit should be larger than memory limit")
  ) {
    return isService ? "service_memory_swap" : "memory_swap";
  }
  return null;
}

/**
 * 400 on create: an `extra_hosts` entry, named by the docker CLI's flag:
 * 'bad format for add-host: "bogus"', 'invalid IP address in add-host: "b:c"'.
 */
export function isRefusedExtraHost(err: unknown): boolean {
  return isBadParameter(err) && daemonMessage(err).includes("add-host");
}

/**
 * The daemon's endpoint did not answer at all (no HTTP status): its socket is
 * missing ("connect ENOENT /var/run/docker.sock"), refused, unreachable or cut.
 */
export function isDaemonUnreachable(err: unknown): boolean {
  if (typeof err !== "object" || err === null || statusCode(err) !== undefined) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && DAEMON_UNREACHABLE_CODES.has(code);
}

const DAEMON_UNREACHABLE_CODES = new Set([
  "ENOENT",
  "ECONNREFUSED",
  "EACCES",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** The daemon's own sentence, without dockerode's "(HTTP code …) …" prefix. */
export function daemonMessage(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const json = (err as { json?: unknown }).json;
    if (typeof json === "object" && json !== null) {
      const m = (json as { message?: unknown }).message;
      if (typeof m === "string" && m !== "") return m;
    }
    const reason = (err as { reason?: unknown }).reason;
    const m = (err as { message?: unknown }).message;
    if (typeof m === "string" && m !== "") return m;
    if (typeof reason === "string") return reason;
  }
  return String(err);
}
