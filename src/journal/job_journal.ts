/**
 * The crash-safe job journal: an append-only record of every job this runner
 * has taken, written (and fsynced) before each state change, so that a runner
 * killed with `kill -9`, an OOM kill or a power cut can, on its next start,
 * report each job it had in hand instead of leaving it "running" on GitLab
 * until the stuck-job timeout. See docs/reliability.md for the guarantees.
 *
 * Call order per job: `taken` → `started` (optional) → `ended` (optional) →
 * `reported`. A record is written to the file at once (from then on a crash
 * of the runner does not lose it). `taken` resolves once it is durable
 * (fsync; concurrent calls share one, group commit): GitLab hears of the job
 * only after that. `started`, `ended` and `reported` resolve once written and
 * reach the disk with the next fsync (the next job's `taken`, a compaction,
 * or `close`): a power cut may lose the last of them, and nothing depends on
 * it (a lost `started` only makes the recovery note say "before it started";
 * a lost `ended` makes it report the job as interrupted; a lost `reported`
 * makes the next start report a job GitLab has already finished, which it
 * refuses, docs/reliability.md). That spares each job two fsyncs, and the
 * job's start and its slot's next request their wait for the disk. Only
 * while the file is being rewritten (compaction) do records wait, then go to
 * the new file. A journal that cannot be written is logged and the job goes
 * on: losing crash-safety must not fail the job itself.
 */
import { shortToken } from "../config/short_token.ts";
import { mapFailureReason } from "../gitlab/failure_reasons.ts";
import type { FailureReason } from "../job/failure_reason.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import {
  decodeJournal,
  encodeRecord,
  type JournalLog,
  type JournalRecord,
} from "./journal_record.ts";
import type { JournalStore } from "./journal_store.ts";

/** A job the journal says is in hand (taken, final state not yet reported). */
export interface JournalJob {
  jobId: number;
  /** GitLab URL of the runner entry that took it. */
  url: string;
  /** Short token of that entry (never the runner token). */
  runner: string;
  jobToken: string;
  /** GitLab accepted it and the executor was about to start. */
  isStarted: boolean;
  /** The restart note is already in its log on GitLab (a start before this one got that far). */
  isNoted?: boolean;
  takenAt: string;
  /** How it ended, when it did before its final update reached GitLab (the `ended` record). */
  result?: JournalResult;
}

/** A job's result as its final update carries it; `failureReason` in GitLab's words. */
export interface JournalResult {
  state: "success" | "failed";
  failureReason?: string;
  exitCode?: number;
  /** The end of its log GitLab had not confirmed when it ended. */
  log?: JournalLog;
}

export interface JobJournalOptions {
  log: Logger;
  now?: () => Date;
  /** Rewrite the file with only the jobs in hand after this many appended records. Default 1000. */
  compactAfterRecords?: number;
  /**
   * Or after this many bytes of records (an ended record may keep up to
   * 256 KiB of a job's log). Default 16 MiB.
   */
  compactAfterBytes?: number;
}

/** What the journal needs to know of a runner entry; RunnerConfig fits. */
export interface JournalRunner {
  url: string;
  /** Only its short form is written. */
  token: string;
}

function keyOf(url: string, jobId: number): string {
  return `${url}\u0000${jobId}`;
}

interface Pending {
  text: string;
  /** Already handed to the file by `write`: only its fsync is pending. */
  isWritten: boolean;
  done: () => void;
}

export class JobJournal {
  readonly #store: JournalStore;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #compactAfter: number;
  readonly #compactAfterBytes: number;
  readonly #inHand = new Map<string, JournalJob>();
  #queue: Pending[] = [];
  #compactWaiters: Array<() => void> = [];
  #isCompactRequested = false;
  #isDraining = false;
  /** A compaction is replacing the file: records wait for the new one. */
  #isReplacing = false;
  #appendedSinceCompact = 0;
  #appendedBytesSinceCompact = 0;
  #isBroken = false;
  /** A record was written that no fsync has covered yet. */
  #isUnsynced = false;
  #isClosed = false;
  #idle: Promise<void> = Promise.resolve();

  private constructor(store: JournalStore, options: JobJournalOptions) {
    this.#store = store;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#compactAfter = options.compactAfterRecords ?? 1000;
    this.#compactAfterBytes = options.compactAfterBytes ?? 16 * 1024 * 1024;
  }

  /**
   * Reads the journal, replays it, and rewrites it with only the jobs in hand
   * (which also drops a line torn by a crash, so appends start clean).
   * Rejects only when the store cannot be read or rewritten.
   */
  static async open(store: JournalStore, options: JobJournalOptions): Promise<JobJournal> {
    const journal = new JobJournal(store, options);
    const { records, badLines } = decodeJournal(await store.read());
    if (badLines.length > 0) {
      options.log.warn("Job journal: skipped unreadable lines (torn by a crash or damaged)", {
        [F.FILE]: store.path,
        "lines": badLines.slice(0, 10).join(","),
      });
    }
    for (const record of records) journal.#apply(record);
    await store.replace(journal.#snapshot());
    return journal;
  }

  /** Jobs taken and not reported, oldest first. After `open`, these are the interrupted ones. */
  inHand(): JournalJob[] {
    return [...this.#inHand.values()].map((job) => ({ ...job }));
  }

  /** Whether job `jobId` of GitLab `url` is taken and not reported. */
  isInHand(url: string, jobId: number): boolean {
    return this.#inHand.has(keyOf(url, jobId));
  }

  /** Before the acceptance `PUT`: the job is ours from here on. */
  taken(runner: JournalRunner, job: { id: number; token: string }): Promise<void> {
    return this.#record({
      type: "taken",
      jobId: job.id,
      url: runner.url,
      runner: shortToken(runner.token),
      jobToken: job.token,
      at: this.#now().toISOString(),
    });
  }

  /** GitLab accepted the job; its executor process starts next. Not waiting for the disk. */
  started(runner: JournalRunner, jobId: number): Promise<void> {
    return this.#record(
      { type: "started", jobId, url: runner.url, at: this.#now().toISOString() },
      { isSyncWaited: false },
    );
  }

  /**
   * The job ended with `result`; its final update goes next. Its failure
   * reason is kept as the final update sends it, mapped to the job's
   * `serverReasons` (features.failure_reasons). Not waiting for the disk: a
   * crash before the fsync reports the job as interrupted, as before.
   */
  ended(
    runner: JournalRunner,
    jobId: number,
    result: { state: "success" | "failed"; failureReason?: FailureReason; exitCode?: number },
    serverReasons: readonly string[],
    log?: JournalLog | null,
  ): Promise<void> {
    return this.#record({
      type: "ended",
      jobId,
      url: runner.url,
      state: result.state,
      ...(result.state === "failed"
        ? { failureReason: mapFailureReason(result.failureReason ?? "", serverReasons) }
        : {}),
      ...(result.exitCode ? { exitCode: result.exitCode } : {}),
      ...(log ? { log } : {}),
      at: this.#now().toISOString(),
    }, { isSyncWaited: false });
  }

  /** The restart note reached the job's log on GitLab. Not waiting for the disk. */
  noted(runner: JournalRunner, jobId: number): Promise<void> {
    return this.#record(
      { type: "noted", jobId, url: runner.url, at: this.#now().toISOString() },
      { isSyncWaited: false },
    );
  }

  /**
   * GitLab has the final state, or the job is gone there (`state` says which,
   * for people). Not waiting for the disk.
   */
  reported(runner: JournalRunner, jobId: number, state: string): Promise<void> {
    return this.#record({
      type: "finished-reported",
      jobId,
      url: runner.url,
      state,
      at: this.#now().toISOString(),
    }, { isSyncWaited: false });
  }

  /** Rewrites the file with only the jobs in hand. */
  compact(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#compactWaiters.push(resolve);
      this.#isCompactRequested = true;
      this.#kick();
    });
  }

  /** Waits for pending writes, fsyncs what is written, then closes the store. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    await this.#idle;
    // Broken: a last try to put what is in memory on disk.
    if (this.#isUnsynced || this.#isBroken) {
      this.#isUnsynced = false;
      const wasBroken = this.#isBroken;
      const isSynced = await this.#write(() => this.#store.append(""));
      if (!isSynced || wasBroken) await this.#rewrite();
    }
    this.#isClosed = true;
    this.#store.close();
  }

  #apply(record: JournalRecord): void {
    const key = keyOf(record.url, record.jobId);
    if (record.type === "taken") {
      this.#inHand.set(key, {
        jobId: record.jobId,
        url: record.url,
        runner: record.runner,
        jobToken: record.jobToken,
        isStarted: false,
        takenAt: record.at,
      });
    } else if (record.type === "started") {
      const job = this.#inHand.get(key);
      if (job) job.isStarted = true;
    } else if (record.type === "noted") {
      const job = this.#inHand.get(key);
      if (job) job.isNoted = true;
    } else if (record.type === "ended") {
      const job = this.#inHand.get(key);
      if (job) {
        job.result = {
          state: record.state,
          ...(record.failureReason ? { failureReason: record.failureReason } : {}),
          ...(record.exitCode ? { exitCode: record.exitCode } : {}),
          ...(record.log ? { log: record.log } : {}),
        };
      }
    } else {
      this.#inHand.delete(key);
    }
  }

  /** The jobs in hand as records; replaying them rebuilds the same state. */
  #snapshot(): string {
    let text = "";
    for (const job of this.#inHand.values()) {
      text += encodeRecord({
        type: "taken",
        jobId: job.jobId,
        url: job.url,
        runner: job.runner,
        jobToken: job.jobToken,
        at: job.takenAt,
      });
      if (job.isStarted) {
        text += encodeRecord({ type: "started", jobId: job.jobId, url: job.url, at: job.takenAt });
      }
      if (job.result) {
        text += encodeRecord({
          type: "ended",
          jobId: job.jobId,
          url: job.url,
          ...job.result,
          at: job.takenAt,
        });
      }
      if (job.isNoted) {
        text += encodeRecord({ type: "noted", jobId: job.jobId, url: job.url, at: job.takenAt });
      }
    }
    return text;
  }

  /** `isSyncWaited: false`: resolves once written, leaving the fsync to the next one (see top). */
  #record(record: JournalRecord, options: { isSyncWaited?: boolean } = {}): Promise<void> {
    // Memory first: a compaction that runs before this line is written
    // already reflects it, and replaying the line again later is harmless.
    this.#apply(record);
    if (this.#isClosed) return Promise.resolve();
    const text = encodeRecord(record);
    // Written now, not after the fsync in flight: that can take seconds on a busy
    // disk, and a job GitLab gave us must be in the file before anything else happens.
    let isWritten = false;
    if (!this.#isReplacing && !this.#isBroken) {
      try {
        this.#store.write(text);
        isWritten = true;
      } catch {
        // The queued append tries again, and logs a failure.
      }
    }
    if (isWritten && options.isSyncWaited === false) {
      this.#isUnsynced = true;
      this.#appendedSinceCompact++;
      this.#appendedBytesSinceCompact += text.length;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#queue.push({ text, isWritten, done: resolve });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#isDraining) return;
    this.#isDraining = true;
    this.#idle = this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#isCompactRequested) {
      if (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        const unwritten = batch.filter((p) => !p.isWritten).map((p) => p.text).join("");
        // The fsync covers every record written before it starts.
        this.#isUnsynced = false;
        const wasBroken = this.#isBroken;
        const isAppended = await this.#write(() => this.#store.append(unwritten));
        this.#appendedSinceCompact += batch.length;
        for (const p of batch) this.#appendedBytesSinceCompact += p.text.length;
        // Before these records count as on disk, the file gets everything in
        // memory again: when its file (or directory) was removed, and when it
        // could not be written until now (records of the outage missing, a
        // line torn by ENOSPC). On a full disk this fails as the append did,
        // and is not logged again.
        if (!isAppended || wasBroken) await this.#rewrite();
        for (const p of batch) p.done();
      }
      if (
        this.#isCompactRequested || this.#appendedSinceCompact >= this.#compactAfter ||
        this.#appendedBytesSinceCompact >= this.#compactAfterBytes
      ) {
        const waiters = this.#compactWaiters;
        this.#compactWaiters = [];
        this.#isCompactRequested = false;
        await this.#rewrite();
        for (const done of waiters) done();
      }
    }
    this.#isDraining = false;
  }

  /** Replaces the file with the jobs in hand (compaction). */
  async #rewrite(): Promise<void> {
    this.#isReplacing = true;
    this.#isUnsynced = false;
    await this.#write(() => this.#store.replace(this.#snapshot()));
    this.#isReplacing = false;
    this.#appendedSinceCompact = 0;
    this.#appendedBytesSinceCompact = 0;
  }

  /** Resolves whether `op` succeeded; a failure is logged once per outage. */
  async #write(op: () => Promise<void>): Promise<boolean> {
    try {
      await op();
      if (this.#isBroken) {
        // Records lost while it failed (or a line torn by ENOSPC): the
        // callers of an append rewrite the file next.
        this.#isBroken = false;
        this.#log.info("Job journal is written again");
      }
      return true;
    } catch (err) {
      // Logged once per outage (a full disk would otherwise log every job).
      if (!this.#isBroken) {
        this.#log.error(
          "Cannot write the job journal: jobs taken now cannot be reported if the runner crashes",
          { [F.ERROR]: (err as Error).message },
        );
      }
      this.#isBroken = true;
      return false;
    }
  }
}
