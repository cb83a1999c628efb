/**
 * Asks GitLab for work for every `[[runners]]` entry and hands each job to a
 * JobHandler, within `concurrent` (global), `limit` and `request_concurrency`
 * (per entry), as the official runner does (config-reference §17).
 *
 * A job request holds a global slot while it waits (GitLab may hold it for a
 * long poll), so a job that arrives always has somewhere to run. A slot that
 * frees (a job ended, a request came back empty) goes at once to the request
 * loop that has waited longest for one, whichever entry it serves: back-to-back
 * jobs do not wait for `check_interval`, and entries sharing `concurrent` take
 * turns. When GitLab has no job, a loop sleeps `check_interval`; it asks again
 * at once, keeping its slot, only when GitLab said the queue changed, at most
 * MAX_IMMEDIATE_ASKS times in a row. Other requests of an entry start at most
 * once per `check_interval`, however many loops it has. Entries that
 * fail `unhealthy_requests_limit` requests in a row rest for
 * `unhealthy_interval`. `apply()` takes a new config at any time: running jobs
 * keep the settings they started with.
 */
import type { GlobalConfig, RunnerConfig } from "../config/runner_config.ts";
import { shortToken } from "../config/short_token.ts";
import { isSupportedExecutor } from "../config/executor_names.ts";
import { isGitLabUrl } from "../config/gitlab_url.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import { setLongTimeout } from "../time/clock.ts";

export type RequestOutcome =
  | { kind: "job"; job: JobSpec }
  /** `isQueueChanged`: GitLab says the queue changed; ask again without waiting. */
  | { kind: "none"; isQueueChanged?: boolean }
  /** A 201 whose body is not a usable job: fail it, if it can be named. */
  | { kind: "invalid-job"; id?: number; token?: string; message: string }
  | { kind: "error"; healthy: boolean; message: string };

/** One runner entry's view of GitLab; gitlab/runner_client.ts implements it. */
export interface JobSource {
  /** Long-polls `jobs/request`; aborting the signal ends the wait. */
  requestJob(signal: AbortSignal): Promise<RequestOutcome>;
}

export interface JobSlot {
  concurrentId: number;
  concurrentProjectId: number;
}

/** Runs one job to its final update; job_supervisor.ts implements it. */
export interface JobHandler {
  /**
   * Resolves when the job's final state reached GitLab (or could not).
   * Never rejects. `stop` aborts the job (shutdown); its reason is reported.
   */
  handle(runner: RunnerConfig, job: JobSpec, slot: JobSlot, stop: AbortSignal): Promise<void>;
  /** A 201 we could not parse but could identify: report it failed. */
  reject(runner: RunnerConfig, id: number, token: string, message: string): Promise<void>;
}

/** Request concurrency of one entry (gitlab_runner_request_concurrency_* metrics). */
export interface RequestConcurrency {
  /** Job requests in flight. */
  requests: number;
  /** `request_concurrency`, at least 1. */
  hardLimit: number;
  /** AIMD limit of FF_USE_ADAPTIVE_REQUEST_CONCURRENCY; 0 before the first request ends. */
  adaptiveLimit: number;
  /** The limit the latest request was admitted against. */
  usedLimit: number;
}

export interface PollerObserver {
  requestStarted?(runner: RunnerConfig): void;
  requestFinished?(runner: RunnerConfig, outcome: RequestOutcome["kind"]): void;
  /** A request was not made because `usedLimit` requests were already in flight. */
  requestConcurrencyExceeded?(runner: RunnerConfig): void;
  /** After each request starts or ends. */
  requestConcurrencyChanged?(runner: RunnerConfig, state: RequestConcurrency): void;
  healthCheckFailed?(runner: RunnerConfig): void;
}

export interface PollerOptions {
  log: Logger;
  sourceFor(runner: RunnerConfig): JobSource;
  handler: JobHandler;
  observer?: PollerObserver;
  /** Injected so tests can step time. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** Consecutive "the queue changed" answers a loop follows without sleeping `check_interval`. */
const MAX_IMMEDIATE_ASKS = 3;

function realSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    // check_interval and unhealthy_interval may be longer than one timer holds.
    const timer = setLongTimeout(done, ms);
    function done() {
      timer.clear();
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function isAdaptive(runner: RunnerConfig): boolean {
  return runner.featureFlags["FF_USE_ADAPTIVE_REQUEST_CONCURRENCY"] ?? true;
}

/** Identity of an entry: a changed URL or token is another runner. */
function entryKey(runner: RunnerConfig): string {
  return `${runner.url}\u0000${runner.token}`;
}

interface Entry {
  config: RunnerConfig;
  source: JobSource;
  stop: AbortController;
  running: Map<number, { projectId: number; slot: JobSlot }>;
  requesting: number;
  failures: number;
  unhealthyUntil: number;
  /** When `unhealthyUntil` was set: a reload that changes `unhealthy_interval` moves the end. */
  unhealthySince: number;
  /** Aborted to wake a loop resting for `unhealthy_interval` (a reload changed it). */
  wake: AbortController;
  /** See RequestConcurrency. */
  adaptiveLimit: number;
  usedLimit: number;
  /**
   * When the next request that is not a follow-up (of a job, or of "the queue
   * changed") may start: such requests go out once per `check_interval`
   * whatever the number of request loops, as upstream feeds each runner to its
   * workers once per interval. `request_concurrency` only lets requests GitLab
   * holds overlap; each loop asking on its own clock multiplied the requests an
   * idle GitLab got by it.
   */
  nextCheckAt: number;
  /** Request loops alive; each has an index below `requestConcurrency` and `concurrent`. */
  loops: Set<Promise<void>>;
  loopIndexes: Set<number>;
}

/** A request loop waiting for a global slot; `grant` is called with the slot taken for it. */
interface SlotWaiter {
  entry: Entry;
  grant(): void;
}

export class Poller {
  #opts: PollerOptions;
  #log: Logger;
  #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  #now: () => number;
  #entries = new Map<string, Entry>();
  #concurrent = 1;
  #checkIntervalMs = 3000;
  #busy = 0;
  #jobs = new Set<Promise<void>>();
  /** Loops waiting for a slot, longest-waiting first. */
  #waiters: SlotWaiter[] = [];
  /** Stops asking for jobs. */
  #stopRequests = new AbortController();
  /** Aborts the job requests in flight (all stops but the one for a re-scope). */
  #abortRequests = new AbortController();
  /** Aborts running jobs. */
  #stopJobs = new AbortController();

  constructor(opts: PollerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#sleep = opts.sleep ?? realSleep;
    this.#now = opts.now ?? Date.now;
  }

  /** Jobs running now, over all entries. */
  get runningJobs(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.running.size;
    return n;
  }

  /** The ids of the jobs running now, over all entries. */
  get runningJobIds(): number[] {
    return [...this.#entries.values()].flatMap((e) => [...e.running.keys()]);
  }

  /** Takes a config (first start or reload). */
  apply(config: GlobalConfig): void {
    this.#concurrent = config.concurrent;
    this.#checkIntervalMs = config.checkInterval * 1000;
    const wanted = new Map<string, RunnerConfig>();
    for (const runner of config.runners) {
      // An executor we lack, or a URL no request can go to, was reported when the config
      // loaded (config/parse_config.ts); asking for jobs would only take jobs we must fail.
      if (runner.token && isSupportedExecutor(runner.executor) && isGitLabUrl(runner.url)) {
        wanted.set(entryKey(runner), runner);
      }
    }
    for (const [key, entry] of this.#entries) {
      if (!wanted.has(key)) {
        entry.stop.abort();
        // Its running jobs, and the requests it has in flight, finish; the entry is
        // dropped once they did.
        this.#forget(entry);
      }
    }
    for (const [key, runner] of wanted) {
      const entry = this.#entries.get(key);
      if (entry) {
        // Removed by an earlier reload, its jobs or requests still running (a save
        // seen half-way, say): it takes the runner back, so a new job gets a slot
        // (builds directory) none of them holds, and they stay counted.
        if (entry.stop.signal.aborted) entry.stop = new AbortController();
        if (runner.unhealthyInterval !== entry.config.unhealthyInterval) {
          // Upstream measures the pause with the setting of the moment (health_helper.go
          // isHealthy); a rest sized by the old value ignored a reload that shortened it.
          if (entry.unhealthyUntil > 0) {
            entry.unhealthyUntil = entry.unhealthySince + runner.unhealthyInterval * 1000;
          }
          entry.wake.abort();
          entry.wake = new AbortController();
        }
        entry.config = runner;
        this.#startLoops(entry);
      } else {
        this.#add(key, runner);
      }
    }
    this.#dispatch();
  }

  /**
   * The entry of `before` now has a new token (rotation): it keeps its request
   * loops, running jobs and counters under the new identity, so no job is
   * dropped or taken twice while the token changes.
   */
  retoken(before: RunnerConfig, after: RunnerConfig): void {
    const entry = this.#entries.get(entryKey(before));
    if (!entry) return;
    this.#entries.delete(entryKey(before));
    entry.config = after;
    this.#entries.set(entryKey(after), entry);
  }

  #add(key: string, runner: RunnerConfig): void {
    const entry: Entry = {
      config: runner,
      source: this.#opts.sourceFor(runner),
      stop: new AbortController(),
      running: new Map(),
      requesting: 0,
      failures: 0,
      unhealthyUntil: 0,
      unhealthySince: 0,
      wake: new AbortController(),
      adaptiveLimit: 0,
      usedLimit: Math.max(1, runner.requestConcurrency),
      nextCheckAt: 0,
      loops: new Set(),
      loopIndexes: new Set(),
    };
    this.#entries.set(key, entry);
    this.#startLoops(entry);
  }

  /**
   * Request loops `entry` needs: one per request it may have in flight, and
   * each request holds one of the `concurrent` slots and counts against the
   * runner's `limit`, so never more than those (a `request_concurrency =
   * 100000` made 100000 loops, ~350 MB of heap).
   */
  #loopCount(entry: Entry): number {
    const { requestConcurrency, limit } = entry.config;
    const most = Math.min(requestConcurrency, this.#concurrent, limit > 0 ? limit : Infinity);
    return Math.max(1, most);
  }

  #startLoops(entry: Entry): void {
    if (this.#stopRequests.signal.aborted) return;
    for (let i = 0; i < this.#loopCount(entry); i++) {
      if (entry.loopIndexes.has(i)) continue;
      entry.loopIndexes.add(i);
      const loop: Promise<void> = this.#loop(entry, i).finally(() => {
        entry.loopIndexes.delete(i);
        entry.loops.delete(loop);
        // A loop of a removed entry that a reload took back: it goes on under its new stop.
        if (!entry.stop.signal.aborted) this.#startLoops(entry);
      });
      entry.loops.add(loop);
    }
  }

  #hasCapacity(entry: Entry): boolean {
    const limit = entry.config.limit;
    const runnerBusy = entry.running.size + entry.requesting;
    return this.#busy < this.#concurrent && (limit <= 0 || runnerBusy < limit);
  }

  /** Takes a slot for a request of `entry`. */
  #take(entry: Entry): void {
    this.#busy++;
    entry.requesting++;
  }

  /**
   * Resolves true once a slot is taken for `entry` (see #take), false when
   * `stopped` aborts first. Waiting loops are served in order, so a loop that
   * just gave a slot back queues behind the ones already waiting.
   */
  #acquire(entry: Entry, stopped: AbortSignal): Promise<boolean> {
    if (stopped.aborted) return Promise.resolve(false);
    if (this.#waiters.length === 0 && this.#hasCapacity(entry)) {
      this.#take(entry);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter: SlotWaiter = {
        entry,
        grant: () => {
          stopped.removeEventListener("abort", onAbort);
          resolve(true);
        },
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
        // It may have been first in line for a slot another entry can use.
        this.#dispatch();
      };
      stopped.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives free slots to waiting loops, longest-waiting first, within each entry's `limit`. */
  #dispatch(): void {
    for (let i = 0; i < this.#waiters.length && this.#busy < this.#concurrent;) {
      const waiter = this.#waiters[i]!;
      if (this.#hasCapacity(waiter.entry)) {
        this.#waiters.splice(i, 1);
        this.#take(waiter.entry);
        waiter.grant();
      } else {
        i++;
      }
    }
  }

  async #loop(entry: Entry, index: number): Promise<void> {
    const stopped = AbortSignal.any([entry.stop.signal, this.#stopRequests.signal]);
    /** Immediate re-asks in a row: a server that always says "changed" cannot make us spin. */
    let immediateAsks = 0;
    /**
     * Kept from a request GitLab answered "the queue changed": a job is likely
     * waiting for this entry, so it asks again before other loops get the slot
     * (one of them might hold it in a long poll of its own meanwhile).
     */
    let hasSlot = false;
    /** The next request follows a job this loop got: it goes out at once (see Entry.nextCheckAt). */
    let isFollowUp = false;
    while (!stopped.aborted) {
      // request_concurrency or concurrent lowered by a reload: the extra loops end.
      if (index >= this.#loopCount(entry)) break;
      const now = this.#now();
      if (entry.unhealthyUntil > now) {
        if (hasSlot) this.#release();
        hasSlot = false;
        await this.#sleep(
          entry.unhealthyUntil - now,
          AbortSignal.any([stopped, entry.wake.signal]),
        );
        continue;
      }
      if (!hasSlot && !isFollowUp) {
        if (entry.nextCheckAt > now) {
          await this.#sleep(entry.nextCheckAt - now, stopped);
          continue;
        }
        entry.nextCheckAt = now + this.#checkIntervalMs;
      }
      isFollowUp = false;
      if (hasSlot) {
        hasSlot = false;
        entry.requesting++;
      } else if (!(await this.#acquire(entry, stopped))) continue;
      if (index >= this.#loopCount(entry) || stopped.aborted) {
        entry.requesting--;
        this.#release();
        continue;
      }
      const usedLimit = this.#usedLimit(entry);
      entry.usedLimit = usedLimit;
      // This request is already counted in `requesting`.
      if (entry.requesting > usedLimit) {
        // The official runner drops this request attempt and counts it; the loop
        // tries again after check_interval.
        entry.requesting--;
        this.#release();
        this.#opts.observer?.requestConcurrencyExceeded?.(entry.config);
        await this.#sleep(this.#checkIntervalMs, stopped);
        continue;
      }
      this.#reportConcurrency(entry);
      let keepSlot = false;
      let gotJob = false;
      let askAgain = false;
      let isReasking = false;
      try {
        this.#opts.observer?.requestStarted?.(entry.config);
        // Only stopping the runner aborts a request: one of an entry a reload removed
        // (or gave another URL or token) runs its course, as upstream's does, since
        // GitLab may already have given it a job, which aborting it would lose.
        const outcome = await entry.source.requestJob(this.#abortRequests.signal);
        this.#opts.observer?.requestFinished?.(entry.config, outcome.kind);
        if (stopped.aborted && outcome.kind !== "job") break;
        switch (outcome.kind) {
          case "job":
            entry.failures = 0;
            keepSlot = true;
            gotJob = true;
            this.#start(entry, outcome.job);
            break;
          case "none":
            entry.failures = 0;
            askAgain = outcome.isQueueChanged === true;
            break;
          case "invalid-job":
            this.#markUnhealthy(entry, outcome.message);
            if (outcome.id !== undefined && outcome.token !== undefined) {
              await this.#opts.handler.reject(
                entry.config,
                outcome.id,
                outcome.token,
                outcome.message,
              );
            }
            break;
          case "error":
            if (outcome.healthy) {
              entry.failures = 0;
              this.#log.warn("Checking for jobs... failed", {
                [F.RUNNER]: shortToken(entry.config.token),
                [F.ERROR]: outcome.message,
              });
            } else {
              this.#markUnhealthy(entry, outcome.message);
            }
            break;
        }
        this.#adapt(entry, gotJob);
        isReasking = askAgain && immediateAsks < MAX_IMMEDIATE_ASKS && !stopped.aborted;
      } finally {
        entry.requesting--;
        this.#reportConcurrency(entry);
        if (!keepSlot && !isReasking) this.#release();
      }
      if (gotJob) immediateAsks = 0;
      // The next request waits for a slot: with all of them taken by jobs, it
      // goes out the moment one of those jobs ends.
      if (gotJob && !entry.config.strictCheckInterval) {
        isFollowUp = true;
        continue;
      }
      if (isReasking) {
        immediateAsks++;
        hasSlot = true;
        continue;
      }
      immediateAsks = 0;
      await this.#sleep(this.#checkIntervalMs, stopped);
    }
    if (hasSlot) this.#release();
    this.#forget(entry);
  }

  /** Drops `entry` once a reload removed it and it has no job or request left. */
  #forget(entry: Entry): void {
    if (!entry.stop.signal.aborted || entry.running.size > 0 || entry.requesting > 0) return;
    for (const [key, e] of this.#entries) if (e === entry) this.#entries.delete(key);
  }

  /**
   * `request_concurrency`, or with FF_USE_ADAPTIVE_REQUEST_CONCURRENCY (on by
   * default, as upstream) the adaptive limit rounded up, between 1 and it.
   */
  #usedLimit(entry: Entry): number {
    const hard = Math.max(1, entry.config.requestConcurrency);
    if (!isAdaptive(entry.config)) return hard;
    return Math.min(Math.max(1, Math.ceil(entry.adaptiveLimit)), hard);
  }

  /**
   * AIMD as upstream: a request that brought a job grows the limit by 10%, any
   * other outcome shrinks it by 5%, clamped to [1, request_concurrency].
   * (Upstream also halves it when GitLab asked to slow down with a retried
   * answer; our transport retries such answers itself and reports none here.)
   */
  #adapt(entry: Entry, gotJob: boolean): void {
    if (!isAdaptive(entry.config)) return;
    const hard = Math.max(1, entry.config.requestConcurrency);
    const next = entry.adaptiveLimit * (gotJob ? 1.1 : 0.95);
    entry.adaptiveLimit = Math.min(Math.max(1, next), hard);
  }

  #reportConcurrency(entry: Entry): void {
    this.#opts.observer?.requestConcurrencyChanged?.(entry.config, {
      requests: entry.requesting,
      hardLimit: Math.max(1, entry.config.requestConcurrency),
      adaptiveLimit: entry.adaptiveLimit,
      usedLimit: entry.usedLimit,
    });
  }

  /** Gives back a slot taken by #take or kept by a job. */
  #release(): void {
    this.#busy--;
    this.#dispatch();
  }

  #markUnhealthy(entry: Entry, message: string): void {
    entry.failures++;
    this.#log.warn("Checking for jobs... failed", {
      [F.RUNNER]: shortToken(entry.config.token),
      [F.ERROR]: message,
    });
    if (entry.failures >= entry.config.unhealthyRequestsLimit) {
      this.#opts.observer?.healthCheckFailed?.(entry.config);
      entry.unhealthySince = this.#now();
      entry.unhealthyUntil = entry.unhealthySince + entry.config.unhealthyInterval * 1000;
      entry.failures = 0;
      this.#log.error("Runner is not healthy and will be disabled", {
        [F.RUNNER]: shortToken(entry.config.token),
        "unhealthy_interval_s": entry.config.unhealthyInterval,
      });
    }
  }

  #start(entry: Entry, job: JobSpec): void {
    const slot = this.#slotFor(entry, job.jobInfo.projectId);
    entry.running.set(job.id, { projectId: job.jobInfo.projectId, slot });
    const runner = entry.config;
    const done = this.#opts.handler.handle(runner, job, slot, this.#stopJobs.signal)
      .catch((err) => {
        this.#log.error("Job handler failed", { [F.JOB_ID]: job.id, [F.ERROR]: String(err) });
      })
      .finally(() => {
        entry.running.delete(job.id);
        this.#jobs.delete(done);
        this.#forget(entry);
        this.#release();
      });
    this.#jobs.add(done);
  }

  #slotFor(entry: Entry, projectId: number): JobSlot {
    const used = new Set<number>();
    const usedProject = new Set<number>();
    // The slot names the builds directory, <builds_dir>/<short token>/<slot>/<project>:
    // the jobs an entry of the same token still runs hold theirs (a reload that
    // changed only the url made a new entry beside the one running them).
    for (const e of this.#entries.values()) {
      if (e !== entry && e.config.token !== entry.config.token) continue;
      for (const r of e.running.values()) {
        used.add(r.slot.concurrentId);
        if (r.projectId === projectId) usedProject.add(r.slot.concurrentProjectId);
      }
    }
    for (const r of entry.running.values()) {
      used.add(r.slot.concurrentId);
      if (r.projectId === projectId) usedProject.add(r.slot.concurrentProjectId);
    }
    let concurrentId = 0;
    while (used.has(concurrentId)) concurrentId++;
    let concurrentProjectId = 0;
    while (usedProject.has(concurrentProjectId)) concurrentProjectId++;
    return { concurrentId, concurrentProjectId };
  }

  /**
   * SIGQUIT: ask for no more jobs, wait for the running ones without a time
   * limit. With `finishRequests` (a re-scope for a reloaded config.toml, after
   * which this runner goes on polling) the requests in flight run their course
   * and a job they bring runs too: aborting one GitLab already answered with a
   * job would lose that job.
   */
  async stopGracefully(options: { finishRequests?: boolean } = {}): Promise<void> {
    this.#stopRequests.abort();
    if (!options.finishRequests) this.#abortRequests.abort();
    await this.#drain();
  }

  /**
   * SIGTERM/SIGINT: ask for no more jobs, abort running ones (they report
   * runner_interrupted) and wait for their final updates, at most `timeoutMs`.
   * `signal` (the stop signal's name) is the jobs' stop reason, for their log.
   * Resolves true when every job finished in time.
   */
  async stopForcefully(timeoutMs: number, signal?: string): Promise<boolean> {
    this.#stopRequests.abort();
    this.#abortRequests.abort();
    this.#stopJobs.abort(signal);
    const timeout = new AbortController();
    const finished = await Promise.race([
      this.#drain().then(() => true),
      this.#sleep(timeoutMs, timeout.signal).then(() => false),
    ]);
    timeout.abort();
    return finished;
  }

  async #drain(): Promise<void> {
    const loops = [...this.#entries.values()].flatMap((e) => [...e.loops]);
    await Promise.allSettled(loops);
    while (this.#jobs.size > 0) await Promise.allSettled([...this.#jobs]);
  }
}
