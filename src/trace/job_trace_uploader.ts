/**
 * Sends a job's stored trace to GitLab while the job runs, then delivers the
 * final state (spec/gitlab-runner-api.md §4.3, §5.3).
 *
 * Call order: `start()` once, then `finish(update)` once, after the trace was
 * closed. `finish` stops the incremental loop, flushes what is left and sends
 * the final `PUT jobs/<id>` until GitLab took it: 202 is repeated after the
 * interval without counting as an attempt, 412 resends the trace from byte 0,
 * other failures (network errors included) are retried up to `finalRetryLimit`
 * times with a doubling backoff. It resolves false only when every attempt
 * failed; it never throws.
 */
import type { Logger } from "../log/logger.ts";
import type { JobRef, JobUpdate, RemoteJobStatus, TraceTransport } from "./transport.ts";

/** The stored trace as the uploader reads it; JobTrace implements it. */
export interface UploadableTrace {
  readonly size: number;
  read(offset: number, maxLength: number): Uint8Array;
  checksum(): string;
}

export interface UploaderClock {
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface TraceUploaderCallbacks {
  /** `Job-Status: canceling`: stop the user's script, keep after_script. */
  onCancelRequested(): void;
  /** 403 or `Job-Status: canceled|failed`: the job is gone; kill it. */
  onAbort(): void;
}

export interface TraceUploaderOptions {
  transport: TraceTransport;
  job: JobRef;
  trace: UploadableTrace;
  callbacks: TraceUploaderCallbacks;
  /** `job_status_final_update_retry_limit`; default 10. */
  finalRetryLimit?: number;
  clock?: UploaderClock;
  /** Start interval; default 3000 ms (GitLab may change it per answer). */
  updateIntervalMs?: number;
  /** Touch the job (`PUT state=running`) when nothing was sent for this long; default 30 s. */
  forceSendIntervalMs?: number;
  /** Longest backoff between final attempts; default 60 min. */
  maxBackoffMs?: number;
  log?: Logger;
}

export const MAX_TRACE_CHUNK_BYTES = 1024 * 1024;
const MAX_INTERVAL_MS = 15 * 60_000;
const DEFAULT_INTERVAL_MS = 3000;

export const SYSTEM_CLOCK: UploaderClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
};

export class TraceUploader {
  readonly #o: TraceUploaderOptions;
  readonly #clock: UploaderClock;
  readonly #startInterval: number;
  #interval: number;
  /** Bytes GitLab has. */
  #sent = 0;
  #lastSentAt: number;
  /** 404/403: no more PATCHes for this job. */
  #isSendingStopped = false;
  #isCancelRequested = false;
  #isAborted = false;
  readonly #stop = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(options: TraceUploaderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#startInterval = options.updateIntervalMs ?? DEFAULT_INTERVAL_MS;
    this.#interval = this.#startInterval;
    this.#lastSentAt = this.#clock.now();
  }

  /** Bytes GitLab has acknowledged. */
  get sentBytes(): number {
    return this.#sent;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      await this.#clock.sleep(this.#interval, stop);
      if (stop.aborted) return;
      try {
        await this.#tick(stop);
      } catch (err) {
        this.#o.log?.warn("Sending the job log failed", { "error": String(err) });
      }
    }
  }

  async #tick(signal: AbortSignal): Promise<void> {
    const { trace } = this.#o;
    let isQuiet = true;
    if (!this.#isSendingStopped && this.#sent < trace.size) {
      isQuiet = false;
      const outcome = await this.#patchOnce(signal);
      if (outcome !== "accepted") return;
    }
    if (
      isQuiet && this.#clock.now() - this.#lastSentAt >= (this.#o.forceSendIntervalMs ?? 30_000)
    ) {
      await this.#touch(signal);
    }
  }

  /** One PATCH of up to 1 MiB from the acknowledged offset. */
  async #patchOnce(signal?: AbortSignal): Promise<"accepted" | "moved" | "stopped" | "failed"> {
    const chunk = this.#o.trace.read(this.#sent, MAX_TRACE_CHUNK_BYTES);
    if (chunk.length === 0) return "accepted";
    const result = await this.#o.transport.patchTrace(this.#o.job, chunk, this.#sent, signal);
    if ("jobStatus" in result) this.#onJobStatus(result.jobStatus);
    switch (result.kind) {
      case "accepted":
        this.#sent += chunk.length;
        this.#lastSentAt = this.#clock.now();
        this.#setInterval(result.updateIntervalSeconds);
        return "accepted";
      case "range-mismatch":
        // GitLab has a different length than we think: continue from its size.
        this.#sent = Math.min(result.serverSize, this.#o.trace.size);
        return "moved";
      case "abort":
        this.#isSendingStopped = true;
        this.#abort();
        return "stopped";
      case "not-found":
        this.#isSendingStopped = true;
        return "stopped";
      case "failed":
        return "failed";
    }
  }

  async #touch(signal: AbortSignal): Promise<void> {
    const result = await this.#o.transport.updateJob(this.#o.job, {
      state: "running",
      checksum: this.#o.trace.checksum(),
      bytesize: this.#o.trace.size,
    }, signal);
    if ("jobStatus" in result) this.#onJobStatus(result.jobStatus);
    if (result.kind === "abort") this.#abort();
    if (result.kind === "ok" || result.kind === "accepted") this.#lastSentAt = this.#clock.now();
  }

  #setInterval(seconds: number | undefined): void {
    if (seconds === undefined || !(seconds > 0)) return;
    this.#interval = Math.min(seconds * 1000, MAX_INTERVAL_MS);
  }

  #onJobStatus(status: RemoteJobStatus | undefined): void {
    if (status === "canceling" && !this.#isCancelRequested) {
      this.#isCancelRequested = true;
      this.#o.callbacks.onCancelRequested();
    } else if (status === "canceled" || status === "failed") {
      this.#abort();
    }
  }

  #abort(): void {
    if (this.#isAborted) return;
    this.#isAborted = true;
    this.#o.callbacks.onAbort();
  }

  /**
   * Flushes the rest of the trace and sends the final state. `update` gets
   * the trace's checksum and size added.
   */
  async finish(update: Omit<JobUpdate, "checksum" | "bytesize">): Promise<boolean> {
    this.#stop.abort();
    await this.#loop;
    const limit = Math.max(1, this.#o.finalRetryLimit ?? 10);
    const final: JobUpdate = {
      ...update,
      checksum: this.#o.trace.checksum(),
      bytesize: this.#o.trace.size,
    };
    this.#interval = this.#startInterval;
    let failures = 0;
    const backoff = async () => {
      failures++;
      if (failures >= limit) return false;
      const ms = Math.min(1000 * 2 ** (failures - 1), this.#o.maxBackoffMs ?? 60 * 60_000);
      await this.#clock.sleep(ms);
      return true;
    };
    while (true) {
      let flushed = true;
      while (!this.#isSendingStopped && this.#sent < this.#o.trace.size) {
        const outcome = await this.#patchOnce();
        if (outcome === "moved") await this.#clock.sleep(this.#interval);
        if (outcome === "failed") {
          flushed = false;
          break;
        }
      }
      if (!flushed) {
        if (!(await backoff())) return this.#gaveUp("the job log could not be sent");
        continue;
      }
      const result = await this.#o.transport.updateJob(this.#o.job, final);
      switch (result.kind) {
        case "ok":
          return true;
        case "abort":
        case "not-found":
          // GitLab no longer runs this job (canceled, removed): nothing more to deliver.
          this.#o.log?.warn("GitLab no longer accepts updates for this job", {
            "result": result.kind,
          });
          return true;
        case "accepted":
          // Still persisting live trace chunks: same update again, not an attempt.
          await this.#clock.sleep(
            result.updateIntervalSeconds && result.updateIntervalSeconds > 0
              ? Math.min(result.updateIntervalSeconds * 1000, MAX_INTERVAL_MS)
              : this.#interval,
          );
          continue;
        case "trace-invalid":
          await this.#clock.sleep(this.#interval);
          this.#sent = 0;
          this.#isSendingStopped = false;
          continue;
        case "failed":
          this.#o.log?.warn("Final job update failed; retrying", {
            "status": result.status ?? 0,
            "error": result.error ?? "",
            "attempt": failures + 1,
          });
          if (!(await backoff())) return this.#gaveUp("the final job update failed");
          continue;
      }
    }
  }

  #gaveUp(what: string): boolean {
    this.#o.log?.error(`Giving up: ${what} after ${this.#o.finalRetryLimit ?? 10} attempts`);
    return false;
  }
}
