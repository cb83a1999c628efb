/**
 * Wire protocol between the poller and an executor subprocess.
 *
 * Both directions carry frames: one type byte, a 4-byte big-endian payload
 * length, then the payload. The poller writes a `start` message first, then
 * `cancel` messages, `cache-url` answers and web terminal messages; the
 * executor writes raw trace bytes (one TRACE frame type per output stream,
 * see `traceFrameType`) and JSON events (EVENT frames), ending with exactly
 * one `result` event. An
 * executor process that exits without a `result` crashed: its job is a
 * runner_system_failure. A start message with `isReusable` asks the process to
 * stay for another job: after the result (and after its cleanup) it sends an
 * `idle` event, which ends that job's frames, and reads the next `start`;
 * messages that reach it between jobs are dropped. Without `isReusable`, or
 * when the process cannot take another job, it closes stdout and exits
 * after the result instead. A process may be given a `sweep` message instead
 * of a job: it answers with one `swept` event and exits. Pure: no I/O here.
 */
import type { FailureReason } from "../job/failure_reason.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { OutputStream } from "../job/output_stream.ts";

/** Trace bytes from the script's stdout. */
export const FRAME_TRACE = 1;
export const FRAME_MESSAGE = 2;
/** Trace bytes from the script's stderr. */
export const FRAME_TRACE_STDERR = 3;
/** The runner's own trace lines. */
export const FRAME_TRACE_RUNNER = 4;
/** The runner's own diagnostics (a custom driver's stderr). */
export const FRAME_TRACE_RUNNER_STDERR = 5;
/** Service containers' output (CI_DEBUG_SERVICES). */
export const FRAME_TRACE_SERVICE = 6;

const TRACE_FRAME_TYPES: Record<OutputStream, number> = {
  stdout: FRAME_TRACE,
  stderr: FRAME_TRACE_STDERR,
  runner: FRAME_TRACE_RUNNER,
  "runner_stderr": FRAME_TRACE_RUNNER_STDERR,
  service: FRAME_TRACE_SERVICE,
};

/** The frame type that carries trace bytes of `stream`. */
export function traceFrameType(stream: OutputStream): number {
  return TRACE_FRAME_TYPES[stream];
}

/** The output stream a frame of `type` carries, or null when it is not a trace frame. */
export function traceStreamOf(type: number): OutputStream | null {
  switch (type) {
    case FRAME_TRACE:
      return "stdout";
    case FRAME_TRACE_STDERR:
      return "stderr";
    case FRAME_TRACE_RUNNER:
      return "runner";
    case FRAME_TRACE_RUNNER_STDERR:
      return "runner_stderr";
    case FRAME_TRACE_SERVICE:
      return "service";
    default:
      return null;
  }
}

/** Largest payload a trace frame may carry; bigger trace writes are split. */
export const MAX_FRAME_PAYLOAD = 1 << 20;

/**
 * Largest payload a message frame may carry. A message is never split, and
 * the start message holds the whole job as GitLab sent it: file variables
 * alone may hold 3 MiB each on a self-managed GitLab (its default
 * `ci_variable_file_value_size`), so a job's payload easily passes the 1 MiB
 * of a trace frame.
 */
export const MAX_MESSAGE_PAYLOAD = 64 << 20;

/** Everything the executor process needs; never the runner token. */
export interface StartMessage {
  type: "start";
  job: JobSpec;
  /** The runner's settings as `executorSettings` leaves them: no token, no expansion record. */
  runner: RunnerConfig;
  shortToken: string;
  systemId: string;
  concurrentId: number;
  concurrentProjectId: number;
  /** Working directory of the runner; relative builds/cache dirs resolve against it. */
  cwd: string;
  /** Directory shared by every executor process of this runner (locks, orphan bookkeeping). */
  stateDir: string;
  /** Temporary directory this process may use (scripts, JOB_RESPONSE_FILE). */
  tempDir: string;
  /**
   * `runner exec` with a remote executor (ssh, custom): a tar archive of the
   * working tree in `tempDir`, which the job's get_sources stage extracts into
   * the project directory in place of a clone. Absent for jobs from GitLab.
   */
  workspaceArchive?: string;
  /** Global `user` (or `run --user`): shell jobs run as this user through su. Absent: the runner's own. */
  user?: string;
  /**
   * Present when GitLab got a web terminal session for this job: a terminal
   * still connected when the script ends keeps the job open this long.
   */
  terminal?: { sessionTimeoutSeconds: number };
  /**
   * The poller may send another job of the same permission set after this
   * one: end it with an `idle` event and wait for the next start message.
   */
  isReusable?: boolean;
}

/**
 * The runner settings an executor process gets: an allow-list. Every field of
 * RunnerConfig is named here, with no spread at the top level, so a field
 * added to RunnerConfig does not compile until someone decides whether
 * executors may see it. Copied: what the executor process, runBuild and the
 * job-file steps read (executor sections, directories, scripts, timeouts,
 * flags, TLS file paths, the GitLab URL for artifacts and their upload
 * deadlines). Left out (empty):
 * the runner token and its dates, `envExpansion` (whose `token.value` is the
 * expanded `token = "$VAR"`), every credential of the distributed cache (the
 * poller signs URLs and answers `cache-url` requests; the executor keeps
 * only the cache type and size limit), the raw values of keys we do not model
 * (`unsupported`: `[runners.kubernetes] bearer_token`, `[runners.machine]
 * MachineOptions`, …), and the poller's own request and trace settings.
 */
export function executorSettings(runner: RunnerConfig): RunnerConfig {
  return {
    // What the executor process uses.
    name: runner.name,
    url: runner.url,
    id: runner.id,
    tlsCaFile: runner.tlsCaFile,
    tlsCertFile: runner.tlsCertFile,
    tlsKeyFile: runner.tlsKeyFile,
    executor: runner.executor,
    shell: runner.shell,
    buildsDir: runner.buildsDir,
    cacheDir: runner.cacheDir,
    cloneUrl: runner.cloneUrl,
    environment: [...runner.environment],
    preGetSourcesScript: runner.preGetSourcesScript,
    postGetSourcesScript: runner.postGetSourcesScript,
    preBuildScript: runner.preBuildScript,
    postBuildScript: runner.postBuildScript,
    prepareTimeout: runner.prepareTimeout,
    getSourcesTimeout: runner.getSourcesTimeout,
    debugTraceDisabled: runner.debugTraceDisabled,
    safeDirectoryCheckout: runner.safeDirectoryCheckout,
    cleanGitConfig: runner.cleanGitConfig,
    customBuildDirEnabled: runner.customBuildDirEnabled,
    featureFlags: { ...runner.featureFlags },
    labels: { ...runner.labels },
    combinedLabels: { ...runner.combinedLabels },
    artifact: { ...runner.artifact },
    cache: {
      type: runner.cache.type,
      path: runner.cache.path,
      shared: runner.cache.shared,
      maxUploadedArchiveSize: runner.cache.maxUploadedArchiveSize,
      s3: { ...NO_S3 },
      gcs: { ...NO_GCS },
      azure: { ...NO_AZURE },
    },
    docker: {
      ...runner.docker,
      services: runner.docker.services.map((s) => ({ ...s, unsupported: {} })),
    },
    ssh: { ...runner.ssh },
    custom: { ...runner.custom },
    // The poller's alone.
    token: "",
    tokenObtainedAt: "",
    tokenExpiresAt: "",
    envExpansion: { url: null, token: null },
    unsupported: {},
    limit: 0,
    requestConcurrency: 0,
    strictCheckInterval: false,
    outputLimit: 0,
    unhealthyRequestsLimit: 0,
    unhealthyInterval: 0,
    jobStatusFinalUpdateRetryLimit: 0,
  };
}

const NO_S3: RunnerConfig["cache"]["s3"] = {
  serverAddress: "",
  accessKey: "",
  secretKey: "",
  sessionToken: "",
  bucketName: "",
  bucketLocation: "",
  insecure: false,
  authenticationType: "",
  serverSideEncryption: "",
  serverSideEncryptionKeyId: "",
  dualStack: false,
  pathStyle: null,
  accelerate: false,
  roleArn: "",
  uploadRoleArn: "",
  assumeRoleMaxConcurrency: 0,
  disableAssumeRoleCredentialsCaching: false,
};

const NO_GCS: RunnerConfig["cache"]["gcs"] = {
  credentialsFile: "",
  accessId: "",
  privateKey: "",
  bucketName: "",
  universeDomain: "",
};

const NO_AZURE: RunnerConfig["cache"]["azure"] = {
  accountName: "",
  accountKey: "",
  containerName: "",
  storageDomain: "",
};

export interface CancelMessage {
  type: "cancel";
  /** true: stop the script, still run after_script; false: kill everything now. */
  graceful: boolean;
  /**
   * The signal the runner is stopping on (SIGTERM, SIGINT), with `graceful`
   * false: the job is aborted as runner_interrupted, not canceled.
   */
  interrupt?: string;
}

/**
 * The poller's answer to a `CacheUrlRequest` with the same id: a pre-signed
 * request, or why there is none (the cache step then warns and goes on).
 */
export interface CacheUrlAnswer {
  type: "cache-url";
  id: number;
  url?: string;
  headers?: Record<string, string>;
  /** How the job log names the object, when not the URL without its query (Azure: `azblob://`). */
  displayUrl?: string;
  /** Azure: upload as a block blob (see PresignedRequest). */
  isBlockBlob?: boolean;
  error?: string;
}

/**
 * Web terminal, poller to executor: `terminal-open` starts a terminal in the
 * job (answered by `terminal-started`, or `terminal-closed` with an error),
 * `terminal-input` carries keystrokes (base64), `terminal-close` ends it (the
 * websocket went away), `terminal-pause` and `terminal-resume` stop and restart
 * reading its output while the websocket client is behind (so a shell printing
 * faster than the client reads waits, as on a real terminal, instead of the
 * poller buffering its output). At most one terminal is open at a time; ids
 * tell a late message of an ended terminal from the next one's.
 */
export type TerminalRequest =
  | { type: "terminal-open"; id: number }
  | { type: "terminal-input"; id: number; data: string }
  | { type: "terminal-pause"; id: number }
  | { type: "terminal-resume"; id: number }
  | { type: "terminal-close"; id: number };

/**
 * Instead of a job: remove the docker containers, networks and volumes that
 * executor processes of this runner host left when they died (their owner
 * lease is free, see executors/docker/owner_lease.ts). The poller sends it to
 * a fresh process of a dead one's permission set, which holds the docker
 * access the poller lacks; the process answers with a `SweptEvent` and exits.
 */
export interface SweepMessage {
  type: "sweep";
  /** The runner's settings as `executorSettings` leaves them (docker endpoint, executor). */
  runner: RunnerConfig;
  /** As in StartMessage: where the owner leases are. */
  stateDir: string;
}

export type ToExecutor =
  | StartMessage
  | SweepMessage
  | CancelMessage
  | CacheUrlAnswer
  | TerminalRequest;

export interface StageEvent {
  type: "stage";
  stage: string;
}

/** The job's executor stage changed (`prepare`, `docker_run`, …: executors/executor_stage.ts). */
export interface ExecutorStageEvent {
  type: "executor-stage";
  stage: string;
}

export interface ResultEvent {
  type: "result";
  state: "success" | "failed";
  failureReason?: FailureReason;
  exitCode?: number;
  message?: string;
}

/** A process group the executor started (alive) or saw end; the poller kills live ones if the executor dies. */
export interface ProcessGroupEvent {
  type: "process-group";
  pgid: number;
  isAlive: boolean;
}

/**
 * Asks the poller, which holds the distributed cache's credentials, for a
 * pre-signed URL for cache `key` of this job's project (the poller forms the
 * object name). Answered by a `CacheUrlAnswer` with the same id.
 */
export interface CacheUrlRequest {
  type: "cache-url";
  id: number;
  key: string;
  method: "GET" | "PUT";
}

/**
 * Web terminal, executor to poller: the terminal runs, its output (base64),
 * and its end (`error`: it could not start, or why it ended).
 */
export type TerminalEvent =
  | { type: "terminal-started"; id: number }
  | { type: "terminal-output"; id: number; data: string }
  | { type: "terminal-closed"; id: number; error?: string };

/**
 * After a reusable job's result: the job's frames are over and the process
 * waits for the next start message. Nothing of the job it knows of still runs.
 */
export interface IdleEvent {
  type: "idle";
}

/** The answer to a `SweepMessage`: what was removed, and what could not be (with why). */
export interface SweptEvent {
  type: "swept";
  containers: string[];
  networks: string[];
  volumes: string[];
  failures: { name: string; reason: string }[];
  /** Why the sweep could not run at all (the daemon did not answer, say). */
  error?: string;
}

export type FromExecutor =
  | StageEvent
  | ExecutorStageEvent
  | SweptEvent
  | ResultEvent
  | IdleEvent
  | ProcessGroupEvent
  | CacheUrlRequest
  | TerminalEvent;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(5 + payload.length);
  frame[0] = type;
  new DataView(frame.buffer).setUint32(1, payload.length);
  frame.set(payload, 5);
  return frame;
}

/** A message too large for one frame: a job whose payload passes MAX_MESSAGE_PAYLOAD. */
export class MessageTooLargeError extends RangeError {
  override readonly name = "MessageTooLargeError";
}

/** Throws MessageTooLargeError past MAX_MESSAGE_PAYLOAD: the other side would refuse the frame. */
export function encodeMessage(message: ToExecutor | FromExecutor): Uint8Array {
  const payload = encoder.encode(JSON.stringify(message));
  if (payload.length > MAX_MESSAGE_PAYLOAD) {
    throw new MessageTooLargeError(
      `its ${message.type} message of ${payload.length} bytes exceeds the ${MAX_MESSAGE_PAYLOAD} bytes an executor process takes`,
    );
  }
  return encodeFrame(FRAME_MESSAGE, payload);
}

export interface Frame {
  type: number;
  /** From `FrameDecoder.push`: the caller's until the decoder's next push. */
  payload: Uint8Array;
}

const HEADER_BYTES = 5;

/**
 * A split frame up to this size (a 64 KiB payload, what one read of a pipe
 * holds) is put together in one of the decoder's two buffers; a bigger one
 * gets a buffer of its own.
 */
const REUSED_FRAME_BYTES = HEADER_BYTES + 64 * 1024;

/**
 * Reassembles frames from arbitrarily split chunks.
 *
 * The payloads `push` returns are the caller's until its next `push`: use
 * them (a trace sink copies what it keeps, `ByteSink`) or copy them before.
 * A frame that lies whole in a chunk is handed out as a view into it, and a
 * frame split across chunks is put together in a buffer the decoder reuses
 * two pushes later. The poller pays for every copy and allocation of a job's
 * log: merging each read with the bytes left over and copying out each
 * payload cost as much CPU as the whole trace pipeline after it (0.7 GB/s of
 * 4 KiB frames, 0.35 GB/s of 1 MiB ones), and a new buffer for each split
 * frame (with 64 KiB reads, nearly every 64 KiB frame) a sixth of the
 * pipeline's time and 20 MB of RSS growth in garbage.
 */
export class FrameDecoder {
  /** The unfinished frame's bytes so far, at the start of a buffer with room for all of it. */
  #partial: Uint8Array = new Uint8Array(0);
  #partialLength = 0;
  /** The buffers split frames take turns in, made on first use. */
  readonly #reused: (Uint8Array | null)[] = [null, null];
  #nextReused = 0;

  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let at = 0;
    if (this.#partialLength > 0) {
      at = this.#finishPartial(chunk, frames);
      if (this.#partialLength > 0) return frames;
    }
    while (chunk.length - at >= HEADER_BYTES) {
      const length = payloadLength(chunk, at);
      const end = at + HEADER_BYTES + length;
      if (end > chunk.length) break;
      frames.push({ type: chunk[at]!, payload: chunk.subarray(at + HEADER_BYTES, end) });
      at = end;
    }
    if (at < chunk.length) this.#startPartial(chunk.subarray(at));
    return frames;
  }

  /** Bytes of an unfinished frame; non-zero at end of stream means truncation. */
  get pending(): number {
    return this.#partialLength;
  }

  /**
   * Room for a frame of `size` bytes: the reused buffer that the frame
   * before the last one used (its payload was handed out before the last
   * push), or a buffer of its own past `REUSED_FRAME_BYTES`.
   */
  #room(size: number): Uint8Array {
    if (size > REUSED_FRAME_BYTES) return new Uint8Array(size);
    const k = this.#nextReused;
    this.#nextReused ^= 1;
    return this.#reused[k] ??= new Uint8Array(REUSED_FRAME_BYTES);
  }

  /** Keeps `rest`, the start of a frame that a later chunk finishes. */
  #startPartial(rest: Uint8Array): void {
    // Before its header is whole, the frame's size is not known: room for the usual.
    const size = rest.length >= HEADER_BYTES
      ? HEADER_BYTES + payloadLength(rest, 0)
      : REUSED_FRAME_BYTES;
    this.#partial = this.#room(size);
    this.#partial.set(rest);
    this.#partialLength = rest.length;
  }

  /** Adds the start of `chunk` to the unfinished frame; returns how much of it was used. */
  #finishPartial(chunk: Uint8Array, frames: Frame[]): number {
    let at = 0;
    if (this.#partialLength < HEADER_BYTES) {
      at = Math.min(HEADER_BYTES - this.#partialLength, chunk.length);
      this.#partial.set(chunk.subarray(0, at), this.#partialLength);
      this.#partialLength += at;
      if (this.#partialLength < HEADER_BYTES) return at;
      const size = HEADER_BYTES + payloadLength(this.#partial, 0);
      if (size > this.#partial.length) {
        const header = this.#partial.subarray(0, HEADER_BYTES);
        this.#partial = new Uint8Array(size);
        this.#partial.set(header);
      }
    }
    const partial = this.#partial;
    const size = HEADER_BYTES + payloadLength(partial, 0);
    const n = Math.min(size - this.#partialLength, chunk.length - at);
    partial.set(chunk.subarray(at, at + n), this.#partialLength);
    this.#partialLength += n;
    at += n;
    if (this.#partialLength === size) {
      frames.push({ type: partial[0]!, payload: partial.subarray(HEADER_BYTES, size) });
      this.#partialLength = 0;
    }
    return at;
  }
}

/**
 * The payload length in the header at `at`; a RangeError past
 * MAX_MESSAGE_PAYLOAD for a message frame, MAX_FRAME_PAYLOAD for any other.
 */
function payloadLength(bytes: Uint8Array, at: number): number {
  const length = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) |
    bytes[at + 4]!) >>> 0;
  const limit = bytes[at] === FRAME_MESSAGE ? MAX_MESSAGE_PAYLOAD : MAX_FRAME_PAYLOAD;
  if (length > limit) {
    throw new RangeError(`Frame of ${length} bytes exceeds the ${limit} byte limit`);
  }
  return length;
}

/** Bytes as base64, for terminal data inside JSON messages. */
export function encodeBase64(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(text);
}

export function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function decodeMessage<T extends ToExecutor | FromExecutor>(payload: Uint8Array): T {
  const value = JSON.parse(decoder.decode(payload));
  if (typeof value !== "object" || value === null || typeof value.type !== "string") {
    throw new TypeError("Executor protocol message has no type");
  }
  return value as T;
}
