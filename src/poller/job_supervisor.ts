/**
 * Runs one job from acceptance to its final update: opens its trace, starts
 * an executor subprocess with that executor's permissions, relays the log and
 * cancel requests, watches the process, and reports the result. A process that
 * dies without a result (crash, kill -9) gets its job reported as
 * runner_system_failure at once; nothing is left running on GitLab. What such
 * a docker job left in docker (containers, network, volumes) is then removed
 * by a short-lived process of the same permission set (`sweep`): the poller
 * itself has no docker access.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { shortToken } from "../config/short_token.ts";
import { killProcessGroups } from "../os/process_group.ts";
import {
  executorSettings,
  type FromExecutor,
  MessageTooLargeError,
  type ResultEvent,
  type SweptEvent,
  type TerminalEvent,
} from "../executors/process_protocol.ts";
import type { FailureReason } from "../job/failure_reason.ts";
import { RunnerInterrupt } from "../job/runner_interrupt.ts";
import { type JobSpec, parseJobSpec, variableValue } from "../job/job_spec.ts";
import type { OutputStream } from "../job/output_stream.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type { TraceTransport } from "../trace/transport.ts";
import { setLongTimeout } from "../time/clock.ts";
import { type ExecutorPermissions, executorPermissions } from "./executor_permissions.ts";
import { type CacheUrlSigners, presignJobCache } from "../cache/cache_url_signer.ts";
import type { CacheUrlAnswer, CacheUrlRequest } from "../executors/process_protocol.ts";
import type { JobHandler, JobSlot } from "./poller.ts";
import type { ExecutorLauncher, ExecutorProcess } from "./process_launcher.ts";
import { isDockerOwner, SWEEP_TIMEOUT_MS, sweepLeftovers } from "./leftover_sweep.ts";
import {
  type JobTerminalSession,
  type JobTerminalSessions,
  ProcessTerminal,
} from "./job_terminal.ts";

export interface JobResult {
  state: "success" | "failed";
  failureReason?: FailureReason;
  exitCode?: number;
}

/** A job's log on its way to GitLab; the trace/ pipeline implements it. */
export interface TraceSession {
  /** Raw job output from `stream` (default: the script's stdout); masking and limits happen behind this. */
  write(chunk: Uint8Array, stream?: OutputStream): void;
  /** Final flush and `PUT jobs/<id>`; resolves true once GitLab has it. */
  finish(result: JobResult): Promise<boolean>;
  /**
   * Ends the output (nothing more is written) and returns what GitLab has
   * not confirmed of the log yet, for the journal's `ended` record; null
   * when it is too large to keep there. Called at most once, before `finish`.
   */
  unsentLog?(): UnsentLog | null;
}

/** The end of a job's log GitLab has not confirmed, and the whole log's checksum and size. */
export interface UnsentLog {
  offset: number;
  bytes: Uint8Array;
  checksum: string;
  size: number;
}

export interface TraceCallbacks {
  /** `Job-Status: canceling`: stop the script, keep after_script. */
  onCancelRequested(): void;
  /** 403, or `Job-Status: canceled|failed`: the job is gone, kill it. */
  onAbort(): void;
}

export interface TraceSessionFactory {
  /**
   * May resolve later: the trace pipeline can load with the first job
   * (cli/trace_sessions.ts). Called once the executor process has the job,
   * which runs meanwhile; a rejection fails the job (runner_system_failure).
   */
  open(
    runner: RunnerConfig,
    job: JobSpec,
    callbacks: TraceCallbacks,
  ): TraceSession | Promise<TraceSession>;
}

/** What the metrics and `/debug/jobs/list` learn about running jobs. */
export interface JobObserver {
  jobStarted?(runner: RunnerConfig, job: JobSpec): void;
  jobStage?(runner: RunnerConfig, job: JobSpec, stage: string): void;
  /** The job's executor stage changed (`prepare`, `docker_run`, …). */
  jobExecutorStage?(runner: RunnerConfig, job: JobSpec, stage: string): void;
  jobFinished?(
    runner: RunnerConfig,
    job: JobSpec,
    result: JobResult,
    durationSeconds: number,
  ): void;
}

/**
 * Crash-safe record of the jobs in hand, so a restarted runner can report
 * them; journal/job_journal.ts implements it. Call order per job: `taken`
 * (before the acceptance PUT), `started` (before the executor starts),
 * `ended` (its result, before the final update), `reported` (GitLab has the
 * final state, or the job is gone). `taken` resolves once the record is
 * durable; `started`, `ended` and `reported` once it is
 * written (it survives a crash of the runner; the disk gets it with the next
 * fsync, see job_journal.ts). No call ever rejects.
 */
export interface JobRecorder {
  taken(runner: RunnerConfig, job: { id: number; token: string }): Promise<void>;
  started(runner: RunnerConfig, jobId: number): Promise<void>;
  /**
   * The job's result, before its final update: reported so at the next
   * start if that fails, with `log`, the end of its log GitLab may lack.
   */
  ended(
    runner: RunnerConfig,
    jobId: number,
    result: JobResult,
    serverReasons: readonly string[],
    log?: UnsentLog | null,
  ): Promise<void>;
  reported(runner: RunnerConfig, jobId: number, state: string): Promise<void>;
}

export interface JobSupervisorOptions {
  log: Logger;
  launcher: ExecutorLauncher;
  traces: TraceSessionFactory;
  /** For the acceptance `PUT jobs/<id>` (state=running). */
  transportFor(runner: RunnerConfig): TraceTransport;
  systemId: string;
  cwd: string;
  tempDir: string;
  /** Shared by all executor processes of this runner. */
  stateDir: string;
  env: (name: string) => string | undefined;
  /** The runner user's docker config file (`~/.docker/config.json`), "" when absent. */
  dockerConfigText?: () => string;
  observer?: JobObserver;
  journal?: JobRecorder;
  /** Extra seconds past the job timeout before the supervisor kills the process itself. */
  timeoutGraceSeconds?: number;
  /** How long a sweep after a dead docker job's process may take; default SWEEP_TIMEOUT_MS. */
  sweepTimeoutMs?: number;
  /** Pre-signs distributed cache URLs for executor processes; undefined = local cache only. */
  cacheUrls?: CacheUrlSigners;
  /** Global `user` as currently configured: shell jobs run as this user. */
  user?: () => string;
  /** Web terminal sessions GitLab got with jobs; absent without `[session_server]`. */
  terminals?: JobTerminalSessions;
}

const encoder = new TextEncoder();
/**
 * A job goes to a second process when the first, started before the job,
 * died before it said anything; never more often, so that processes that
 * cannot start at all fail the job instead of looping.
 */
const MAX_LAUNCH_ATTEMPTS = 2;

/** What one job's run and watch share: its slot, stop signal, trace, log and terminal. */
interface JobContext {
  slot: JobSlot;
  stop: AbortSignal;
  /**
   * Opens the job's trace on the first call, the same one after that; never
   * rejects: a trace that cannot open is a session whose `isBroken` is set.
   */
  trace(): Promise<OpenedTrace>;
  log: Logger;
  terminal: JobTerminalSession | null;
}

/** A job's trace session; `isBroken` when it could not open and the job must fail. */
type OpenedTrace = TraceSession & { isBroken?: true };

export class JobSupervisor implements JobHandler {
  #opts: JobSupervisorOptions;
  /** Executor processes that gave their result and are exiting on their own. */
  #exiting = new Set<Promise<void>>();
  /** Executor processes running a job, each with the end of its watch. */
  #running = new Map<ExecutorProcess, Promise<unknown>>();
  /** Sweeps of what dead executor processes left in docker. */
  #sweeps = new Set<Promise<void>>();
  /** Executor processes killed by `killRunning`: the runner exits before their jobs stopped. */
  #killed = new WeakSet<ExecutorProcess>();

  constructor(opts: JobSupervisorOptions) {
    this.#opts = opts;
  }

  async reject(runner: RunnerConfig, id: number, token: string, message: string): Promise<void> {
    // The payload did not validate; a minimal job is enough to fail it.
    const job = parseJobSpec({ id, token });
    await this.#opts.journal?.taken(runner, job);
    const session = await this.#opts.traces.open(runner, job, {
      onCancelRequested() {},
      onAbort() {},
    });
    session.write(
      encoder.encode(`\x1b[31;1mERROR: Job failed (system failure): ${message}\x1b[0;m\n`),
      "runner",
    );
    const delivered = await session.finish({
      state: "failed",
      failureReason: "runner_system_failure",
      exitCode: 3,
    });
    if (delivered) await this.#opts.journal?.reported(runner, id, "failed");
  }

  async handle(
    runner: RunnerConfig,
    job: JobSpec,
    slot: JobSlot,
    stop: AbortSignal,
  ): Promise<void> {
    const terminal = this.#opts.terminals?.take(job.id) ?? null;
    try {
      await this.#handle(runner, job, slot, stop, terminal);
    } finally {
      terminal?.close();
    }
  }

  async #handle(
    runner: RunnerConfig,
    job: JobSpec,
    slot: JobSlot,
    stop: AbortSignal,
    terminal: JobTerminalSession | null,
  ): Promise<void> {
    const log = this.#opts.log.child({
      [F.JOB_ID]: job.id,
      [F.RUNNER]: shortToken(runner.token),
      [F.EXECUTOR]: runner.executor,
    });
    const started = performance.now();
    let cancel: ((graceful: boolean) => void) | null = null;
    let canceledBeforeStart: boolean | null = null;
    // The trace opens once the executor process has the job (#watch): a fresh
    // runner's first job loads the trace pipeline (node:zlib, node:buffer)
    // while its stages already run in the other process.
    let opening: Promise<OpenedTrace> | undefined;
    const trace = () =>
      opening ??= this.#openTrace(runner, job, log, {
        onCancelRequested: () => cancel ? cancel(true) : (canceledBeforeStart ??= true),
        onAbort: () => cancel ? cancel(false) : (canceledBeforeStart = false),
      });
    log.info("Checking for jobs... received", {
      "job_name": job.jobInfo.name,
      [F.URL]: runner.url,
    });
    this.#opts.observer?.jobStarted?.(runner, job);

    await this.#opts.journal?.taken(runner, job);
    const accepted = await this.#opts.transportFor(runner).updateJob(
      { id: job.id, token: job.token },
      { state: "running" },
    );
    if (accepted.kind === "abort" || accepted.kind === "not-found") {
      log.warn("Job was canceled or removed before it started; dropping it");
      await this.#opts.journal?.reported(runner, job.id, "gone");
      this.#finished(runner, job, { state: "failed", failureReason: "job_canceled" }, started);
      return;
    }
    if (accepted.kind === "ok" && accepted.jobStatus === "canceling") canceledBeforeStart = false;

    let result: JobResult;
    if (canceledBeforeStart !== null) {
      const session = await trace();
      session.write(encoder.encode("\x1b[31;1mERROR: Job failed: canceled\x1b[0;m\n"), "runner");
      result = { state: "failed", failureReason: "job_canceled" };
      if (session.isBroken) result = { state: "failed", failureReason: "runner_system_failure" };
    } else {
      await this.#opts.journal?.started(runner, job.id);
      result = await this.#run(
        runner,
        job,
        { slot, stop, trace, log, terminal },
        (fn) => cancel = fn,
      );
    }
    const ending = await trace();
    await this.#opts.journal?.ended(
      runner,
      job.id,
      result,
      job.features.failureReasons,
      this.#opts.journal ? ending.unsentLog?.() : null,
    );
    const delivered = await ending.finish(result);
    if (!delivered) {
      log.error("Final job state could not be sent to GitLab", { "state": result.state });
    } // Undelivered, it stays in the journal: the next start reports it.
    else await this.#opts.journal?.reported(runner, job.id, result.state);
    log.info("Job finished", {
      "state": result.state,
      [F.FAILURE_REASON]: result.failureReason ?? null,
      [F.DURATION_S]: Math.round((performance.now() - started) / 10) / 100,
    });
    this.#finished(runner, job, result, started);
  }

  /**
   * The job's trace session; one that cannot open is logged, keeps nothing,
   * and reports the job failed (runner_system_failure) with a bare final
   * update, so the job does not stay running on GitLab.
   */
  async #openTrace(
    runner: RunnerConfig,
    job: JobSpec,
    log: Logger,
    callbacks: TraceCallbacks,
  ): Promise<OpenedTrace> {
    try {
      return await this.#opts.traces.open(runner, job, callbacks);
    } catch (err) {
      log.error("Cannot open the job's trace", { [F.ERROR]: String(err) });
      const transport = this.#opts.transportFor(runner);
      return {
        isBroken: true,
        write() {},
        async finish() {
          const update = await transport.updateJob(
            { id: job.id, token: job.token },
            { state: "failed", failureReason: "runner_system_failure" },
          );
          return update.kind !== "failed" && update.kind !== "accepted";
        },
      };
    }
  }

  /**
   * Resolves once every executor process that already gave its result has
   * exited, and every sweep after a dead one has ended (each within
   * `sweepTimeoutMs`).
   */
  async settled(): Promise<void> {
    while (this.#exiting.size > 0 || this.#sweeps.size > 0) {
      await Promise.all([...this.#exiting, ...this.#sweeps]);
    }
  }

  /**
   * Shutdown past `shutdown_timeout`: kills (SIGKILL) every executor process
   * still running a job. Resolves once each one's end was handled as a crash:
   * its job's result made, its process groups killed, and for a docker job
   * the sweep of what it left started (`settled` waits for that).
   */
  async killRunning(): Promise<void> {
    for (const proc of this.#running.keys()) {
      this.#killed.add(proc);
      proc.kill("SIGKILL");
    }
    await Promise.allSettled([...this.#running.values()]);
  }

  /**
   * After its result an executor process ends the job with `idle` (a
   * reusable one) or closes its stdout and exits: the job is reported without
   * waiting for that. Process groups of the job still alive then are killed.
   * An idle process goes back to the launcher for the next job of its
   * permission set; one that does not get there within 5 s is stopped (it
   * gets the usual time to exit, then SIGKILL).
   */
  #reap(proc: ExecutorProcess, groups: Set<number>, log: Logger): void {
    const exited = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const isIdle = await Promise.race([
        untilIdle(proc, groups),
        new Promise<false>((r) => timer = setTimeout(() => r(false), 5000)),
      ]);
      clearTimeout(timer);
      await killProcessGroups(groups);
      if (isIdle && this.#opts.launcher.release) {
        groups.clear();
        log.debug("Executor process idle", { [F.PID]: proc.pid });
        this.#opts.launcher.release(proc);
        return;
      }
      await Promise.race([
        proc.status.catch(() => {}),
        new Promise<void>((r) => timer = setTimeout(r, 5000)),
      ]);
      clearTimeout(timer);
      await proc[Symbol.asyncDispose]();
      await killProcessGroups(groups);
    })().catch(() => {});
    this.#exiting.add(exited);
    exited.finally(() => this.#exiting.delete(exited));
  }

  #finished(runner: RunnerConfig, job: JobSpec, result: JobResult, started: number): void {
    this.#opts.observer?.jobFinished?.(runner, job, result, (performance.now() - started) / 1000);
  }

  /** The executor process's permission set for `job` of `runner` (null: a job that sets nothing). */
  #permissionsFor(runner: RunnerConfig, job: JobSpec | null): ExecutorPermissions {
    return executorPermissions({
      runner,
      cwd: this.#opts.cwd,
      tempDir: this.#opts.tempDir,
      stateDir: this.#opts.stateDir,
      env: this.#opts.env,
      dockerAuthConfigs: runner.executor === "docker"
        ? [
          (job && variableValue(job, "DOCKER_AUTH_CONFIG")) ?? "",
          this.#opts.env("DOCKER_AUTH_CONFIG") ?? "",
          this.#opts.dockerConfigText?.() ?? "",
        ]
        : [],
    });
  }

  /**
   * Has the launcher start the executor processes of the first jobs now (one
   * per permission set of `runners`, at most `concurrent`): a fresh runner's
   * first job then skips the runtime's start-up, as later ones do.
   */
  prestart(runners: readonly RunnerConfig[], concurrent: number): void {
    const { launcher } = this.#opts;
    if (!launcher.prestart) return;
    const sets = new Map<string, ExecutorPermissions>();
    for (const runner of runners) {
      if (sets.size >= concurrent) break;
      try {
        const permissions = this.#permissionsFor(runner, null);
        sets.set(JSON.stringify(permissions), permissions);
      } catch {
        // Only a head start: the runner's first job computes its row again and reports what fails.
      }
    }
    for (const permissions of sets.values()) {
      try {
        launcher.prestart(permissions);
      } catch (err) {
        // As above: the first job's launch fails the same way and says so in its log.
        this.#opts.log.debug("Cannot prestart an executor process", {
          [F.ERROR]: (err as Error).message,
        });
      }
    }
  }

  async #run(
    runner: RunnerConfig,
    job: JobSpec,
    context: JobContext,
    setCancel: (fn: (graceful: boolean) => void) => void,
  ): Promise<JobResult> {
    const failSystem = async (message: string): Promise<JobResult> => {
      (await context.trace()).write(
        encoder.encode(`\x1b[31;1mERROR: Job failed (system failure): ${message}\x1b[0;m\n`),
        "runner",
      );
      return { state: "failed", failureReason: "runner_system_failure" };
    };
    let permissions: ExecutorPermissions;
    try {
      permissions = this.#permissionsFor(runner, job);
    } catch (err) {
      // A setting the permission table cannot read (a [runners.docker] host that is no
      // address): the job fails naming it, instead of staying running on GitLab.
      return await failSystem(`Cannot start the executor process: ${(err as Error).message}`);
    }
    for (let attempt = 1;; attempt++) {
      let proc: ExecutorProcess;
      const { launcher } = this.#opts;
      try {
        // Behind the launcher's start limit a job waits for a free process; a stop
        // ends the wait, and the job's process is then stopped with the others (#watch).
        proc = launcher.launchWhenReady
          ? await launcher.launchWhenReady(permissions, context.stop)
          : launcher.launch(permissions);
      } catch (err) {
        return await failSystem(`Cannot start the executor process: ${(err as Error).message}`);
      }
      let isReaped = false;
      const watched = this.#watch(
        proc,
        runner,
        job,
        context,
        setCancel,
        {
          reap: (groups) => {
            isReaped = true;
            this.#reap(proc, groups, context.log);
          },
          dead: () => {
            if (isDockerOwner(runner)) this.#sweep(runner, permissions, context.log);
          },
        },
        attempt < MAX_LAUNCH_ATTEMPTS,
      );
      this.#running.set(proc, watched.catch(() => {}));
      try {
        const result = await watched;
        if (result !== null) return result;
      } finally {
        this.#running.delete(proc);
        if (!isReaped) await proc[Symbol.asyncDispose]();
      }
      context.log.warn("Executor process was gone before it got the job; starting another", {
        [F.PID]: proc.pid,
      });
    }
  }

  /**
   * Sends the job, relays what the process says, and maps how it ended to a
   * result. Null when a prestarted process died before it said anything and
   * `mayRetry`: the job never started there, and goes to another process.
   * `ends.reap` takes a process that gave its result; `ends.dead` is called
   * once a process that had the job died without one.
   */
  async #watch(
    proc: ExecutorProcess,
    runner: RunnerConfig,
    job: JobSpec,
    context: JobContext,
    setCancel: (fn: (graceful: boolean) => void) => void,
    ends: { reap(groups: Set<number>): void; dead(): void },
    mayRetry: boolean,
  ): Promise<JobResult | null> {
    const { slot, stop, log } = context;
    log.debug("Executor process started", { [F.PID]: proc.pid });

    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let interrupted = false;
    let timedOut = false;
    const sendCancel = (graceful: boolean, interrupt?: string) => {
      proc.send({ type: "cancel", graceful, ...(interrupt ? { interrupt } : {}) }).catch(() => {});
      if (!graceful && killTimer === undefined) {
        // The process gets a moment to stop its job and clean up, then it is killed.
        killTimer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      }
    };
    setCancel(sendCancel);
    const onStop = () => {
      interrupted = true;
      // The runner stops on this signal (Poller.stopForcefully): the job is aborted, not canceled.
      sendCancel(false, typeof stop.reason === "string" ? stop.reason : undefined);
    };
    // A listener added to a signal already aborted never runs: a stop that came
    // between the job's acceptance and here is acted on once the job is sent.
    const isStoppedBefore = stop.aborted;
    stop.addEventListener("abort", onStop, { once: true });
    const grace = this.#opts.timeoutGraceSeconds ?? 60;
    // Chained timers: a project's timeout may be a month, past the 2^31-1 ms
    // a single timer takes (such a timer fires at once). Cleared when the job
    // ends: the Clock's sleep leaves a timer that cannot be cleared, and held
    // its memory for the job's whole timeout after the job (5000 jobs with a
    // 1 h timeout: +30.6 MB of RSS against +13.0).
    const watchdog = setLongTimeout(() => {
      timedOut = true;
      sendCancel(false);
    }, (job.timeout + grace) * 1000);

    let result: ResultEvent | null = null;
    let tooLarge: MessageTooLargeError | null = null;
    let isHeard = false;
    let isTraceBroken = false;
    const groups = new Set<number>();
    const terminal = context.terminal ? new ProcessTerminal((m) => proc.send(m)) : null;
    try {
      await proc.send({
        type: "start",
        job,
        runner: executorSettings(runner),
        shortToken: shortToken(runner.token),
        systemId: this.#opts.systemId,
        concurrentId: slot.concurrentId,
        concurrentProjectId: slot.concurrentProjectId,
        cwd: this.#opts.cwd,
        stateDir: this.#opts.stateDir,
        tempDir: this.#opts.tempDir,
        ...(this.#opts.user?.() ? { user: this.#opts.user() } : {}),
        ...(context.terminal
          ? { terminal: { sessionTimeoutSeconds: context.terminal.sessionTimeoutSeconds } }
          : {}),
        ...(this.#opts.launcher.release ? { isReusable: true } : {}),
      });
      if (isStoppedBefore) onStop();
      // The job runs while its trace opens; what it says waits in the pipe till then.
      const session = await context.trace();
      if (session.isBroken) {
        isTraceBroken = true;
        sendCancel(false);
      }
      for await (const item of proc.events()) {
        if (!isHeard && terminal) context.terminal?.attach(terminal);
        isHeard = true;
        if ("trace" in item) session.write(item.trace, item.stream);
        else if (item.event.type === "cache-url") {
          const request = item.event;
          void this.#cacheUrl(runner, job, request).then((answer) => proc.send(answer))
            .catch(() => {});
        } else if (item.event.type.startsWith("terminal-")) {
          terminal?.handle(item.event as TerminalEvent);
        } else if (item.event.type === "process-group") {
          if (item.event.isAlive) groups.add(item.event.pgid);
          else groups.delete(item.event.pgid);
        } else result = this.#onEvent(runner, job, item.event) ?? result;
        // The result is the process's last frame: report now, let it exit on its own.
        if (result !== null) break;
      }
    } catch (err) {
      if (err instanceof MessageTooLargeError) tooLarge = err;
      else {
        if (isHeard || !proc.isPrestarted || !mayRetry) {
          log.error("Lost the executor process", { [F.ERROR]: String(err) });
        }
        // Nobody reads it any more: a live process would fill its pipe and
        // never end. One already dead is not touched.
        proc.kill("SIGKILL");
      }
    } finally {
      watchdog.clear();
      stop.removeEventListener("abort", onStop);
      terminal?.close();
    }
    if (tooLarge !== null) {
      // Nothing was sent: the process, still waiting for a job, is let go by the caller.
      log.error("The job is too large for an executor process", { [F.ERROR]: tooLarge.message });
      (await context.trace()).write(
        encoder.encode(
          `\n\x1b[31;1mERROR: Job failed (system failure): the job GitLab sent cannot be run: ${tooLarge.message}\x1b[0;m\n`,
        ),
        "runner",
      );
      return { state: "failed", failureReason: "runner_system_failure" };
    }
    if (result !== null) {
      clearTimeout(killTimer);
      ends.reap(groups);
      if (isTraceBroken) return { state: "failed", failureReason: "runner_system_failure" };
      return this.#resultOf(result, interrupted);
    }
    const status = await proc.status;
    clearTimeout(killTimer);
    if (!isHeard && proc.isPrestarted && mayRetry && !interrupted && !timedOut) return null;
    // The executor process died with stages running: their process groups outlive it.
    await killProcessGroups(groups);
    ends.dead();
    const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
    const tail = proc.stderrTail().trim().split("\n").slice(-3).join(" | ");
    log.error("Executor process ended without a result", { "how": how, [F.ERROR]: tail });
    const reason: FailureReason = timedOut
      ? "job_execution_timeout"
      : interrupted
      ? "runner_interrupted"
      : "runner_system_failure";
    // Killed by the runner on its way out: not a crash, and said as such.
    const failed = this.#killed.has(proc) && interrupted
      ? `Job failed: ${
        typeof stop.reason === "string" ? new RunnerInterrupt(stop.reason).message : "aborted"
      }: the runner exited before the job stopped (its executor process was killed)`
      : `Job failed (system failure): executor process ended unexpectedly (${how})`;
    (await context.trace()).write(
      encoder.encode(`\n\x1b[31;1mERROR: ${failed}\x1b[0;m\n`),
      "runner",
    );
    return { state: "failed", failureReason: reason };
  }

  /**
   * Starts the sweep of what dead executor processes of this runner host left
   * in docker; `settled` waits for it. Called once a docker job's process died
   * without a result: its owner lease is free, so the sweep takes its objects.
   */
  #sweep(runner: RunnerConfig, permissions: ExecutorPermissions, log: Logger): void {
    const swept = this.#runSweep(runner, permissions, log).catch((err: unknown) => {
      log.warn("Cannot remove what the executor process left in docker", {
        [F.ERROR]: err instanceof Error ? err.message : String(err),
      });
    });
    this.#sweeps.add(swept);
    swept.finally(() => this.#sweeps.delete(swept));
  }

  async #runSweep(
    runner: RunnerConfig,
    permissions: ExecutorPermissions,
    log: Logger,
  ): Promise<void> {
    const timeoutMs = this.#opts.sweepTimeoutMs ?? SWEEP_TIMEOUT_MS;
    const swept = await sweepLeftovers(this.#opts.launcher, {
      runner,
      permissions,
      stateDir: this.#opts.stateDir,
      timeoutMs,
    });
    if (swept !== "timeout") return logSwept(swept, log);
    log.warn(
      `Removing what the executor process left in docker did not finish within ${
        timeoutMs / 1000
      } s: the next docker job's executor process removes it`,
    );
  }

  #resultOf(result: ResultEvent, interrupted: boolean): JobResult {
    if (interrupted && result.state === "failed") {
      return { state: "failed", failureReason: "runner_interrupted", ...exitCode(result) };
    }
    return {
      state: result.state,
      ...(result.failureReason ? { failureReason: result.failureReason } : {}),
      ...exitCode(result),
    };
  }

  /** Signs a cache URL for the executor process; the object name is formed here, from the job's project. */
  async #cacheUrl(
    runner: RunnerConfig,
    job: JobSpec,
    request: CacheUrlRequest,
  ): Promise<CacheUrlAnswer> {
    try {
      const signers = this.#opts.cacheUrls;
      if (!signers) throw new Error("the runner has no distributed cache");
      const presigned = await presignJobCache(signers, request, {
        cache: runner.cache,
        shortToken: shortToken(runner.token),
        projectId: job.jobInfo.projectId,
        timeoutSeconds: job.timeout,
      });
      return { type: "cache-url", id: request.id, ...presigned };
    } catch (err) {
      return { type: "cache-url", id: request.id, error: (err as Error).message };
    }
  }

  #onEvent(runner: RunnerConfig, job: JobSpec, event: FromExecutor): ResultEvent | null {
    if (event.type === "stage") {
      this.#opts.observer?.jobStage?.(runner, job, event.stage);
      return null;
    }
    if (event.type === "executor-stage") {
      this.#opts.observer?.jobExecutorStage?.(runner, job, event.stage);
      return null;
    }
    return event.type === "result" ? event : null;
  }
}

/**
 * Reads the rest of a job's frames after its result, keeping track of its
 * process groups; true when the process said `idle`, false when it closed
 * its stdout (it is exiting).
 */
async function untilIdle(proc: ExecutorProcess, groups: Set<number>): Promise<boolean> {
  try {
    for await (const item of proc.events()) {
      if ("trace" in item) continue;
      if (item.event.type === "idle") return true;
      if (item.event.type === "process-group") {
        if (item.event.isAlive) groups.add(item.event.pgid);
        else groups.delete(item.event.pgid);
      }
    }
  } catch {
    // A broken stdout: the process is not reused.
  }
  return false;
}

/** The runner log says what a sweep removed, and what it could not. */
function logSwept(swept: SweptEvent, log: Logger): void {
  if (swept.error !== undefined) {
    log.warn("Cannot remove what the executor process left in docker", { [F.ERROR]: swept.error });
    return;
  }
  const removed = swept.containers.length + swept.networks.length + swept.volumes.length;
  if (removed > 0) {
    const fields: Record<string, string> = {};
    if (swept.containers.length > 0) fields[F.CONTAINERS] = swept.containers.join(",");
    if (swept.networks.length > 0) fields[F.NETWORKS] = swept.networks.join(",");
    if (swept.volumes.length > 0) fields[F.VOLUMES] = swept.volumes.join(",");
    log.info("Removed what the executor process left in docker", fields);
  } else log.debug("The executor process left nothing in docker");
  for (const failure of swept.failures) {
    log.warn("Cannot remove a docker object the executor process left", {
      [F.ERROR]: `${failure.name}: ${failure.reason}`,
    });
  }
}

function exitCode(result: ResultEvent): { exitCode?: number } {
  return result.exitCode !== undefined && result.exitCode !== 0
    ? { exitCode: result.exitCode }
    : {};
}
