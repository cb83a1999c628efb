/**
 * On start, before polling: every job the journal says a previous run took
 * and never reported gets a note appended to its trace and a final
 * `failed` / `runner_system_failure` update, with the job token the journal
 * kept; a job that had ended (its `ended` record: the runner stopped, or gave
 * up, before GitLab took its final update) gets the result it ended with.
 * The official runner leaves such jobs running on GitLab until the stuck-job
 * timeout; we close them within seconds of the restart.
 */
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type { JobRef, JobUpdate, TraceTransport } from "../trace/transport.ts";
import type { JobJournal, JournalJob } from "./job_journal.ts";
import type { JournalLog } from "./journal_record.ts";

export interface RecoveryOptions {
  /** The GitLab client for the entry (URL) that took the job. */
  transportFor(job: JournalJob): TraceTransport;
  log: Logger;
  /** Tries per job before it is left in the journal for the next start. Default 5. */
  attempts?: number;
  /** Injected so tests step time; default real timers. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Only these jobs (a later try for the ones kept at start); default every
   * job in hand, which is right only before this runner takes jobs itself.
   */
  jobs?: readonly JournalJob[];
  /**
   * Jobs (`url` NUL `id`) whose note GitLab already took; filled here, so a
   * later try with the same set does not append it again.
   */
  notedJobs?: Set<string>;
}

export interface RecoveryOutcome {
  /** GitLab took the final update. */
  reported: number[];
  /** GitLab no longer had the job running (finished, canceled or removed). */
  gone: number[];
  /** Could not be reported now; kept in the journal for a later try or the next start. */
  kept: number[];
}

const encoder = new TextEncoder();

/** The line appended to an interrupted job's log. */
export function interruptedNote(job: JournalJob): string {
  if (job.result) {
    const how = job.result.state === "success"
      ? "succeeded"
      : `failed (${job.result.failureReason ?? "script_failure"})`;
    return `\n\x1b[33;1mWARNING: Runner restarted: the job had ${how} before the runner stopped, ` +
      `but GitLab did not get its final state then; the end of its log may be missing\x1b[0;m\n`;
  }
  const phase = job.isStarted ? "while it was running" : "before it started";
  return `\n\x1b[31;1mERROR: Job failed (system failure): Runner restarted: the job was interrupted ${phase}, ` +
    `when the runner process stopped unexpectedly (taken at ${
      job.takenAt || "unknown time"
    })\x1b[0;m\n`;
}

/** Most 202 answers in a row before an attempt counts as failed. */
const MAX_ACCEPTED_LOOPS = 30;
/** Most 416 answers in a row while looking for the end of the trace. */
const MAX_RANGE_LOOPS = 5;

type Verdict = "reported" | "gone" | "retry";

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reports every job in hand in `journal` (all of them in parallel), marks
 * each reported or gone in the journal, then compacts it. Never rejects.
 */
export async function reportInterruptedJobs(
  journal: JobJournal,
  options: RecoveryOptions,
): Promise<RecoveryOutcome> {
  const outcome: RecoveryOutcome = { reported: [], gone: [], kept: [] };
  const jobs = options.jobs ?? journal.inHand();
  if (jobs.length === 0) return outcome;
  options.log.warn("Reporting jobs interrupted by an unexpected stop of the runner", {
    "jobs": jobs.map((j) => j.jobId).join(","),
  });
  await Promise.all(jobs.map(async (job) => {
    const log = options.log.child({
      [F.JOB_ID]: job.jobId,
      [F.RUNNER]: job.runner,
      [F.URL]: job.url,
    });
    let verdict: Verdict;
    try {
      verdict = await reportOne(job, {
        ...options,
        onNoted: () => journal.noted({ url: job.url, token: "" }, job.jobId),
      });
    } catch (err) {
      // Our bug or a record we cannot use: one job must not stop the start.
      log.error("Cannot report the interrupted job", { [F.ERROR]: (err as Error).message });
      verdict = "retry";
    }
    if (verdict === "retry") {
      outcome.kept.push(job.jobId);
      log.error(
        "Cannot report the interrupted job now; it stays in the journal, tried again later and at the next start",
      );
      return;
    }
    outcome[verdict].push(job.jobId);
    const reported = job.result ?? { state: "failed", failureReason: "runner_system_failure" };
    if (verdict === "reported") {
      log.info(
        `Interrupted job reported as ${reported.state}` +
          (reported.failureReason ? ` (${reported.failureReason})` : ""),
      );
    } else log.info("Interrupted job was no longer running on GitLab");
    await journal.reported(
      { url: job.url, token: "" },
      job.jobId,
      verdict === "reported" ? reported.state : "gone",
    );
  }));
  await journal.compact();
  return outcome;
}

async function reportOne(
  job: JournalJob,
  options: RecoveryOptions & { onNoted(): Promise<void> },
): Promise<Verdict> {
  const transport = options.transportFor(job);
  const sleep = options.sleep ?? realSleep;
  const attempts = options.attempts ?? 5;
  const ref: JobRef = { id: job.jobId, token: job.jobToken };
  const note = encoder.encode(interruptedNote(job));
  const noteKey = `${job.url}\u0000${job.jobId}`;
  let isNoteSent = (job.isNoted ?? false) || (options.notedJobs?.has(noteKey) ?? false);
  const log = job.result?.log;
  let logState: "complete" | "gap" | null = log ? null : "gap";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep(1000 * 2 ** (attempt - 2));
    if (log && logState === null) {
      const sent = await appendLog(transport, ref, log);
      if (sent === "gone") return "gone";
      if (sent === "retry") continue;
      logState = sent;
    }
    // The whole log on GitLab: it reads as if the runner had never stopped.
    if (logState !== "complete" && !isNoteSent) {
      const traced = await appendNote(transport, ref, note);
      if (traced === "gone") return "gone";
      if (traced === "retry") continue;
      isNoteSent = true;
      options.notedJobs?.add(noteKey);
      await options.onNoted();
    }
    const verdict = await finalUpdate(transport, ref, job, sleep, logState === "complete");
    if (verdict !== "retry") return verdict;
  }
  return "retry";
}

/**
 * Appends at the end of what GitLab stored. The journal does not know that
 * size, so the first PATCH goes to offset 0: GitLab answers 416 with
 * `Range: 0-<size>` when the trace is not empty, and we send again there.
 */
async function appendNote(
  transport: TraceTransport,
  ref: JobRef,
  note: Uint8Array,
): Promise<"sent" | "gone" | "retry"> {
  let offset = 0;
  for (let i = 0; i < MAX_RANGE_LOOPS; i++) {
    const result = await transport.patchTrace(ref, note, offset);
    switch (result.kind) {
      case "accepted":
        return "sent";
      case "range-mismatch":
        offset = result.serverSize;
        continue;
      case "abort":
      case "not-found":
        return "gone";
      case "failed":
        return "retry";
    }
  }
  return "retry";
}

/**
 * Sends the end of the log the journal kept, from where GitLab's copy ends
 * (a 416 says where: a PATCH in flight at the crash may have arrived).
 * "gap": GitLab's copy ends before the kept part, or past it; then only
 * the note goes.
 */
async function appendLog(
  transport: TraceTransport,
  ref: JobRef,
  log: JournalLog,
): Promise<"complete" | "gap" | "gone" | "retry"> {
  let offset = log.offset;
  for (let i = 0; i < MAX_RANGE_LOOPS; i++) {
    // Confirmed by GitLab before the crash.
    if (offset === log.size && log.bytes.length === 0) return "complete";
    const result = await transport.patchTrace(ref, log.bytes.subarray(offset - log.offset), offset);
    switch (result.kind) {
      case "accepted":
        return "complete";
      case "range-mismatch":
        if (result.serverSize < log.offset || result.serverSize > log.size) return "gap";
        if (result.serverSize === log.size) return "complete";
        offset = result.serverSize;
        continue;
      case "abort":
      case "not-found":
        return "gone";
      case "failed":
        return "retry";
    }
  }
  return "retry";
}

async function finalUpdate(
  transport: TraceTransport,
  ref: JobRef,
  job: JournalJob,
  sleep: (ms: number) => Promise<void>,
  isLogComplete: boolean,
): Promise<Verdict> {
  // The result the job ended with, else a crash's.
  const log = job.result?.log;
  const update: JobUpdate = job.result
    ? {
      state: job.result.state,
      ...(job.result.failureReason ? { failureReason: job.result.failureReason } : {}),
      ...(job.result.exitCode ? { exitCode: job.result.exitCode } : {}),
      // GitLab checks the log it stored against these, as after any job.
      ...(isLogComplete && log ? { checksum: log.checksum, bytesize: log.size } : {}),
    }
    : { state: "failed", failureReason: "runner_system_failure" };
  for (let i = 0; i < MAX_ACCEPTED_LOOPS; i++) {
    // Without the whole log no checksum: GitLab checks only what it is given.
    const result = await transport.updateJob(ref, update);
    switch (result.kind) {
      case "ok":
        return "reported";
      case "abort":
      case "not-found":
        return "gone";
      case "accepted":
        await sleep(Math.min(result.updateIntervalSeconds ?? 3, 60) * 1000);
        continue;
      case "trace-invalid":
        // GitLab's copy differs from the kept checksum: the state without it.
        if (update.checksum !== undefined) {
          delete update.checksum;
          delete update.bytesize;
          continue;
        }
        return "retry";
      case "failed":
        return "retry";
    }
  }
  return "retry";
}
