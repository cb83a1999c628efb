/**
 * Starts executor subprocesses: the only place the poller spawns anything.
 *
 * From source the child is `deno run <--allow-* flags> src/cli/main.ts
 * executor-process`; from a compiled binary it is the binary itself with
 * `executor-process --permissions <json>`: it holds the binary's global grants
 * and runs the job in a Worker scoped to the same set (cli/scoped_worker.ts).
 * The child's environment is an allow-list (executor_environment.ts).
 *
 * A process that ended a job with `idle` may be handed back (`release`) and
 * is then given the next job of the same permission set: jobs back to back
 * skip the start-up and run warm code. Idle processes are kept per set, the
 * most recently used taken first, each stopped after `spareIdleMs` unused;
 * one that exited meanwhile is dropped, never given a job.
 *
 * A launch starts the next job's spare SPARE_REPLACE_DELAY_MS later, not at
 * once: a process starting beside the job it was launched for takes the CPU
 * that job needs (a fresh runner's first trivial job on a 2-core VM took
 * ~190 ms instead of ~145 with its replacement starting beside it). None is
 * started if by then a process of the set is idle again (a job that ended:
 * it is the next job's), nor in a burst (another launch of the set came
 * meanwhile, or the previous one less than SPARE_BURST_GAP_MS before): there
 * the spare would be taken by the next launch while still starting, saving it
 * nothing, and the burst's last one would start a process no job needs, on a
 * machine already busy starting the others. `prestart` starts a set's spare
 * before its first launch (`runner run` does, for the first jobs of a fresh
 * runner).
 *
 * `launchWhenReady` starts at most `startLimit` processes for jobs at a time
 * (`runner run`: one per core). Many jobs at once (a burst at `concurrent =
 * 20` on 2 cores) otherwise start as many runtimes side by side, each job
 * waiting for all of them; behind the gate a job takes the first process
 * that is free: one of its set that ends a job, or a new one once a start
 * ends (the process's first output, or START_GATE_MAX_MS: a process that
 * says nothing does not hold the gate).
 */
import {
  decodeMessage,
  encodeMessage,
  type Frame,
  FRAME_MESSAGE,
  FrameDecoder,
  type FromExecutor,
  type ToExecutor,
  traceStreamOf,
} from "../executors/process_protocol.ts";
import type { OutputStream } from "../job/output_stream.ts";
import { type ExecutorPermissions, permissionFlags } from "./executor_permissions.ts";
import { executorEnvironment } from "./executor_environment.ts";
import { COMPILED_GRANT_FLAGS } from "./compiled_grants.ts";
import { EXECUTOR_V8_FLAGS } from "./v8_flags.ts";
import { systemClock } from "../time/clock.ts";

/**
 * Deno reads, before the entry module runs, every module reachable through a
 * literal dynamic import: from the executor's entry that is every executor,
 * the archive, cache and artifact code and their npm packages (~130 files),
 * ~30 ms of CPU at each executor process's start. This flag loads each of
 * them at its first import instead, which Deno checks against `--allow-read`:
 * the launcher grants read access to the runner's own source directory
 * (`sourceDir`), nothing else.
 */
export const LAZY_IMPORTS_FLAG = "--unstable-lazy-dynamic-imports";

/** Launches of one permission set closer than this are a burst: they start no spare. */
export const SPARE_BURST_GAP_MS = 1000;

/**
 * How long after a launch its replacement spare starts: about twice what a
 * fresh runner's first trivial job takes from its launch to its result on a
 * 2-core VM (scripts/bench/job_latency.ts, figure (e)).
 */
export const SPARE_REPLACE_DELAY_MS = 300;

/** Longest a process launched for a job counts as starting (`startLimit`) without saying anything. */
export const START_GATE_MAX_MS = 2000;

export interface ExecutorProcess extends AsyncDisposable {
  readonly pid: number;
  /**
   * Started before the job it is given (a spare or a released process). One
   * may die just before it gets the job (killed while idle, say); the job is
   * then given to another process, since it never started.
   */
  readonly isPrestarted?: boolean;
  send(message: ToExecutor): Promise<void>;
  /**
   * Trace bytes (with their stream; default stdout) and events of the job in
   * hand, until its `idle` event (yielded last) or until the process closes
   * its stdout. Breaking out leaves the rest for the next call.
   */
  events(): AsyncIterable<{ trace: Uint8Array; stream?: OutputStream } | { event: FromExecutor }>;
  /** Exit status once the process ended. */
  readonly status: Promise<Deno.CommandStatus>;
  kill(signal?: Deno.Signal): void;
  /** What the child wrote on stderr (its own log lines), last 64 KiB. */
  stderrTail(): string;
}

/** What the poller needs to start an executor subprocess. */
export interface ExecutorLauncher {
  launch(permissions: ExecutorPermissions): ExecutorProcess;
  /**
   * `launch`, once that takes a free process of the set or starts one within
   * the launcher's start limit; at once when `signal` is aborted. Absent: the
   * caller launches at once.
   */
  launchWhenReady?(
    permissions: ExecutorPermissions,
    signal?: AbortSignal,
  ): Promise<ExecutorProcess>;
  /**
   * Takes back a process whose job ended with `idle`, for the next job of the
   * same permission set. Absent: every process runs one job (start messages
   * then do not ask for `isReusable`).
   */
  release?(process: ExecutorProcess): void;
  /**
   * Starts a spare for `permissions` now, so that the first job of that set
   * skips the runtime's start-up too. Absent, or a no-op where the launcher
   * keeps no spares or already holds one of that set.
   */
  prestart?(permissions: ExecutorPermissions): void;
}

export interface LauncherOptions {
  /** Path of the runner binary (compiled) or of `deno` (from source). */
  execPath: string;
  /** `src/cli/main.ts` as a path or file URL when running from source; null when compiled. */
  mainModule: string | null;
  /**
   * From source: the directory holding the runner's modules (`src/`). Given,
   * an executor process started with `--allow-*` flags loads the modules a job
   * does not need at start only when first imported (LAZY_IMPORTS_FLAG) and
   * may read this directory; absent, Deno reads them all at start.
   */
  sourceDir?: string;
  /**
   * How the child is narrowed: `flags` (from source: `--allow-*` of its set) or
   * `worker` (compiled: global grants, job in a scoped Worker). Default: `worker`
   * when compiled. Tests pass `worker` with `deno` to run the child exactly as
   * the compiled binary does (COMPILED_GRANT_FLAGS).
   */
  scoping?: "flags" | "worker";
  /** The runner's environment; the child gets its allow-listed part. */
  env: Record<string, string>;
  /** Receives each stderr line of a child (its structured log). */
  onChildLog?: (pid: number, line: string) => void;
  /**
   * From source: the runner's git revision, for the job log's header. An
   * executor process cannot read it (`.git` is outside its permissions), so
   * it is passed as `--revision`. A compiled binary has its own stamped in.
   */
  revision?: string;
  /**
   * Keep one started process ready per permission set, so the next job skips
   * the runtime's start-up; a spare unused for this long is stopped. Released
   * processes are kept as long. 0 = none, and none kept.
   */
  spareIdleMs?: number;
  /**
   * Most processes `launchWhenReady` has starting for jobs at once (a process
   * starts until its first output, at most `startGateMaxMs`). 0 or absent: no
   * limit.
   */
  startLimit?: number;
  /** Longest a silent process counts as starting; default START_GATE_MAX_MS. */
  startGateMaxMs?: number;
  /** Milliseconds of a monotonic clock, for the burst rule; default `performance.now`. */
  now?: () => number;
  /**
   * From source (`deno run`): the child's V8 flags; default EXECUTOR_V8_FLAGS.
   * A parent that loads many of the child's modules itself passes its own
   * (v8_flags.ts: V8 rejects a module's code cache made under other flags).
   */
  v8Flags?: readonly string[];
}

/** `{ revision }` for LauncherOptions when the revision is known ("unknown" is not passed on). */
export function knownRevision(revision: string): { revision?: string } {
  return revision !== "" && revision !== "unknown" ? { revision } : {};
}

interface Spare {
  process: ChildExecutorProcess;
  timer: ReturnType<typeof setTimeout>;
}

export class SubprocessLauncher implements ExecutorLauncher {
  #options: LauncherOptions;
  /** Started processes waiting for a job, by permission set. */
  #spares = new Map<string, Spare>();
  /** Processes that ran a job and wait for the next, by permission set; most recent last. */
  #idle = new Map<string, Spare[]>();
  /** The permission set each process was started with. */
  #keys = new WeakMap<ExecutorProcess, string>();
  /** When each permission set was last launched without an idle process. */
  #lastLaunchAt = new Map<string, number>();
  /** Replacement spares not started yet (SPARE_REPLACE_DELAY_MS), by permission set. */
  #dueSpares = new Map<string, ReturnType<typeof setTimeout>>();
  /** Processes launched for a job that have not said anything yet (`startLimit`). */
  #starting = new Set<ChildExecutorProcess>();
  /** Callers of `launchWhenReady` waiting for a free process or a start to end. */
  #waiting = new Set<() => void>();
  #isClosed = false;

  constructor(options: LauncherOptions) {
    this.#options = options;
  }

  launch(permissions: ExecutorPermissions): ExecutorProcess {
    const key = JSON.stringify(permissions);
    const reused = this.#takeIdle(key);
    if (reused !== null) {
      reused.isPrestarted = true;
      return reused;
    }
    const spare = this.#spares.get(key);
    this.#spares.delete(key);
    if (spare) clearTimeout(spare.timer);
    const process = spare && !spare.process.hasExited ? spare.process : this.#spawn(permissions);
    if (spare && spare.process !== process) spare.process.kill();
    process.isPrestarted = process === spare?.process;
    if (!process.isPrestarted && (this.#options.startLimit ?? 0) > 0) this.#countStart(process);
    const now = (this.#options.now ?? performance.now.bind(performance))();
    const isBurst = now - (this.#lastLaunchAt.get(key) ?? -Infinity) < SPARE_BURST_GAP_MS;
    this.#lastLaunchAt.set(key, now);
    clearTimeout(this.#dueSpares.get(key));
    this.#dueSpares.delete(key);
    if (!isBurst) this.#replaceSpare(key, permissions);
    return process;
  }

  async launchWhenReady(
    permissions: ExecutorPermissions,
    signal?: AbortSignal,
  ): Promise<ExecutorProcess> {
    const key = JSON.stringify(permissions);
    while (!signal?.aborted && !this.#canLaunch(key)) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiting.delete(wake);
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiting.add(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
    return this.launch(permissions);
  }

  /** Whether a launch of `key` now takes a free process or stays within `startLimit`. */
  #canLaunch(key: string): boolean {
    const limit = this.#options.startLimit ?? 0;
    return limit <= 0 || this.#isClosed || this.#starting.size < limit ||
      this.#hasReady(key);
  }

  /** Whether a process of `key` waits for a job: a spare or a released one. */
  #hasReady(key: string): boolean {
    return this.#spares.has(key) || (this.#idle.get(key)?.length ?? 0) > 0;
  }

  /** `process` holds a place under `startLimit` until it says something, exits or START_GATE_MAX_MS pass. */
  #countStart(process: ChildExecutorProcess): void {
    this.#starting.add(process);
    const timer = setTimeout(
      () => this.#started(process),
      this.#options.startGateMaxMs ?? START_GATE_MAX_MS,
    );
    Deno.unrefTimer(timer);
    process.firstOutput.then(() => {
      clearTimeout(timer);
      this.#started(process);
    });
  }

  #started(process: ChildExecutorProcess): void {
    if (this.#starting.delete(process)) this.#wakeWaiting();
  }

  /** Every waiting `launchWhenReady` looks again; those that still cannot launch wait on. */
  #wakeWaiting(): void {
    for (const wake of [...this.#waiting]) wake();
  }

  /** The next job's spare of `key`, SPARE_REPLACE_DELAY_MS from now, if none is ready by then. */
  #replaceSpare(key: string, permissions: ExecutorPermissions): void {
    if ((this.#options.spareIdleMs ?? 0) <= 0 || this.#isClosed) return;
    const timer = setTimeout(() => {
      this.#dueSpares.delete(key);
      if (this.#hasReady(key)) return;
      this.#startSpare(key, permissions);
    }, SPARE_REPLACE_DELAY_MS);
    Deno.unrefTimer(timer);
    this.#dueSpares.set(key, timer);
  }

  prestart(permissions: ExecutorPermissions): void {
    const key = JSON.stringify(permissions);
    if (this.#hasReady(key)) return;
    this.#startSpare(key, permissions);
  }

  /** A spare of `key`, stopped after `spareIdleMs` unused; none when spares are off. */
  #startSpare(key: string, permissions: ExecutorPermissions): void {
    const idleMs = this.#options.spareIdleMs ?? 0;
    if (idleMs <= 0 || this.#isClosed) return;
    const next = this.#spawn(permissions);
    const timer = setTimeout(() => {
      if (this.#spares.get(key)?.process === next) this.#spares.delete(key);
      next.kill("SIGTERM");
    }, idleMs);
    Deno.unrefTimer(timer);
    this.#spares.set(key, { process: next, timer });
    this.#wakeWaiting();
  }

  release(process: ExecutorProcess): void {
    const key = this.#keys.get(process);
    const idleMs = this.#options.spareIdleMs ?? 0;
    if (
      key === undefined || !(process instanceof ChildExecutorProcess) || process.hasExited ||
      this.#isClosed || idleMs <= 0
    ) {
      void process[Symbol.asyncDispose]();
      return;
    }
    const idle = this.#idle.get(key) ?? [];
    const entry: Spare = {
      process,
      timer: setTimeout(() => {
        const list = this.#idle.get(key) ?? [];
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) this.#idle.delete(key);
        void process[Symbol.asyncDispose]();
      }, idleMs),
    };
    Deno.unrefTimer(entry.timer);
    idle.push(entry);
    this.#idle.set(key, idle);
    this.#wakeWaiting();
  }

  /** The most recently released live process of `key`; exited ones are dropped. */
  #takeIdle(key: string): ChildExecutorProcess | null {
    const idle = this.#idle.get(key);
    while (idle && idle.length > 0) {
      const entry = idle.pop()!;
      clearTimeout(entry.timer);
      if (!entry.process.hasExited) {
        if (idle.length === 0) this.#idle.delete(key);
        return entry.process;
      }
      void entry.process[Symbol.asyncDispose]();
    }
    this.#idle.delete(key);
    return null;
  }

  /** Stops the spare and idle processes. */
  close(): void {
    this.#isClosed = true;
    for (const timer of this.#dueSpares.values()) clearTimeout(timer);
    this.#dueSpares.clear();
    for (const spare of this.#spares.values()) {
      clearTimeout(spare.timer);
      spare.process.kill("SIGTERM");
    }
    this.#spares.clear();
    for (const entry of [...this.#idle.values()].flat()) {
      clearTimeout(entry.timer);
      entry.process.kill("SIGTERM");
    }
    this.#idle.clear();
    this.#wakeWaiting();
  }

  /** The permission flags of a child started with `deno run`, and lazy imports where `sourceDir` allows. */
  #lazyImports(permissions: ExecutorPermissions): string[] {
    const { sourceDir } = this.#options;
    if (sourceDir === undefined) return permissionFlags(permissions);
    return [
      LAZY_IMPORTS_FLAG,
      ...permissionFlags({ ...permissions, read: [...permissions.read, sourceDir] }),
    ];
  }

  #spawn(permissions: ExecutorPermissions): ChildExecutorProcess {
    const { execPath, mainModule } = this.#options;
    // Deno's --allow-* lists are split at commas, with no way to escape one: a path that holds
    // a comma (a driver in "/opt/a,b/") can only be granted through a Worker's permission lists.
    const scoping = this.#options.scoping ??
      (mainModule === null || !canBeFlags(permissions) ? "worker" : "flags");
    const { revision } = this.#options;
    const v8Flags = this.#options.v8Flags ?? EXECUTOR_V8_FLAGS;
    const command = [
      "executor-process",
      ...(mainModule !== null && revision ? ["--revision", revision] : []),
    ];
    const scoped = [...command, "--permissions", JSON.stringify(permissions)];
    const args = mainModule === null
      ? scoped
      : scoping === "worker"
      ? ["run", "--quiet", ...v8Flags, ...COMPILED_GRANT_FLAGS, mainModule, ...scoped]
      : [
        "run",
        "--quiet",
        ...v8Flags,
        ...this.#lazyImports(permissions),
        mainModule,
        ...command,
      ];
    const env = executorEnvironment(this.#options.env);
    const child = new Deno.Command(execPath, {
      args,
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const process = new ChildExecutorProcess(child, this.#options.onChildLog);
    this.#keys.set(process, JSON.stringify(permissions));
    return process;
  }
}

/** Whether every entry can be written in an `--allow-*=a,b` list (none holds a comma). */
function canBeFlags(permissions: ExecutorPermissions): boolean {
  const { read, write, run, net } = permissions;
  return ![...read, ...write, ...run, ...net].some((entry) => entry.includes(","));
}

class ChildExecutorProcess implements ExecutorProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** stdout, read across jobs: frames decoded and not yet yielded wait in `#frames`. */
  #stdout: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new FrameDecoder();
  #frames: Frame[] = [];
  #isStdoutClosed = false;
  #stderr = "";
  #stderrDone: Promise<void>;
  #hasExited = false;
  isPrestarted = false;
  readonly status: Promise<Deno.CommandStatus>;
  /** Settles once the process wrote its first output, closed its stdout or exited. */
  readonly firstOutput: Promise<void>;
  #onOutput!: () => void;

  constructor(child: Deno.ChildProcess, onLog?: (pid: number, line: string) => void) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#stdout = child.stdout.getReader();
    this.status = child.status;
    this.firstOutput = new Promise((resolve) => this.#onOutput = resolve);
    this.status.then(() => this.#hasExited = true, () => this.#hasExited = true)
      .finally(this.#onOutput);
    this.#stderrDone = (async () => {
      let pending = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        const text = decoder.decode(chunk, { stream: true });
        this.#stderr = (this.#stderr + text).slice(-65536);
        pending += text;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) onLog?.(child.pid, line);
      }
      if (pending.trim()) onLog?.(child.pid, pending);
    })().catch(() => {});
  }

  get pid(): number {
    return this.#child.pid;
  }

  get hasExited(): boolean {
    return this.#hasExited;
  }

  async send(message: ToExecutor): Promise<void> {
    await this.#writer.write(encodeMessage(message));
  }

  async *events(): AsyncIterable<
    { trace: Uint8Array; stream: OutputStream } | { event: FromExecutor }
  > {
    while (true) {
      const frame = this.#frames.shift();
      if (frame === undefined) {
        if (this.#isStdoutClosed) return;
        const { value, done } = await this.#stdout.read();
        this.#onOutput();
        if (done) {
          this.#isStdoutClosed = true;
          return;
        }
        this.#frames.push(...this.#decoder.push(value));
        continue;
      }
      const stream = traceStreamOf(frame.type);
      if (stream !== null) yield { trace: frame.payload, stream };
      else if (frame.type === FRAME_MESSAGE) {
        const event = decodeMessage<FromExecutor>(frame.payload);
        yield { event };
        // The job's frames end here; the next job's start with the next call.
        if (event.type === "idle") return;
      }
    }
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited: nothing to kill.
    }
  }

  stderrTail(): string {
    return this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    // A Clock, not setTimeout: `runner exec` disposes of its executor process
    // before it can exit, and a first setTimeout loads node:timers (time/clock.ts).
    const wait = new AbortController();
    const exited = await Promise.race([
      this.status.then(() => true),
      systemClock().sleep(5000, wait.signal).then(() => false, () => false),
    ]);
    wait.abort();
    if (!exited) this.kill("SIGKILL");
    await this.status.catch(() => {});
    // What the process wrote after its last job nobody reads.
    await this.#stdout.cancel().catch(() => {});
    await this.#stderrDone;
  }
}
