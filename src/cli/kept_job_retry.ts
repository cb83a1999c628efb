import type { JobJournal, JournalJob, RecoveryOutcome } from "../journal/mod.ts";
import type { Logger } from "../log/logger.ts";

export interface KeptJobRetryOptions {
  journal: JobJournal;
  /** Reports `jobs` (journal_recovery.ts's reportInterruptedJobs, bound to the runner's clients). */
  report(jobs: readonly JournalJob[]): Promise<RecoveryOutcome>;
  log: Logger;
  /** Default 15 s, doubling up to `maxDelayMs` (default 15 min). */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

function keyOf(job: { jobId: number; url: string }): string {
  return `${job.url}\u0000${job.jobId}`;
}

/**
 * Tries again, while the runner serves, to report the jobs GitLab did not
 * take a final state for: those the start-up report of the journal had to
 * keep (GitLab down or failing then), and those whose final update this
 * runner gave up on (`job_status_final_update_retry_limit`). Without it they
 * stayed running on GitLab until its stuck-job timeout, or until a next
 * start that may be weeks away, although GitLab answered again a minute
 * later. Only the jobs `add`ed: every other job in the journal is one this
 * runner runs now. One try at a time; `[Symbol.dispose]` clears the timer
 * (a try in flight ends on its own, its records going nowhere once the
 * journal is closed) and may run twice.
 */
export class KeptJobRetry implements Disposable {
  readonly #options: KeptJobRetryOptions;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #keys = new Set<string>();
  #delayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #isTrying = false;
  #isClosed = false;

  constructor(options: KeptJobRetryOptions) {
    this.#options = options;
    this.#firstDelayMs = options.firstDelayMs ?? 15_000;
    this.#maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.#delayMs = this.#firstDelayMs;
  }

  /** Jobs to report later; they stay in the journal meanwhile. */
  add(jobs: readonly { jobId: number; url: string }[]): void {
    for (const job of jobs) this.#keys.add(keyOf(job));
    if (this.#keys.size > 0 && this.#timer === undefined && !this.#isTrying) {
      this.#delayMs = this.#firstDelayMs;
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#isClosed) return;
    this.#timer = setTimeout(() => void this.#tryAgain(), this.#delayMs);
    this.#delayMs = Math.min(this.#delayMs * 2, this.#maxDelayMs);
  }

  async #tryAgain(): Promise<void> {
    this.#timer = undefined;
    const jobs = this.#options.journal.inHand().filter((j) => this.#keys.has(keyOf(j)));
    this.#keys.clear();
    if (jobs.length === 0 || this.#isClosed) return;
    this.#options.log.info("Trying again to report jobs GitLab has no final state of", {
      "jobs": jobs.map((j) => j.jobId).join(","),
    });
    this.#isTrying = true;
    const outcome = await this.#options.report(jobs);
    this.#isTrying = false;
    for (const job of jobs) {
      if (outcome.kept.includes(job.jobId)) this.#keys.add(keyOf(job));
    }
    if (this.#keys.size > 0 && this.#timer === undefined) this.#schedule();
  }

  [Symbol.dispose](): void {
    this.#isClosed = true;
    clearTimeout(this.#timer);
  }
}
