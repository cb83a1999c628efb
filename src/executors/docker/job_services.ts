/**
 * Service containers of a job (`services:`): started on the job's network
 * under their aliases, then waited for until their ports accept TCP.
 *
 * The wait runs inside a short-lived container of the helper image on the same
 * network (nc, else bash's /dev/tcp): the executor process has no network
 * access of its own besides the docker endpoint, and a remote daemon's
 * container addresses are not routable from the runner host anyway.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import type { DockerApi } from "./docker_client.ts";
import type { JobImage } from "../../job/job_spec.ts";
import { daemonMessage } from "./_docker_errors.ts";
import { ExecFrameDecoder } from "./exec_frames.ts";
import { type LongTimer, setLongTimeout } from "../../time/clock.ts";
import { isHealthCheckPort } from "../../config/docker_values.ts";

/**
 * Host names a service answers to: its `alias` entries (comma or space
 * separated), then the names the official runner derives from the image:
 * `group/img:tag` answers as `group__img` and `group-img`.
 */
export function serviceAliases(service: Pick<JobImage, "name" | "alias">): string[] {
  const aliases = service.alias.split(/[\s,]+/).filter((a) => a !== "");
  const repo = service.name.replace(/@.*$/, "").replace(/:[^/]*$/, "");
  // Registry ports are not valid in host names.
  const clean = repo.replace(/:\d+\//, "/");
  for (const derived of [clean.replaceAll("/", "__"), clean.replaceAll("/", "-")]) {
    if (!aliases.includes(derived)) aliases.push(derived);
  }
  return aliases;
}

/**
 * TCP ports to wait for, of which one must accept: as the official runner, the one port a
 * HEALTHCHECK_TCP_PORT variable names (in the service container's environment
 * or its image's, any letter case), else the service's `ports`, else the
 * image's exposed tcp ports. Throws a RangeError naming the variable when its
 * value is no port number (the official runner fails the job on it too).
 */
export function servicePorts(
  service: Pick<JobImage, "ports">,
  image: { exposedPorts: string[]; env: string[] },
  env: string[] = [],
): number[] {
  const named = healthCheckPort(env) ?? healthCheckPort(image.env);
  if (named !== null) return [named];
  if (service.ports.length > 0) {
    return service.ports.map((p) => p.number).filter((n) => n > 0);
  }
  // As upstream (maxPortsCheck): the 20 lowest, for an image that exposes a range.
  return image.exposedPorts
    .filter((p) => p.endsWith("/tcp") || !p.includes("/"))
    .map((p) => Number.parseInt(p, 10))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b)
    .slice(0, MAX_PORTS_CHECKED);
}

const MAX_PORTS_CHECKED = 20;

/** The port of the last HEALTHCHECK_TCP_PORT entry in KEY=value pairs; null when none sets one. */
function healthCheckPort(env: string[]): number | null {
  let value: string | null = null;
  for (const entry of env) {
    const eq = entry.indexOf("=");
    if (eq > 0 && entry.slice(0, eq).toUpperCase() === "HEALTHCHECK_TCP_PORT") {
      value = entry.slice(eq + 1);
    }
  }
  // An empty value sets no port: a variable defined empty to turn the override off.
  if (value === null || value.trim() === "") return null;
  if (!isHealthCheckPort(value)) {
    throw new RangeError(
      `HEALTHCHECK_TCP_PORT "${value}" is not a TCP port (expected a number from 1 to 65535)`,
    );
  }
  return Number(value.trim());
}

/**
 * Shell for the health-check container: $1 host, then ports; exits 0 once one
 * accepts, as the official helper's health-check for docker services (a
 * service need not listen on every port its image exposes: docker:dind on 2375
 * or 2376, RabbitMQ not on its TLS ports).
 * BusyBox's nc has no -z (it prints its usage and fails, so a service that was up
 * was waited for until the timeout and reported as not started); it runs a program
 * once connected instead: "nc host port -e true".
 */
const PROBE_SCRIPT = `host="$1"; shift
accepts() {
  if command -v nc >/dev/null 2>&1; then
    nc -z -w 2 "$host" "$1" </dev/null >/dev/null 2>&1 ||
      nc -w 2 "$host" "$1" -e true </dev/null >/dev/null 2>&1
  elif command -v bash >/dev/null 2>&1; then
    bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$1" 2>/dev/null
  else
    echo "the helper image has neither nc nor bash to probe ports" >&2; exit 2
  fi
}
while :; do
  for port in "$@"; do
    if accepts "$port"; then exit 0; fi
  done
  sleep 1
done`;

export interface HealthCheckSpec {
  docker: DockerApi;
  helperImageId: string;
  network: string;
  name: string;
  labels: Record<string, string>;
  host: string;
  ports: number[];
  timeoutSeconds: number;
  signal: AbortSignal;
}

/** Null when every port accepted a connection in time, else why not. */
export async function probeService(spec: HealthCheckSpec): Promise<string | null> {
  const container = await spec.docker.createContainer({
    name: spec.name,
    Image: spec.helperImageId,
    Entrypoint: ["sh", "-c", PROBE_SCRIPT, "probe"],
    Cmd: [spec.host, ...spec.ports.map(String)],
    Labels: spec.labels,
    HostConfig: { NetworkMode: spec.network },
  });
  try {
    await container.start();
    let timer: LongTimer | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      // wait_for_services_timeout may be longer than one timer holds.
      timer = setLongTimeout(() => resolve("timeout"), spec.timeoutSeconds * 1000);
    });
    const aborted = new Promise<"aborted">((resolve) => {
      if (spec.signal.aborted) resolve("aborted");
      spec.signal.addEventListener("abort", () => resolve("aborted"), { once: true });
    });
    const outcome = await Promise.race([
      container.wait() as Promise<{ StatusCode: number }>,
      timedOut,
      aborted,
    ]);
    timer?.clear();
    if (outcome === "timeout") {
      const which = spec.ports.length === 1
        ? `port ${spec.ports[0]}`
        : `any of ports ${spec.ports.join(", ")}`;
      return `no connection to "${spec.host}" on ${which} within ${spec.timeoutSeconds}s`;
    }
    if (outcome === "aborted") return "the job was canceled";
    if (outcome.StatusCode !== 0) {
      return `the health check ended with exit code ${outcome.StatusCode}: ${await containerLogs(
        container,
      )}`;
    }
    return null;
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** Last lines of a container's output, for warnings in the job log. */
export async function containerLogs(container: Docker.Container, tail = 50): Promise<string> {
  try {
    const raw = await container.logs({ stdout: true, stderr: true, follow: false, tail }) as
      | Uint8Array
      | string;
    if (typeof raw === "string") return raw;
    const decoder = new ExecFrameDecoder();
    const text = decoder.push(raw).map((p) => new TextDecoder().decode(p)).join("");
    return text.trim();
  } catch (err) {
    return `(cannot read logs: ${daemonMessage(err)})`;
  }
}

/** Upstream's inline service log writer's colours (helpers.ANSI_GREY, ANSI_RESET). */
const SERVICE_LINE_START = "\x1b[0;37m";
const SERVICE_LINE_END = "\x1b[0;m\n";

/** A service's output followed into the job log; `close` stops it and may run twice. */
export interface ServiceLogFollower {
  close(): void;
}

/**
 * Follows a running service container's output, from its start, into the job
 * log (CI_DEBUG_SERVICES), each line as upstream writes it: grey
 * `[service:<names>] `, Docker's timestamp, the line, a colour reset. A last
 * line without a newline is written at `close`. Errors of the stream (the
 * container removed under it) end it without a word: the job goes on.
 */
export async function followServiceLogs(
  container: Docker.Container,
  options: { name: string; write: (bytes: Uint8Array) => void },
): Promise<ServiceLogFollower> {
  const stream = await container.logs({
    follow: true,
    stdout: true,
    stderr: true,
    timestamps: true,
  }) as NodeJS.ReadableStream & { destroy(): void };
  const encoder = new TextEncoder();
  const start = encoder.encode(`${SERVICE_LINE_START}[service:${options.name}] `);
  const end = encoder.encode(SERVICE_LINE_END);
  const decoder = new ExecFrameDecoder();
  let pending = new Uint8Array(0);
  let isClosed = false;
  const writeLine = (line: Uint8Array) => {
    const out = new Uint8Array(start.length + line.length + end.length);
    out.set(start);
    out.set(line, start.length);
    out.set(end, start.length + line.length);
    options.write(out);
  };
  stream.on("data", (chunk: Uint8Array) => {
    if (isClosed) return;
    for (const payload of decoder.push(chunk)) {
      let bytes = payload;
      if (pending.length > 0) {
        bytes = new Uint8Array(pending.length + payload.length);
        bytes.set(pending);
        bytes.set(payload, pending.length);
      }
      let at = 0;
      for (let nl = bytes.indexOf(10, at); nl >= 0; nl = bytes.indexOf(10, at)) {
        writeLine(bytes.subarray(at, nl));
        at = nl + 1;
      }
      pending = bytes.slice(at);
    }
  });
  stream.on("error", () => {});
  const close = () => {
    if (isClosed) return;
    isClosed = true;
    stream.destroy();
    if (pending.length > 0) writeLine(pending);
    pending = new Uint8Array(0);
  };
  stream.on("end", close);
  return { close };
}
