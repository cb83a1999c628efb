import type { Clock } from "./clock.ts";
import type {
  JobRef,
  JobUpdate,
  PatchResult,
  RemoteJobStatus,
  TraceTransport,
  UpdateResult,
} from "./transport.ts";

/** What the uploader reads; `JobTrace` implements it. */
export interface TraceSource {
  /** Stored bytes so far. */
  readonly size: number;
  /** Up to `maxLength` stored bytes from `offset`. */
  read(offset: number, maxLength: number): Uint8Array;
  /** `crc32:%08x` over the stored bytes. */
  checksum(): string;
}

/** The job's outcome for the final `PUT jobs/<id>`. */
export interface FinalJobState {
  state: "success" | "failed";
  /** Only with `failed`; already mapped to a value the server accepts. */
  failureReason?: string;
  exitCode?: number;
}

export type FinalUpdateOutcome =
  /** GitLab answered 200: it has the state, checksum and size. */
  | "delivered"
  /** 403 or `Job-Status: canceled|failed`: GitLab no longer runs the job for us. */
  | "aborted"
  /** 404: the job is gone. */
  | "not-found"
  /** Every attempt failed (`job_status_final_update_retry_limit`). */
  | "retry-limit"
  /** The signal given to `finish` aborted first. */
  | "interrupted";

export interface FinalUpdateResult {
  /** Whether GitLab accepted the final state. */
  isDelivered: boolean;
  outcome: FinalUpdateOutcome;
  /** Attempts used (202 and 412 loops do not count). */
  attempts: number;
  /** Trace bytes GitLab had confirmed at the end. */
  sentBytes: number;
  /** Why the last failed attempt failed, for the runner log. */
  lastError?: string;
}

export interface TraceUploaderOptions {
  transport: TraceTransport;
  job: JobRef;
  trace: TraceSource;
  clock: Clock;
  /**
   * Build must stop: 403, or `Job-Status: canceled|failed`, on a trace PATCH
   * or touch during the run. Called at most once; the send loop then ends.
   */
  onAbort?: (jobStatus: RemoteJobStatus | undefined) => void;
  /** `Job-Status: canceling`: cancel the user script gracefully. Called at most once. */
  onCancelRequested?: () => void;
  /** Interval at the start and again at the final update. Default 3 s. */
  updateIntervalMs?: number;
  /** Cap on server-sent intervals. Default 15 min. */
  maxUpdateIntervalMs?: number;
  /** Touch the job when nothing was sent for longer than this. Default 30 s. */
  forceSendIntervalMs?: number;
  /** `FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL`: 4 × interval, clamped 30 s…30 min. */
  isDynamicForceSendInterval?: boolean;
  /** Largest PATCH body. Default 1 MiB. */
  maxChunkBytes?: number;
  /** `job_status_final_update_retry_limit`. Default 10. */
  finalUpdateRetryLimit?: number;
  /** Backoff between failed final attempts: doubles from 1 s up to 60 min. */
  finalBackoffMinMs?: number;
  finalBackoffMaxMs?: number;
  /**
   * A final attempt failed with `error` and attempt `attempt + 1` follows in
   * `delayMs`: the runner log says so (retries can take minutes while GitLab
   * is down, a runner waiting on them to stop seemed hung).
   */
  onFinalRetry?: (attempt: number, error: string, delayMs: number) => void;
}

export const DEFAULT_UPDATE_INTERVAL_MS = 3_000;
export const MAX_UPDATE_INTERVAL_MS = 15 * 60_000;
export const MIN_FORCE_SEND_INTERVAL_MS = 30_000;
export const MAX_FORCE_SEND_INTERVAL_MS = 30 * 60_000;
export const MAX_TRACE_PATCH_BYTES = 1024 * 1024;
export const DEFAULT_FINAL_UPDATE_RETRY_LIMIT = 10;
export const FINAL_BACKOFF_MIN_MS = 1_000;
export const FINAL_BACKOFF_MAX_MS = 60 * 60_000;
/**
 * GitLab no longer answers 412; if a server keeps doing so, the loop would
 * never end, so after this many in a row the attempt counts as failed.
 */
const MAX_TRACE_INVALID_IN_A_ROW = 3;
/**
 * A 416 names GitLab's trace size and the flush resends from there; one that
 * keeps coming (its Range at or before where each PATCH started: a broken
 * proxy or server) would hold the final update for ever, so after this many
 * in a row the attempt counts as failed, as the journal's recovery does.
 */
const MAX_RANGE_MISMATCH_IN_A_ROW = 5;
/**
 * 202 says GitLab keeps the final state pending while it persists the
 * trace; a server that answers nothing else would hold the job's slot for
 * ever, so after this many in a row the attempt counts as failed, as in the
 * journal's recovery (which then reports the job at the next start).
 */
const MAX_ACCEPTED_IN_A_ROW = 30;

type FinalStep = { isDone: true; outcome: FinalUpdateOutcome } | { isDone: false; error: string };

/**
 * Sends a job's trace to GitLab while it runs and delivers its final state
 * (spec/gitlab-runner-api.md §4.2, §4.3, §5.3), through `TraceTransport` only.
 *
 * Call order: `start()` once when the job starts; `finish(state)` once when
 * the trace is closed: it stops the send loop, flushes the rest and sends the
 * final `PUT`, and resolves with whether GitLab got it; it never throws for
 * GitLab's or the network's sake. `stop()` ends the loop without a final
 * update (the job is handed to someone else); it and dispose may run twice.
 * `stop()` aborts an in-flight request (the server offset is then re-learned
 * from the next 416 if needed); `finish` lets it complete, as the official
 * runner does: GitLab has most likely stored that PATCH already, and
 * resending it from the old offset met a 416 and a whole update interval of
 * sleep before the final `PUT` (§5.3).
 */
export class TraceUploader implements AsyncDisposable {
  readonly #transport: TraceTransport;
  readonly #job: JobRef;
  readonly #trace: TraceSource;
  readonly #clock: Clock;
  readonly #onAbort: ((jobStatus: RemoteJobStatus | undefined) => void) | undefined;
  readonly #onCancelRequested: (() => void) | undefined;
  readonly #defaultIntervalMs: number;
  readonly #maxIntervalMs: number;
  readonly #isDynamicForceSend: boolean;
  readonly #maxChunkBytes: number;
  readonly #retryLimit: number;
  readonly #backoffMinMs: number;
  readonly #backoffMaxMs: number;
  readonly #onFinalRetry: TraceUploaderOptions["onFinalRetry"];

  #intervalMs: number;
  #forceSendIntervalMs: number;
  /** Bytes GitLab confirmed; the next PATCH starts here. */
  #sentOffset = 0;
  /** When something last reached GitLab; touches happen when this gets old. */
  #lastSentAt = Number.NEGATIVE_INFINITY;
  /** 404 on PATCH: trace no longer accepted. */
  #isTraceGone = false;
  #isAborted = false;
  #isCancelRequested = false;
  /** Callbacks only fire while the job runs, not during the final update. */
  #isRunning = false;
  #loop: Promise<void> | undefined;
  /** Ends the send loop's waiting; an in-flight request completes. */
  readonly #stopper = new AbortController();
  /** Aborts the send loop's in-flight request: `stop()`, or an interrupted `finish`. */
  readonly #requestStopper = new AbortController();

  constructor(options: TraceUploaderOptions) {
    this.#transport = options.transport;
    this.#job = options.job;
    this.#trace = options.trace;
    this.#clock = options.clock;
    this.#onAbort = options.onAbort;
    this.#onCancelRequested = options.onCancelRequested;
    this.#defaultIntervalMs = positive(
      "updateIntervalMs",
      options.updateIntervalMs ?? DEFAULT_UPDATE_INTERVAL_MS,
    );
    this.#maxIntervalMs = positive(
      "maxUpdateIntervalMs",
      options.maxUpdateIntervalMs ?? MAX_UPDATE_INTERVAL_MS,
    );
    this.#forceSendIntervalMs = positive(
      "forceSendIntervalMs",
      options.forceSendIntervalMs ?? MIN_FORCE_SEND_INTERVAL_MS,
    );
    this.#isDynamicForceSend = options.isDynamicForceSendInterval ?? false;
    this.#maxChunkBytes = positive("maxChunkBytes", options.maxChunkBytes ?? MAX_TRACE_PATCH_BYTES);
    this.#retryLimit = positive(
      "finalUpdateRetryLimit",
      options.finalUpdateRetryLimit ?? DEFAULT_FINAL_UPDATE_RETRY_LIMIT,
    );
    this.#backoffMinMs = positive(
      "finalBackoffMinMs",
      options.finalBackoffMinMs ?? FINAL_BACKOFF_MIN_MS,
    );
    this.#backoffMaxMs = positive(
      "finalBackoffMaxMs",
      options.finalBackoffMaxMs ?? FINAL_BACKOFF_MAX_MS,
    );
    this.#intervalMs = this.#defaultIntervalMs;
    this.#onFinalRetry = options.onFinalRetry;
  }

  /** Trace bytes GitLab has confirmed so far. */
  get sentBytes(): number {
    return this.#sentOffset;
  }

  /** Current send interval (server-adjustable). */
  get updateIntervalMs(): number {
    return this.#intervalMs;
  }

  /** Starts the send loop: one chunk per interval, touches when idle. */
  start(): void {
    if (this.#loop !== undefined) throw new TypeError("Trace uploader was already started");
    this.#isRunning = true;
    this.#loop = this.#runLoop();
  }

  /** Ends the send loop (no final update); waits for it. */
  async stop(): Promise<void> {
    this.#requestStopper.abort();
    await this.#endLoop();
  }

  /** Ends the send loop after its in-flight request, if any; waits for it. */
  async #endLoop(): Promise<void> {
    this.#isRunning = false;
    this.#stopper.abort();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * The final update (§5.3): flush the trace, `PUT` the final state with the
   * trace checksum and size; 202 → wait and repeat, 412 → resend the trace
   * from byte 0; failed attempts retried up to the retry limit with doubling
   * backoff. Call after the trace is closed.
   */
  async finish(final: FinalJobState, signal?: AbortSignal): Promise<FinalUpdateResult> {
    const interrupt = () => this.#requestStopper.abort();
    if (signal?.aborted) interrupt();
    signal?.addEventListener("abort", interrupt, { once: true });
    try {
      await this.#endLoop();
    } finally {
      signal?.removeEventListener("abort", interrupt);
    }
    this.#intervalMs = this.#defaultIntervalMs;
    let attempts = 0;
    let backoffMs = this.#backoffMinMs;
    let lastError: string | undefined;
    const result = (outcome: FinalUpdateOutcome): FinalUpdateResult => ({
      isDelivered: outcome === "delivered",
      outcome,
      attempts,
      sentBytes: this.#sentOffset,
      ...(lastError === undefined ? {} : { lastError }),
    });
    for (;;) {
      if (signal?.aborted) return result("interrupted");
      attempts++;
      // The last attempt sends the final state even when the trace would not
      // go: GitLab then ends the job (with the log it has) instead of keeping
      // it running until its stuck-job timeout.
      const step = await this.#finalAttempt(final, attempts >= this.#retryLimit, signal);
      if (step.isDone) return result(step.outcome);
      lastError = step.error;
      if (attempts >= this.#retryLimit) return result("retry-limit");
      this.#onFinalRetry?.(attempts, lastError ?? "", backoffMs);
      await this.#clock.sleep(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, this.#backoffMaxMs);
    }
  }

  async #runLoop(): Promise<void> {
    const stopped = this.#stopper.signal;
    while (!stopped.aborted) {
      await this.#clock.sleep(this.#intervalMs, stopped);
      if (stopped.aborted) break;
      if (!(await this.#incrementalUpdate(this.#requestStopper.signal))) break;
    }
  }

  /** One tick; false once the job must stop (abort). */
  async #incrementalUpdate(signal: AbortSignal): Promise<boolean> {
    if (!this.#isTraceGone && this.#sentOffset < this.#trace.size) {
      const patch = await this.#patch(signal);
      if (patch.kind === "abort") return this.#abortBuild(patch.jobStatus);
      // Only after a successful PATCH (or nothing to send) may we touch.
      if (patch.kind !== "accepted") return true;
    }
    if (this.#stopper.signal.aborted) return false;
    if (this.#clock.now() - this.#lastSentAt <= this.#forceSendIntervalMs) return true;
    const touch = await this.#update({
      state: "running",
      checksum: this.#trace.checksum(),
      bytesize: this.#trace.size,
    }, signal);
    if (touch.kind === "ok") this.#lastSentAt = this.#clock.now();
    if (touch.kind === "abort") return this.#abortBuild(touch.jobStatus);
    return true;
  }

  #abortBuild(jobStatus: RemoteJobStatus | undefined): false {
    if (!this.#isAborted && this.#isRunning) {
      this.#isAborted = true;
      this.#onAbort?.(jobStatus);
    }
    return false;
  }

  async #finalAttempt(
    final: FinalJobState,
    isLast: boolean,
    signal: AbortSignal | undefined,
  ): Promise<FinalStep> {
    let traceInvalidInARow = 0;
    let acceptedInARow = 0;
    for (;;) {
      let rangeMismatchInARow = 0;
      while (!this.#isTraceGone && this.#sentOffset < this.#trace.size) {
        if (signal?.aborted) return { isDone: true, outcome: "interrupted" };
        const patch = await this.#patch(signal);
        if (patch.kind === "accepted") {
          rangeMismatchInARow = 0;
          continue;
        }
        // GitLab refuses the trace; the PUT below learns the job's fate.
        if (patch.kind === "abort" || patch.kind === "not-found") break;
        await this.#clock.sleep(this.#intervalMs, signal);
        const isMismatch = patch.kind === "range-mismatch";
        if (isMismatch && ++rangeMismatchInARow < MAX_RANGE_MISMATCH_IN_A_ROW) continue;
        if (isLast) break;
        return {
          isDone: false,
          error: isMismatch
            ? `Trace PATCH failed: GitLab answered 416 ${MAX_RANGE_MISMATCH_IN_A_ROW} times in a row (last Range 0-${patch.serverSize})`
            : `Trace PATCH failed: ${describe(patch)}`,
        };
      }
      if (signal?.aborted) return { isDone: true, outcome: "interrupted" };
      const update: JobUpdate = {
        state: final.state,
        checksum: this.#trace.checksum(),
        bytesize: this.#trace.size,
      };
      if (final.failureReason !== undefined) update.failureReason = final.failureReason;
      if (final.exitCode !== undefined) update.exitCode = final.exitCode;
      const answer = await this.#update(update, signal);
      switch (answer.kind) {
        case "ok":
          this.#lastSentAt = this.#clock.now();
          return { isDone: true, outcome: "delivered" };
        case "abort":
          return { isDone: true, outcome: "aborted" };
        case "not-found":
          return { isDone: true, outcome: "not-found" };
        case "accepted":
          // GitLab is still persisting live trace chunks: same PUT again.
          traceInvalidInARow = 0;
          await this.#clock.sleep(this.#intervalMs, signal);
          if (++acceptedInARow >= MAX_ACCEPTED_IN_A_ROW) {
            return {
              isDone: false,
              error:
                `Final job update failed: GitLab answered 202 to ${MAX_ACCEPTED_IN_A_ROW} final updates in a row`,
            };
          }
          continue;
        case "trace-invalid":
          if (++traceInvalidInARow > MAX_TRACE_INVALID_IN_A_ROW) {
            return { isDone: false, error: "GitLab rejected the trace checksum repeatedly (412)" };
          }
          await this.#clock.sleep(this.#intervalMs, signal);
          this.#sentOffset = 0;
          this.#lastSentAt = this.#clock.now();
          continue;
        case "failed":
          await this.#clock.sleep(this.#intervalMs, signal);
          return { isDone: false, error: `Final job update failed: ${describe(answer)}` };
      }
    }
  }

  /** PATCHes one chunk from the sent offset and applies what GitLab said. */
  async #patch(signal: AbortSignal | undefined): Promise<PatchResult> {
    const start = this.#sentOffset;
    let chunk: Uint8Array;
    try {
      chunk = this.#trace.read(start, this.#maxChunkBytes);
    } catch (cause) {
      return {
        kind: "failed",
        error: `Cannot read the stored trace at ${start}: ${message(cause)}`,
      };
    }
    if (chunk.length === 0) return { kind: "accepted" };
    let result: PatchResult;
    try {
      result = await this.#transport.patchTrace(this.#job, chunk, start, signal);
    } catch (cause) {
      result = { kind: "failed", error: message(cause) };
    }
    result = this.#noteJobStatus(result);
    switch (result.kind) {
      case "accepted":
        this.#setInterval(result.updateIntervalSeconds);
        this.#sentOffset = start + chunk.length;
        this.#lastSentAt = this.#clock.now();
        break;
      case "range-mismatch":
        if (!Number.isSafeInteger(result.serverSize) || result.serverSize < 0) {
          return {
            kind: "failed",
            error: `GitLab sent an unusable trace size "${result.serverSize}"`,
          };
        }
        this.#sentOffset = result.serverSize;
        this.#lastSentAt = this.#clock.now();
        break;
      case "not-found":
        this.#isTraceGone = true;
        break;
    }
    return result;
  }

  async #update(update: JobUpdate, signal: AbortSignal | undefined): Promise<UpdateResult> {
    let result: UpdateResult;
    try {
      result = await this.#transport.updateJob(this.#job, update, signal);
    } catch (cause) {
      result = { kind: "failed", error: message(cause) };
    }
    result = this.#noteJobStatus(result);
    if (result.kind === "accepted") this.#setInterval(result.updateIntervalSeconds);
    return result;
  }

  /**
   * `Job-Status: canceling` asks for a graceful cancel whatever the status
   * code; `canceled`/`failed` turns any answer into an abort (§4.2, §12.5).
   */
  #noteJobStatus<R extends PatchResult | UpdateResult>(
    result: R,
  ): R | { kind: "abort"; jobStatus: RemoteJobStatus } {
    // During the final update the answer's kind alone decides: a 200 to
    // `state=failed` may well carry `Job-Status: failed`.
    if (!this.#isRunning) return result;
    const status = "jobStatus" in result ? result.jobStatus : undefined;
    if (status === "canceled" || status === "failed") {
      return result.kind === "abort" ? result : { kind: "abort", jobStatus: status };
    }
    if (status === "canceling" && !this.#isCancelRequested) {
      this.#isCancelRequested = true;
      this.#onCancelRequested?.();
    }
    return result;
  }

  #setInterval(seconds: number | undefined): void {
    if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return;
    this.#intervalMs = Math.min(seconds * 1000, this.#maxIntervalMs);
    if (this.#isDynamicForceSend) {
      this.#forceSendIntervalMs = Math.min(
        Math.max(this.#intervalMs * 4, MIN_FORCE_SEND_INTERVAL_MS),
        MAX_FORCE_SEND_INTERVAL_MS,
      );
    }
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`Trace uploader option "${name}" must be a positive number: got ${value}`);
  }
  return value;
}

function describe(result: { status?: number; error?: string }): string {
  if (result.status !== undefined) return `GitLab answered ${result.status}`;
  return result.error ?? "no reason given";
}

function message(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
