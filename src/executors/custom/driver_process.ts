/**
 * Runs one driver program (config_exec, prepare_exec, run_exec or
 * cleanup_exec) the way the official runner does: in its own process group,
 * stdin closed, and when it must stop (cancel or its deadline) SIGTERM to the
 * whole group, SIGKILL to the group after `gracefulKillMs`, then give up after
 * `forceKillMs` more.
 *
 * After a stop the group is always swept with SIGKILL once the driver exited,
 * so a child that ignored SIGTERM (`sleep 1000 &` under a trap) does not
 * outlive a cancelled job. A driver that exits on its own keeps its
 * background processes (a driver may start a VM on purpose), but the call
 * waits until they close its stdout/stderr, as upstream does; a stop ends
 * that wait.
 */
import { signalProcessGroup } from "../../os/process_group.ts";
import { type LongTimer, setLongTimeout } from "../../time/clock.ts";

export interface DriverCall {
  /** `config_exec`, `prepare_exec`, …: used in error messages. */
  name: string;
  program: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment; nothing else is inherited. */
  env: Record<string, string>;
  stdout: (chunk: Uint8Array) => void;
  stderr: (chunk: Uint8Array) => void;
  /** Aborting stops the driver (job cancelled or timed out). */
  signal: AbortSignal;
  /** The driver's own deadline; absent = none. */
  timeoutMs?: number;
  gracefulKillMs: number;
  forceKillMs: number;
  /**
   * Told when the driver's process group starts and when the call is over, so
   * that the poller can kill the group if this process dies first.
   */
  onProcessGroup?: (pgid: number, isAlive: boolean) => void;
}

export interface DriverExit {
  /** Exit code; 128 + signal number when a signal ended it. */
  code: number;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Why we stopped it; null when it ended on its own. */
  stoppedBy: "abort" | "timeout" | null;
  /** It did not die within force_kill_timeout after SIGKILL; we stopped waiting. */
  isDormant: boolean;
  /**
   * The driver had exited on its own before the stop; only processes it left
   * in the background, holding its stdout or stderr open, were still running.
   */
  isOutputHeld: boolean;
}

/** Rejects only when the program cannot be started; the message names it. */
export async function runDriver(call: DriverCall): Promise<DriverExit> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(call.program, {
      args: [...call.args],
      cwd: call.cwd,
      env: call.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // A new session, hence a process group whose id is the driver's pid.
      detached: true,
    }).spawn();
  } catch (e) {
    const why = await whyNotStarted(call, e);
    throw new Error(`Cannot start ${call.name} "${call.program}": ${why}`, { cause: e });
  }
  call.onProcessGroup?.(child.pid, true);

  const out = pump(child.stdout, call.stdout);
  const err = pump(child.stderr, call.stderr);
  const pumps = Promise.all([out.done, err.done]);
  /** After a stop: wait a little for the output, then let go of the pipes. */
  const drain = async () => {
    if (await within(pumps, 2000) === null) {
      // A survivor (dormant, or unkillable without the right) still holds them.
      out.cancel();
      err.cancel();
    }
  };
  const stop = new AbortController();
  let stoppedBy: "abort" | "timeout" | null = null;
  const onAbort = () => {
    stoppedBy ??= "abort";
    stop.abort();
  };
  if (call.signal.aborted) onAbort();
  else call.signal.addEventListener("abort", onAbort, { once: true });
  // The *_exec_timeout keys may be longer than one timer holds.
  const timer = call.timeoutMs === undefined ? undefined : setLongTimeout(() => {
    stoppedBy ??= "timeout";
    stop.abort();
  }, call.timeoutMs);

  try {
    const status = await Promise.race([child.status, aborted(stop.signal)]);
    if (status !== null) {
      // Exited on its own; its background children may still hold the pipes.
      await Promise.race([pumps, aborted(stop.signal)]);
      if (stop.signal.aborted) {
        await signalGroupOf(child, "SIGKILL");
        await drain();
      }
      return {
        code: status.code,
        signal: status.signal,
        stoppedBy,
        isDormant: false,
        isOutputHeld: stoppedBy !== null,
      };
    }

    await signalGroupOf(child, "SIGTERM");
    let ended = await within(child.status, call.gracefulKillMs);
    await signalGroupOf(child, "SIGKILL");
    if (ended === null) ended = await within(child.status, call.forceKillMs);
    await drain();
    if (ended === null) {
      return { code: 137, signal: "SIGKILL", stoppedBy, isDormant: true, isOutputHeld: false };
    }
    return {
      code: ended.code,
      signal: ended.signal,
      stoppedBy,
      isDormant: false,
      isOutputHeld: false,
    };
  } finally {
    timer?.clear();
    call.signal.removeEventListener("abort", onAbort);
    call.onProcessGroup?.(child.pid, false);
  }
}

/**
 * Why the driver could not be started, in the user's terms. exec(2) says
 * ENOENT both for a missing file and for a script whose `#!` interpreter is
 * missing (often `/bin/bash\r`: a script saved with Windows line endings),
 * and EACCES both for a file without its execute bit and for a directory.
 */
async function whyNotStarted(call: DriverCall, e: unknown): Promise<string> {
  if (e instanceof Deno.errors.NotCapable) return `not allowed: ${errorText(e)}`;
  if ((e as { code?: unknown }).code === "E2BIG") return tooBig(call);
  const isPath = call.program.includes("/");
  if (e instanceof Deno.errors.NotFound) {
    if (await isMissing(call.cwd)) return `its working directory "${call.cwd}" is gone`;
    // `run_exec = "/opt/driver/run.sh --verbose"`: the program is the whole string.
    const words = call.program.trim().split(/\s+/);
    const hint = words.length > 1
      ? ` (the whole string is the program: put ${
        words.slice(1).map((w) => JSON.stringify(w)).join(", ")
      } in ${call.name.replace(/_exec$/, "_args")})`
      : "";
    if (!isPath) return `no such program in PATH${hint}`;
    const line = await firstLine(call.program);
    if (line === null) return `no such file${hint}`;
    if (line === undefined) return `${errorText(e)}${hint}`;
    if (!line.startsWith("#!")) {
      return "it exists, but a program it needs to start (its interpreter or loader) does not";
    }
    const interpreter = line.slice(2).trimStart().split(/[ \t]/)[0] ?? "";
    if (interpreter.endsWith("\r")) {
      return `its #! line ends with a carriage return (Windows line endings), so its interpreter ` +
        `${JSON.stringify(interpreter)} does not exist`;
    }
    return `its interpreter "${interpreter}" (its #! line) does not exist`;
  }
  if (e instanceof Deno.errors.PermissionDenied && isPath) {
    const info = await Deno.stat(call.program).catch(() => null);
    if (info?.isDirectory) return "it is a directory";
    if (info?.isFile && info.mode !== null && (info.mode & 0o111) === 0) {
      return "it is not executable (chmod +x)";
    }
  }
  return errorText(e);
}

/**
 * The first line of `file` (at most 256 bytes); null when there is no such
 * file, undefined when it cannot be read (no read grant for it).
 */
async function firstLine(file: string): Promise<string | null | undefined> {
  try {
    using f = await Deno.open(file);
    const buf = new Uint8Array(256);
    const n = await f.read(buf) ?? 0;
    return new TextDecoder().decode(buf.subarray(0, n)).split("\n")[0] ?? "";
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? null : undefined;
  }
}

/** Whether `path` does not exist (false when it cannot be looked at). */
async function isMissing(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

/** Linux's limit for one argument or environment entry (MAX_ARG_STRLEN, 32 pages). */
const MAX_ARG_STRLEN = 131072;

/**
 * Why exec refused with E2BIG, naming the culprit: a job variable becomes an
 * environment entry (CUSTOM_ENV_<key>), and Linux refuses any entry or
 * argument longer than 128 KiB, as well as a total past its limit.
 */
function tooBig(call: DriverCall): string {
  const bytes = (text: string) => new TextEncoder().encode(text).length + 1;
  const entries = [
    ...Object.entries(call.env).map(([k, v]) => ({
      what: `environment entry ${k}`,
      size: bytes(`${k}=${v}`),
    })),
    ...call.args.map((a, i) => ({ what: `argument ${i + 1}`, size: bytes(a) })),
  ].sort((a, b) => b.size - a.size);
  const largest = entries[0];
  if (largest !== undefined && largest.size > MAX_ARG_STRLEN) {
    return `its ${largest.what} is ${largest.size} bytes, more than the ${MAX_ARG_STRLEN} ` +
      `Linux allows for one (Argument list too long)`;
  }
  const total = entries.reduce((n, e) => n + e.size, 0);
  const top = entries.slice(0, 3).map((e) => `${e.what} (${e.size} bytes)`).join(", ");
  return `its arguments and environment are ${total} bytes, more than the system allows ` +
    `(Argument list too long); the largest: ${top}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function pump(
  stream: ReadableStream<Uint8Array>,
  sink: (chunk: Uint8Array) => void,
): { done: Promise<void>; cancel: () => void } {
  const reader = stream.getReader();
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        sink(value);
      }
    } catch {
      // Cancelled, or the pipe broke after the process was killed.
    }
  })();
  return { done, cancel: () => void reader.cancel().catch(() => {}) };
}

/** Resolves null once `signal` aborts; never rejects. */
function aborted(signal: AbortSignal): Promise<null> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(null);
    else signal.addEventListener("abort", () => resolve(null), { once: true });
  });
}

/**
 * `promise`'s value, or null after `ms` (graceful_kill_timeout and
 * force_kill_timeout: any length); the timer never outlives the wait.
 */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: LongTimer | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<null>((resolve) => (timer = setLongTimeout(() => resolve(null), ms))),
    ]);
  } finally {
    timer?.clear();
  }
}

/** The driver's process group; only its leader when the group cannot be signalled from here. */
async function signalGroupOf(child: Deno.ChildProcess, signal: "SIGTERM" | "SIGKILL") {
  if (await signalProcessGroup(child.pid, signal)) return;
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}
