import type { JobJournal, JournalJob, RecoveryOutcome } from "../journal/mod.ts";
import type { Logger } from "../log/logger.ts";

export interface KeptJobRetryOptions {
  journal: JobJournal;
  /** The jobs the start-up report could not report (`RecoveryOutcome.kept`), by id and URL. */
  kept: readonly { jobId: number; url: string }[];
  /** Reports `jobs` (journal_recovery.ts's reportInterruptedJobs, bound to the runner's clients). */
  report(jobs: readonly JournalJob[]): Promise<RecoveryOutcome>;
  log: Logger;
  /** Default 15 s, doubling up to `maxDelayMs` (default 15 min). */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Tries again, while the runner serves, to report the jobs its start-up
 * report had to keep (GitLab down or failing then): without it they stayed
 * running on GitLab until its stuck-job timeout, or until a next start that
 * may be weeks away, although GitLab answered again a minute later. Only
 * those jobs: every other job in the journal is one this runner runs now.
 * Each try waits for the last; `close` clears the timer (a try in flight
 * ends on its own, its records going nowhere once the journal is closed).
 */
export function retryKeptJobs(options: KeptJobRetryOptions): Disposable {
  const maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
  let delayMs = options.firstDelayMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let isClosed = false;
  const keys = new Set(options.kept.map((j) => `${j.url}\u0000${j.jobId}`));
  const schedule = () => {
    if (isClosed) return;
    timer = setTimeout(tryAgain, delayMs);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  };
  const tryAgain = async () => {
    const jobs = options.journal.inHand().filter((j) => keys.has(`${j.url}\u0000${j.jobId}`));
    if (jobs.length === 0 || isClosed) return;
    options.log.info(
      "Trying again to report jobs interrupted by an unexpected stop of the runner",
      {
        "jobs": jobs.map((j) => j.jobId).join(","),
      },
    );
    const outcome = await options.report(jobs);
    if (outcome.kept.length > 0) schedule();
  };
  if (options.kept.length > 0) schedule();
  return {
    [Symbol.dispose]() {
      isClosed = true;
      clearTimeout(timer);
    },
  };
}
