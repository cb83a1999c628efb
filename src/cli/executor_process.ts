/**
 * `runner executor-process` (hidden): the child the poller starts for each
 * job. It reads the start message from stdin, runs the job with the executor
 * it names, and writes trace and events to stdout (executors/process_protocol.ts).
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
  type TerminalRequest,
  type ToExecutor,
  traceFrameType,
} from "../executors/process_protocol.ts";
import type { OutputStream } from "../job/output_stream.ts";
import { ExecutorTerminal } from "./executor_terminal.ts";
import type { JobOutput } from "../executors/executor.ts";
import { type BuildResult, runBuild } from "../build/run_build.ts";
import type { JobTls, RunnerVersion } from "../build/job_variables.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type { Executor } from "../executors/executor.ts";
import type { BuildStageHooks } from "../build/stage_hooks.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { createExecutor, createJobFiles, type ExecutorContext } from "./executor_factory.ts";
import type { CacheUrlSource } from "../cache/distributed_cache_store.ts";
import type { CacheUrlMethod, PresignedRequest } from "../cache/cache_url_signer.ts";

/** The poller closed stdin without sending a job (an unused spare process). */
export class NoJobError extends Error {
  override readonly name = "NoJobError";
}

/** Serialises frames onto stdout in order; `write` never blocks the caller. */
export class FrameWriter implements JobOutput {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #failed = false;

  constructor(stream: WritableStream<Uint8Array>) {
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
    this.#writer.write(frame).catch(() => {
      // The poller went away; the job cannot report anything more.
      this.#failed = true;
    });
  }

  async close(): Promise<void> {
    await this.#writer.ready.catch(() => {});
    await this.#writer.close().catch(() => {});
  }
}

export interface ControlChannel {
  start: StartMessage;
  /** `cancel` messages as they arrive. */
  onCancel(listener: (message: CancelMessage) => void): void;
  /** `cache-url` answers as they arrive (one listener). */
  onCacheUrl(listener: (message: CacheUrlAnswer) => void): void;
  /** Called once when stdin ends after the start message: the poller is gone. */
  onClosed(listener: () => void): void;
  /** Web terminal messages as they arrive (one listener; earlier ones are queued). */
  onTerminal(listener: (message: TerminalRequest) => void): void;
}

/** Reads the start message, then keeps reading cancel messages in the background. */
export async function readControl(stdin: ReadableStream<Uint8Array>): Promise<ControlChannel> {
  const reader = stdin.getReader();
  const decoder = new FrameDecoder();
  const queued: ToExecutor[] = [];
  const listeners: ((m: CancelMessage) => void)[] = [];
  let onCacheUrl: (m: CacheUrlAnswer) => void = () => {};
  const terminalQueue: TerminalRequest[] = [];
  let onTerminal: (m: TerminalRequest) => void = (m) => terminalQueue.push(m);

  const pump = async (): Promise<void> => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const frame of decoder.push(value)) {
        if (frame.type !== FRAME_MESSAGE) continue;
        const message = decodeMessage<ToExecutor>(frame.payload);
        if (message.type === "cancel") {
          if (listeners.length > 0) listeners.forEach((l) => l(message));
          else queued.push(message);
        } else if (message.type.startsWith("terminal-")) {
          // A terminal may be asked for in the same read as the start message.
          onTerminal(message as TerminalRequest);
        } else queued.push(message);
      }
      if (queued.length > 0 && queued[0]?.type === "start") return;
    }
  };
  await pump();
  const start = queued.shift();
  if (start === undefined) throw new NoJobError("stdin closed before a job arrived");
  if (start.type !== "start") {
    throw new TypeError("Executor process got no start message on stdin");
  }
  // stdin ends only when the poller is gone (killed, crashed): nobody can cancel us any more.
  let isClosed = false;
  const closedListeners: (() => void)[] = [];
  const rest = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const frame of decoder.push(value)) {
          if (frame.type !== FRAME_MESSAGE) continue;
          const message = decodeMessage<ToExecutor>(frame.payload);
          if (message.type === "cancel") listeners.forEach((l) => l(message));
          else if (message.type === "cache-url") onCacheUrl(message);
          else if (message.type.startsWith("terminal-")) onTerminal(message as TerminalRequest);
        }
      }
    } catch {
      // stdin broke: the poller is gone.
    }
    isClosed = true;
    closedListeners.forEach((l) => l());
  })();
  void rest;
  return {
    start,
    onCancel(listener) {
      listeners.push(listener);
      for (const m of queued.splice(0)) if (m.type === "cancel") listener(m);
    },
    onCacheUrl(listener) {
      onCacheUrl = listener;
    },
    onClosed(listener) {
      if (isClosed) listener();
      else closedListeners.push(listener);
    },
    onTerminal(listener) {
      onTerminal = listener;
      for (const m of terminalQueue.splice(0)) listener(m);
    },
  };
}

export interface ExecutorProcessIo {
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
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

/** Runs the job the poller sends; resolves with the process exit code. */
export async function runExecutorProcess(io: ExecutorProcessIo): Promise<number> {
  const writer = new FrameWriter(io.stdout);
  let control: ControlChannel;
  try {
    const terminated = abortPromise(io.terminate);
    const read = readControl(io.stdin);
    const first = await Promise.race([read, terminated.then(() => null)]);
    terminated.cancel();
    // A spare process stopped before any job: nothing to clean up.
    if (first === null) throw new NoJobError("stopped before a job arrived");
    control = first;
  } catch (err) {
    // A spare process the poller no longer needs: stdin closed before any job.
    if (err instanceof NoJobError) {
      await writer.close();
      return 0;
    }
    io.log.error("Executor process got no job", { [F.ERROR]: (err as Error).message });
    await writer.close();
    return 2;
  }
  const { start } = control;
  const graceful = new AbortController();
  const abort = new AbortController();
  control.onCancel((m) => (m.graceful ? graceful : abort).abort());
  const log = io.log.child({ [F.JOB_ID]: start.job.id, [F.EXECUTOR]: start.runner.executor });
  // Process groups of running stages: killed here too if the executor cannot stop them in time.
  const groups = new Set<number>();
  const lost = Promise.withResolvers<"lost">();
  let isLost = false;
  const onLost = (why: string) => {
    if (isLost) return;
    isLost = true;
    log.warn(`Stopping the job: ${why}`);
    abort.abort();
    const killTimer = setTimeout(() => groups.forEach((pgid) => killGroup(pgid)), LOST_KILL_MS);
    const exitTimer = setTimeout(() => lost.resolve("lost"), LOST_EXIT_MS);
    Deno.unrefTimer(killTimer);
    Deno.unrefTimer(exitTimer);
  };
  control.onClosed(() => onLost("the poller is gone (stdin closed)"));
  if (io.terminate?.aborted) onLost("SIGTERM");
  else io.terminate?.addEventListener("abort", () => onLost("SIGTERM"), { once: true });
  const terminal = start.terminal
    ? new ExecutorTerminal({
      sessionTimeoutSeconds: start.terminal.sessionTimeoutSeconds,
      send: (event) => writer.event(event),
    })
    : null;
  if (terminal) control.onTerminal((m) => terminal.handle(m));
  let result: BuildResult;
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
      onStage: (stage) => writer.event({ type: "stage", stage }),
      log,
      tls: await readJobTls(start.runner, log),
      ...(terminal ? { terminal } : {}),
    });
    const outcome = await Promise.race([build, lost.promise]);
    if (outcome === "lost") {
      // The executor's cleanup did not finish in time; the groups were killed above.
      groups.forEach((pgid) => killGroup(pgid));
      log.error("Executor cleanup did not finish in time after the job was stopped");
      return 1;
    }
    result = outcome;
  } catch (err) {
    await terminal?.close();
    const message = err instanceof JobFailedError ? err.message : `${(err as Error).message}`;
    writer.write(
      new TextEncoder().encode(
        `\x1b[31;1mERROR: Job failed (system failure): ${message}\x1b[0;m\n`,
      ),
    );
    result = {
      state: "failed",
      failureReason: err instanceof JobFailedError ? err.reason : "runner_system_failure",
      message,
    };
  }
  terminal?.finish();
  writer.event({
    type: "result",
    state: result.state,
    ...(result.failureReason ? { failureReason: result.failureReason } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(result.message ? { message: result.message } : {}),
  });
  await writer.close();
  return 0;
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

function killGroup(pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // Already gone.
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
 * commands read them there). An unreadable file is left out with a warning,
 * as the official runner does.
 */
async function readJobTls(
  runner: { tlsCaFile: string; tlsCertFile: string; tlsKeyFile: string },
  log: Logger,
): Promise<JobTls> {
  const read = async (setting: string, path: string): Promise<string> => {
    if (!path) return "";
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      log.warn(`Cannot read ${setting} for the job`, {
        [F.FILE]: path,
        [F.ERROR]: err instanceof Error ? err.message : String(err),
      });
      return "";
    }
  };
  const both = runner.tlsCertFile !== "" && runner.tlsKeyFile !== "";
  return {
    caChain: await read("tls-ca-file", runner.tlsCaFile),
    cert: both ? await read("tls-cert-file", runner.tlsCertFile) : "",
    key: both ? await read("tls-key-file", runner.tlsKeyFile) : "",
  };
}

/**
 * The custom executor's file stages: its drivers run scripts that call this
 * runner's helper commands where the job runs, as the official runner's do.
 * The command is this binary when compiled, else deno with this entry module.
 */
async function runnerCommandHooks(
  context: ExecutorContext,
): Promise<{ hooks: BuildStageHooks } & Disposable> {
  const { createRunnerCommandHooks } = await import("../job_files/mod.ts");
  const { isCompiledBinary } = await import("../poller/process_launcher.ts");
  // Here, not at the top: a node: module costs every executor process's start (path/host_path.ts).
  const { fileURLToPath: fromFileUrl } = await import("node:url");
  const exec = Deno.execPath();
  const runnerCommand = isCompiledBinary(exec)
    ? [exec]
    : [exec, "run", "--allow-all", "--quiet", fromFileUrl(new URL("./main.ts", import.meta.url))];
  return {
    hooks: createRunnerCommandHooks({ runnerCommand, url: context.runner.url }),
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
    { createJobFileHooks, JobArtifactTransfer },
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
      artifacts: new JobArtifactTransfer(client),
      featureFlags: context.runner.featureFlags,
      ...(distributed
        ? {
          distributedCache: (local, log, signal, progress) => {
            const [{ DistributedCacheStore }, { HttpObjectTransfer }] = distributed;
            return new DistributedCacheStore({
              local,
              urls: cacheUrls,
              transfer: new HttpObjectTransfer(),
              maxUploadedArchiveSize: cache.maxUploadedArchiveSize,
              log,
              signal,
              progress,
            });
          },
        }
        : {}),
    }),
    [Symbol.dispose]: () => client[Symbol.dispose](),
  };
}
