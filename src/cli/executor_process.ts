/**
 * `runner executor-process` (hidden): the child the poller starts to run
 * jobs. It reads a start message from stdin, runs the job with the executor
 * it names, and writes trace and events to stdout (executors/process_protocol.ts);
 * the poller may then send it the next job of the same permission set
 * (runExecutorProcess says when it exits instead).
 * Its own log lines go to stderr as JSON; the poller relays them.
 *
 * From source it runs with the `--allow-*` flags of its executor; a compiled
 * binary carries the poller's global grants, so there this code runs in a
 * Worker scoped to the same set (cli/executor_worker.ts, docs/security.md).
 */
import {
  type CacheUrlAnswer,
  type CancelMessage,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FRAME_MESSAGE,
  FrameDecoder,
  type FromExecutor,
  MAX_FRAME_PAYLOAD,
  type StartMessage,
  type SweepMessage,
  type SweptEvent,
  type TerminalRequest,
  type ToExecutor,
  traceFrameType,
} from "../executors/process_protocol.ts";
import type { OutputStream } from "../job/output_stream.ts";
import { ExecutorTerminal } from "./executor_terminal.ts";
import type { JobOutput } from "../executors/executor.ts";
import { type BuildResult, runBuild } from "../build/run_build.ts";
import { RunnerInterrupt } from "../job/runner_interrupt.ts";
import type { JobTls, RunnerVersion } from "../build/job_variables.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { F } from "../log/fields.ts";
import { killProcessGroups } from "../os/process_group.ts";
import type { Logger } from "../log/logger.ts";
import type { Executor } from "../executors/executor.ts";
import { executorStageName } from "../executors/executor_stage.ts";
import type { BuildStageHooks } from "../build/stage_hooks.ts";
import type { JobSpec } from "../job/job_spec.ts";
import {
  createExecutor,
  createJobFiles,
  type ExecutorContext,
  sweepDockerLeftovers,
} from "./executor_factory.ts";
import type { CacheUrlSource } from "../cache/distributed_cache_store.ts";
import type { CacheUrlMethod, PresignedRequest } from "../cache/cache_url_signer.ts";
import type { ByteSink, ByteSource } from "./direct_io.ts";

/**
 * Serialises frames onto stdout in order; `write` never blocks the caller.
 * One write is on its way at a time: the frames sent meanwhile go out
 * together with the next (up to BATCH_BYTES), so a job's ~45 small frames
 * (its log lines, stage and process-group events) take a few pipe writes,
 * and the poller a few reads, instead of one each. The first frame after a
 * pause goes out at once.
 */
export class FrameWriter implements JobOutput {
  #writer: ReturnType<ByteSink["getWriter"]>;
  #failed = false;
  #queue: Uint8Array[] = [];
  /** The write loop while frames are on their way. */
  #flushing: Promise<void> | null = null;

  constructor(stream: ByteSink) {
    this.#writer = stream.getWriter();
  }

  write(chunk: Uint8Array, stream: OutputStream = "stdout"): void {
    const type = traceFrameType(stream);
    for (let at = 0; at < chunk.length; at += MAX_FRAME_PAYLOAD) {
      this.#send(encodeFrame(type, chunk.subarray(at, at + MAX_FRAME_PAYLOAD)));
    }
  }

  event(event: FromExecutor): void {
    this.#send(encodeMessage(event));
  }

  #send(frame: Uint8Array): void {
    if (this.#failed) return;
    this.#queue.push(frame);
    this.#flushing ??= this.#flush();
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#failed) {
      const chunk = takeBatch(this.#queue);
      try {
        await this.#writer.write(chunk);
      } catch {
        // The poller went away; the job cannot report anything more.
        this.#failed = true;
      }
    }
    this.#queue = [];
    this.#flushing = null;
  }

  /** Resolves once every frame sent so far was written (or the poller is gone). */
  async flushed(): Promise<void> {
    await this.#flushing;
  }

  async close(): Promise<void> {
    await this.#flushing;
    await this.#writer.ready.catch(() => {});
    await this.#writer.close().catch(() => {});
  }
}

/** Most bytes FrameWriter joins into one write (a frame bigger than this goes alone). */
const BATCH_BYTES = 256 * 1024;

/** Removes the first frames of `queue`, up to BATCH_BYTES (at least one), joined. */
function takeBatch(queue: Uint8Array[]): Uint8Array {
  let count = 0;
  let bytes = 0;
  while (count < queue.length && (count === 0 || bytes + queue[count]!.length <= BATCH_BYTES)) {
    bytes += queue[count]!.length;
    count++;
  }
  const frames = queue.splice(0, count);
  if (frames.length === 1) return frames[0]!;
  const chunk = new Uint8Array(bytes);
  let at = 0;
  for (const frame of frames) {
    chunk.set(frame, at);
    at += frame.length;
  }
  return chunk;
}

/** One job's view of stdin: its cancel, cache-url and terminal messages, and stdin's end. */
export interface ControlChannel {
  start: StartMessage;
  /** `cancel` messages as they arrive. */
  onCancel(listener: (message: CancelMessage) => void): void;
  /** `cache-url` answers as they arrive (one listener). */
  onCacheUrl(listener: (message: CacheUrlAnswer) => void): void;
  /** Called once when stdin ends during this job: the poller is gone. */
  onClosed(listener: () => void): void;
  /** Web terminal messages as they arrive (one listener; earlier ones are queued). */
  onTerminal(listener: (message: TerminalRequest) => void): void;
}

/** The listeners of the job in hand; dropped when it ends, with everything they hold. */
class JobChannel implements ControlChannel {
  readonly start: StartMessage;
  #cancels: ((m: CancelMessage) => void)[] = [];
  #queuedCancels: CancelMessage[] = [];
  #cacheUrl: (m: CacheUrlAnswer) => void = () => {};
  #terminal: ((m: TerminalRequest) => void) | null = null;
  #queuedTerminal: TerminalRequest[] = [];
  #closed: (() => void)[] = [];
  #isClosed = false;

  constructor(start: StartMessage) {
    this.start = start;
  }

  deliver(message: ToExecutor): void {
    if (message.type === "cancel") {
      if (this.#cancels.length > 0) this.#cancels.forEach((l) => l(message));
      else this.#queuedCancels.push(message);
    } else if (message.type === "cache-url") this.#cacheUrl(message);
    else if (message.type.startsWith("terminal-")) {
      const request = message as TerminalRequest;
      if (this.#terminal) this.#terminal(request);
      else this.#queuedTerminal.push(request);
    }
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closed.splice(0).forEach((l) => l());
  }

  onCancel(listener: (message: CancelMessage) => void): void {
    this.#cancels.push(listener);
    for (const m of this.#queuedCancels.splice(0)) listener(m);
  }

  onCacheUrl(listener: (message: CacheUrlAnswer) => void): void {
    this.#cacheUrl = listener;
  }

  onClosed(listener: () => void): void {
    if (this.#isClosed) listener();
    else this.#closed.push(listener);
  }

  onTerminal(listener: (message: TerminalRequest) => void): void {
    this.#terminal = listener;
    for (const m of this.#queuedTerminal.splice(0)) listener(m);
  }
}

/**
 * Reads stdin for the whole life of the process: a `start` message opens a
 * job's channel, and the messages after it go to that job (also those in
 * the same read as the start message), until `endJob`. Between jobs, messages
 * meant for the job that ended (a late cancel, a cache-url answer nobody
 * waits for) are dropped. A `sweep` message is handed out as it is, in the
 * place of a job.
 */
export class ControlReader {
  #reader: ReturnType<ByteSource["getReader"]>;
  #decoder = new FrameDecoder();
  /** Jobs whose start message (or sweeps that) arrived and that nobody took yet. */
  #started: (JobChannel | SweepMessage)[] = [];
  #waiting: PromiseWithResolvers<ControlChannel | SweepMessage | null> | null = null;
  /** The channel of the last start message: what follows it on stdin is for it. */
  #job: JobChannel | null = null;
  #isClosed = false;
  #error: Error | null = null;

  constructor(stdin: ByteSource) {
    this.#reader = stdin.getReader();
    void this.#pump();
  }

  /** The next job's channel or sweep; null once stdin has ended. Rejects on a broken stream. */
  nextJob(): Promise<ControlChannel | SweepMessage | null> {
    const job = this.#started.shift();
    if (job) return Promise.resolve(job);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#isClosed) return Promise.resolve(null);
    this.#waiting = Promise.withResolvers();
    return this.#waiting.promise;
  }

  /** `job` ended: its listeners (and its start message with the token) are let go. */
  endJob(job: ControlChannel): void {
    if (this.#job === job) this.#job = null;
  }

  async #pump(): Promise<void> {
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        for (const frame of this.#decoder.push(value)) {
          if (frame.type !== FRAME_MESSAGE) continue;
          const message = decodeMessage<ToExecutor>(frame.payload);
          if (message.type !== "start" && message.type !== "sweep") {
            this.#job?.deliver(message);
            continue;
          }
          const job = message.type === "start" ? new JobChannel(message) : message;
          this.#job = job instanceof JobChannel ? job : null;
          if (this.#waiting) {
            this.#waiting.resolve(job);
            this.#waiting = null;
          } else this.#started.push(job);
        }
      }
    } catch (err) {
      // stdin broke (or carried garbage): the poller is gone for us either way.
      this.#error = err instanceof Error ? err : new Error(String(err));
    }
    this.#isClosed = true;
    if (this.#waiting) {
      if (this.#error) this.#waiting.reject(this.#error);
      else this.#waiting.resolve(null);
      this.#waiting = null;
    }
    this.#job?.close();
    this.#started.forEach((job) => job instanceof JobChannel && job.close());
  }
}

export interface ExecutorProcessIo {
  stdin: ByteSource;
  stdout: ByteSink;
  env: Record<string, string>;
  log: Logger;
  version: RunnerVersion;
  /** Aborted when this process is told to stop (SIGTERM): the job is killed as if the poller were gone. */
  terminate?: AbortSignal;
}

/**
 * After the poller is lost (stdin closed) or SIGTERM: when the job's process
 * groups are sent SIGKILL, and when the process gives up waiting for the
 * executor's cleanup and exits. Nothing may outlive the poller for long.
 */
export const LOST_KILL_MS = 800;
export const LOST_EXIT_MS = 1800;

/**
 * Most jobs one process runs when the poller reuses it (`isReusable`): a
 * bound on what one process can accumulate (heap, module state, leaks) over
 * its life; the launcher starts a fresh one after.
 */
export const MAX_JOBS_PER_PROCESS = 50;

/**
 * Runs the jobs the poller sends; resolves with the process exit code. A job
 * whose start message says `isReusable` ends with an `idle` event instead of
 * the end of stdout, and the process waits for the next start message. It
 * exits instead when it served MAX_JOBS_PER_PROCESS jobs, when stdin ends,
 * on SIGTERM, or after a job it could not end cleanly (the poller lost, a
 * cleanup that timed out): then nothing of that job may meet the next one.
 */
export async function runExecutorProcess(io: ExecutorProcessIo): Promise<number> {
  const writer = new FrameWriter(io.stdout);
  const control = new ControlReader(io.stdin);
  for (let served = 0;; served++) {
    let job: ControlChannel | SweepMessage | null;
    const terminated = abortPromise(io.terminate);
    try {
      job = await Promise.race([control.nextJob(), terminated.then(() => null)]);
    } catch (err) {
      io.log.error("Executor process got no job", { [F.ERROR]: (err as Error).message });
      await writer.close();
      return 2;
    } finally {
      terminated.cancel();
    }
    // stdin closed or SIGTERM while waiting: an unused spare, or an idle process let go.
    if (job === null) {
      await writer.close();
      return 0;
    }
    if ("type" in job) {
      writer.event(await sweep(io, job));
      await writer.close();
      return 0;
    }
    const outcome = await runJob(io, writer, job);
    control.endJob(job);
    const isReused = job.start.isReusable === true && outcome === "clean" &&
      served + 1 < MAX_JOBS_PER_PROCESS && !io.terminate?.aborted;
    if (!isReused) {
      await writer.close();
      return outcome === "lost" ? 1 : 0;
    }
    writer.event({ type: "idle" });
  }
}

/**
 * How a job ended for its process: `clean` (its result sent, nothing of it
 * left running that the process knows of), `stopped` (result sent, but the
 * poller went away or SIGTERM came: the process must exit), `lost` (the
 * executor's cleanup did not finish in time; no result).
 */
type JobOutcome = "clean" | "stopped" | "lost";

async function runJob(
  io: ExecutorProcessIo,
  writer: FrameWriter,
  control: ControlChannel,
): Promise<JobOutcome> {
  const { start } = control;
  const graceful = new AbortController();
  const abort = new AbortController();
  control.onCancel((m) => {
    if (m.graceful) graceful.abort();
    else abort.abort(m.interrupt ? new RunnerInterrupt(m.interrupt) : undefined);
  });
  const log = io.log.child({ [F.JOB_ID]: start.job.id, [F.EXECUTOR]: start.runner.executor });
  // Process groups of running stages: killed here too if the executor cannot stop them in time.
  const groups = new Set<number>();
  const lost = Promise.withResolvers<"lost">();
  let isLost = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const onLost = (why: string, interrupt?: RunnerInterrupt) => {
    if (isLost) return;
    isLost = true;
    log.warn(`Stopping the job: ${why}`);
    abort.abort(interrupt);
    const killTimer = setTimeout(() => void killProcessGroups(groups), LOST_KILL_MS);
    const exitTimer = setTimeout(() => lost.resolve("lost"), LOST_EXIT_MS);
    Deno.unrefTimer(killTimer);
    Deno.unrefTimer(exitTimer);
    timers.push(killTimer, exitTimer);
  };
  control.onClosed(() => onLost("the poller is gone (stdin closed)"));
  // Nobody canceled the job: the process was told to stop (systemd stopping the runner's cgroup).
  const onTerminate = () => onLost("SIGTERM", new RunnerInterrupt("SIGTERM"));
  if (io.terminate?.aborted) onTerminate();
  else io.terminate?.addEventListener("abort", onTerminate, { once: true });
  const terminal = start.terminal
    ? new ExecutorTerminal({
      sessionTimeoutSeconds: start.terminal.sessionTimeoutSeconds,
      send: (event) => writer.event(event),
    })
    : null;
  if (terminal) control.onTerminal((m) => terminal.handle(m));
  let result: BuildResult;
  /** The executor whose cleanup runBuild leaves for after the result (see finishJob). */
  let ran: Executor | null = null;
  try {
    const context: ExecutorContext = {
      runner: start.runner,
      job: start.job,
      output: writer,
      cwd: start.cwd,
      env: io.env,
      shortToken: start.shortToken,
      concurrentId: start.concurrentId,
      concurrentProjectId: start.concurrentProjectId,
      stateDir: start.stateDir,
      tempDir: start.tempDir,
      ...(start.user ? { user: start.user } : {}),
      log,
      onProcessGroup: (pgid, isAlive) => {
        if (isAlive) groups.add(pgid);
        else groups.delete(pgid);
        writer.event({ type: "process-group", pgid, isAlive });
      },
    };
    const executor = await createExecutor(context);
    terminal?.setExecutor(executor);
    using jobFiles = !hasJobFiles(start.job)
      ? { hooks: undefined, [Symbol.dispose]() {} }
      : start.runner.executor === "custom"
      ? await runnerCommandHooks(context)
      : await jobFileHooks(context, executor, io.version, new ProtocolCacheUrls(writer, control));
    const tls = await readJobTls(start.runner, log);
    // runner exec's working tree for a job on another host (ssh, custom).
    const workspaceArchive = start.workspaceArchive === undefined
      ? undefined
      : await Deno.readFile(start.workspaceArchive);
    // An executor without finishJob is cleaned up by runBuild, as before.
    if (executor.finishJob) ran = executor;
    let executorStage: string | null = null;
    const build = runBuild({
      job: start.job,
      runner: start.runner,
      shortToken: start.shortToken,
      systemId: start.systemId,
      concurrentId: start.concurrentId,
      concurrentProjectId: start.concurrentProjectId,
      executor,
      output: writer,
      cancel: { graceful: graceful.signal, abort: abort.signal },
      version: io.version,
      ...(jobFiles.hooks ? { hooks: jobFiles.hooks } : {}),
      ...(workspaceArchive !== undefined ? { workspaceArchive } : {}),
      onStage: (stage) => writer.event({ type: "stage", stage }),
      onExecutorStep: (step) => {
        const name = executorStageName(start.runner.executor, step);
        if (name === null || name === executorStage) return;
        executorStage = name;
        writer.event({ type: "executor-stage", stage: name });
      },
      log,
      tls,
      ...(terminal ? { terminal } : {}),
      isCleanupDeferred: true,
    });
    const outcome = await Promise.race([build, lost.promise]);
    if (outcome === "lost") {
      // The executor's cleanup did not finish in time; the groups were killed above.
      await killProcessGroups(groups);
      log.error("Executor cleanup did not finish in time after the job was stopped");
      return "lost";
    }
    result = outcome;
  } catch (err) {
    await terminal?.close();
    const message = err instanceof JobFailedError ? err.message : `${(err as Error).message}`;
    const reason = err instanceof JobFailedError ? err.reason : "runner_system_failure";
    // As the official runner (and runBuild): "(system failure)" only for one.
    const failed = reason === "runner_system_failure"
      ? "Job failed (system failure)"
      : "Job failed";
    writer.write(new TextEncoder().encode(`\x1b[31;1mERROR: ${failed}: ${message}\x1b[0;m\n`));
    result = { state: "failed", failureReason: reason, message };
  } finally {
    io.terminate?.removeEventListener("abort", onTerminate);
  }
  terminal?.finish();
  writer.event({
    type: "result",
    state: result.state,
    ...(result.failureReason ? { failureReason: result.failureReason } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(result.message ? { message: result.message } : {}),
  });
  // A terminal still open when the result is out does not run into the next job.
  await terminal?.close();
  // The containers of a docker job are removed once the result is on its way to
  // the poller (it reports at once): the job's end does not wait for the daemon.
  // The process still goes idle or exits only after the removal.
  if (ran !== null) {
    await writer.flushed();
    const cleaned = ran.cleanup().catch((err: unknown) => {
      log.warn("Executor cleanup failed", { [F.ERROR]: String(err) });
    });
    if ((await Promise.race([cleaned, lost.promise])) === "lost") {
      log.error("Executor cleanup did not finish in time after the job was stopped");
    }
  }
  timers.forEach((timer) => clearTimeout(timer));
  return isLost ? "stopped" : "clean";
}

/** Answers a `sweep` message; a sweep that failed says why in `error`. */
async function sweep(io: ExecutorProcessIo, message: SweepMessage): Promise<SweptEvent> {
  const swept: SweptEvent = {
    type: "swept",
    containers: [],
    networks: [],
    volumes: [],
    failures: [],
  };
  try {
    const result = await sweepDockerLeftovers(message.runner, {
      stateDir: message.stateDir,
      env: io.env,
    });
    return result ? { ...swept, ...result } : swept;
  } catch (err) {
    return { ...swept, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Pre-signed cache URLs asked of the poller, which holds the credentials. */
class ProtocolCacheUrls implements CacheUrlSource {
  #next = 1;
  readonly #pending = new Map<number, (answer: CacheUrlAnswer) => void>();
  readonly #writer: FrameWriter;

  constructor(writer: FrameWriter, control: ControlChannel) {
    this.#writer = writer;
    control.onCacheUrl((answer) => {
      this.#pending.get(answer.id)?.(answer);
      this.#pending.delete(answer.id);
    });
  }

  async presign(key: string, method: CacheUrlMethod): Promise<PresignedRequest> {
    const id = this.#next++;
    const answer = Promise.withResolvers<CacheUrlAnswer>();
    this.#pending.set(id, answer.resolve);
    this.#writer.event({ type: "cache-url", id, key, method });
    // A poller that went away never answers.
    const timer = setTimeout(
      () => answer.resolve({ type: "cache-url", id, error: "the runner did not answer in 60 s" }),
      60_000,
    );
    try {
      const { url, headers, displayUrl, isBlockBlob, error } = await answer.promise;
      if (url === undefined) throw new Error(error ?? "the runner gave no URL");
      return {
        url,
        headers: headers ?? {},
        ...(displayUrl ? { displayUrl } : {}),
        ...(isBlockBlob ? { isBlockBlob } : {}),
      };
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
  }
}

/** Resolves when `signal` aborts (never without one); `cancel` drops the listener. */
function abortPromise(signal: AbortSignal | undefined): Promise<void> & { cancel(): void } {
  let cancel = () => {};
  const promise = new Promise<void>((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    cancel = () => signal.removeEventListener("abort", onAbort);
  });
  return Object.assign(promise, { cancel: () => cancel() });
}

/**
 * Whether any artifact or cache stage of `job` can have work to do: a superset
 * of the hooks' `isNeeded` (job_files/job_file_hooks.ts), decided without
 * loading them. Most jobs have none, and then the archive, zip and artifact
 * modules and the GitLab client are never imported by this process.
 */
export function hasJobFiles(job: JobSpec): boolean {
  return job.cache.some((c) => c.paths.length > 0 || c.untracked) ||
    job.artifacts.some((a) => a.paths.length > 0 || a.untracked) ||
    job.dependencies.some((d) => d.artifactsFile.filename !== "");
}

/**
 * The runner's TLS files for the job's file variables (git and the helper
 * commands read them there). A file that cannot be read, or is not PEM (DER,
 * empty), is left out with a warning, as the official runner passes the CA
 * file only once it parsed as PEM: git given a DER file as sslCAInfo fails,
 * and its NUL bytes cannot even be written into the job's script. The
 * certificate and key go together or not at all.
 */
async function readJobTls(
  runner: { tlsCaFile: string; tlsCertFile: string; tlsKeyFile: string },
  log: Logger,
): Promise<JobTls> {
  const read = async (
    setting: string,
    path: string,
    pem: { pattern: RegExp; label: string },
  ): Promise<string> => {
    if (!path) return "";
    try {
      const text = await Deno.readTextFile(path);
      if (!pem.pattern.test(text) || text.includes("\0")) {
        throw new Error(`it holds no PEM ${pem.label}`);
      }
      return text;
    } catch (err) {
      log.warn(`Cannot use ${setting} for the job, it gets no file of it`, {
        [F.FILE]: path,
        [F.ERROR]: err instanceof Error ? err.message : String(err),
      });
      return "";
    }
  };
  const both = runner.tlsCertFile !== "" && runner.tlsKeyFile !== "";
  const cert = both ? await read("tls-cert-file", runner.tlsCertFile, PEM_CERTIFICATE) : "";
  const key = cert ? await read("tls-key-file", runner.tlsKeyFile, PEM_PRIVATE_KEY) : "";
  return {
    caChain: await read("tls-ca-file", runner.tlsCaFile, PEM_CERTIFICATE),
    cert: key ? cert : "",
    key,
  };
}

const PEM_CERTIFICATE = {
  pattern: /-----BEGIN CERTIFICATE-----/,
  label: "certificate (-----BEGIN CERTIFICATE-----)",
};
const PEM_PRIVATE_KEY = {
  pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  label: "private key (-----BEGIN ... PRIVATE KEY-----)",
};

/**
 * The custom executor's file stages: its drivers run scripts that call this
 * runner's helper commands where the job runs, as the official runner's do.
 * The command is this binary when compiled, else deno with this entry module.
 */
async function runnerCommandHooks(
  context: ExecutorContext,
): Promise<{ hooks: BuildStageHooks } & Disposable> {
  const { createRunnerCommandHooks } = await import("../job_files/mod.ts");
  const { isCompiledBinary } = await import("../poller/compiled_grants.ts");
  // Here, not at the top: a node: module costs every executor process's start (path/host_path.ts).
  const { fileURLToPath: fromFileUrl } = await import("node:url");
  const exec = Deno.execPath();
  const runnerCommand = isCompiledBinary(exec)
    ? [exec]
    : [exec, "run", "--allow-all", "--quiet", fromFileUrl(new URL("./main.ts", import.meta.url))];
  return {
    hooks: createRunnerCommandHooks({
      runnerCommand,
      url: context.runner.url,
      artifact: context.runner.artifact,
    }),
    [Symbol.dispose]() {},
  };
}

/** The artifact and cache stage hooks; disposing closes their GitLab client. */
async function jobFileHooks(
  context: ExecutorContext,
  executor: Executor,
  version: RunnerVersion,
  cacheUrls: CacheUrlSource,
): Promise<{ hooks: BuildStageHooks } & Disposable> {
  const [
    { JobClient },
    { configUploadDeadlines, createJobFileHooks, JobArtifactTransfer },
    { runnerInfoFor, tlsFilesOf },
  ] = await Promise.all([
    import("../gitlab/job_client.ts"),
    import("../job_files/mod.ts"),
    import("./runner_identity.ts"),
  ]);
  const cache = context.runner.cache;
  // Only a runner with a distributed cache loads its store and HTTP transfer.
  const distributed = cache.type === "" ? null : await Promise.all([
    import("../cache/distributed_cache_store.ts"),
    import("../cache/object_transfer.ts"),
  ]);
  const files = await createJobFiles(context, executor);
  // Artifacts go to GitLab with the job token only: the runner token never
  // reaches this process.
  const client = new JobClient({
    url: context.runner.url,
    runnerInfo: runnerInfoFor({
      name: version.name,
      version: version.version,
      revision: version.revision,
      branch: "",
      builtAt: "",
      denoVersion: Deno.version.deno,
      os: version.os,
      architecture: version.arch,
    }, context.runner),
    ...tlsFilesOf(context.runner),
    log: context.log,
  });
  return {
    hooks: createJobFileHooks({
      files: () => files,
      artifacts: new JobArtifactTransfer(client, configUploadDeadlines(context.runner.artifact)),
      featureFlags: context.runner.featureFlags,
      ...(distributed
        ? {
          distributedCache: (local, log, signal, progress, requestTimeoutMs) => {
            const [{ DistributedCacheStore }, { HttpObjectTransfer }] = distributed;
            return new DistributedCacheStore({
              local,
              urls: cacheUrls,
              transfer: new HttpObjectTransfer(),
              maxUploadedArchiveSize: cache.maxUploadedArchiveSize,
              log,
              signal,
              progress,
              requestTimeoutMs,
            });
          },
        }
        : {}),
    }),
    [Symbol.dispose]: () => client[Symbol.dispose](),
  };
}
