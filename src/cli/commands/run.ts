/**
 * `runner run` and `runner run-single`: build the poller with its GitLab
 * clients, executor launcher, metrics and config watcher, then serve until a
 * signal. SIGQUIT drains (no new jobs, running ones finish); SIGTERM/SIGINT
 * abort running jobs, report them and exit within `shutdown_timeout`, also
 * during a drain; a signal while aborting exits at once (cli/stop_sequence.ts).
 * Either way executor processes still running a
 * job are killed first, and what their docker jobs left is removed (at most
 * 10 s, JobSupervisor); SIGHUP reloads config.toml.
 */
import { CacheUrlSigners } from "../../cache/cache_url_signer.ts";
import { dirname, fromFileUrl, join, resolve } from "../../path/host_path.ts";
import type { GlobalConfig, RunnerConfig } from "../../config/runner_config.ts";
import { ConfigWatcher } from "../../config/config_watcher.ts";
import { ConfigError, formatConfigProblem } from "../../config/config_error.ts";
import { shortToken } from "../../config/short_token.ts";
import { journalRunner } from "../journal_runner.ts";
import { KeptJobRetry } from "../kept_job_retry.ts";
import { loadOrCreateSystemId } from "../../config/system_id.ts";
import { JobClient, type RequestEvent, RunnerClient } from "../../gitlab/mod.ts";
import {
  FileJournalStore,
  JobJournal,
  type JournalJob,
  reportInterruptedJobs,
} from "../../journal/mod.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import type { JobImage, JobSpec } from "../../job/job_spec.ts";
import type { MetricsEndpoint } from "../../metrics/metrics_endpoint.ts";
import type { RunnerLabels } from "../../metrics/runner_metrics.ts";
import { type RunnerEvents, SilentMetrics } from "../../metrics/silent_metrics.ts";
import { dockerConfigPath } from "../../poller/executor_permissions.ts";
import { JobSupervisor } from "../../poller/job_supervisor.ts";
import { Poller } from "../../poller/poller.ts";
import { knownRevision, SubprocessLauncher } from "../../poller/process_launcher.ts";
import { isCompiledBinary } from "../../poller/compiled_grants.ts";
import { type CliContext, CommandError, POLLER_RESCOPE_EXIT } from "../cli_context.ts";
import {
  configPath,
  enterWorkingDirectory,
  loadConfig,
  logConfigWarnings,
} from "../config_flags.ts";
import { Flags, parseFlags } from "../flags.ts";
import { GitLabJobSource } from "../gitlab_job_source.ts";
import type { SessionServer } from "../../session/session_server.ts";
import { hasTerminal, runnerInfoFor, tlsFilesOf } from "../runner_identity.ts";
import { TraceSessions } from "../trace_sessions.ts";
import { StopSequence } from "../stop_sequence.ts";
import { checkUserSwitch } from "../../executors/shell/user_switch.ts";
import { TokenRotation } from "../token_rotation.ts";
import { featureFlagsForJob } from "../../build/feature_flags.ts";
import { IdleCollector, releaseJobGarbage, releaseStartupGarbage } from "../startup_garbage.ts";
import { parseConfigInChild } from "../config_reader_process.ts";

import { RUN_FLAGS } from "./run_flags.ts";

export { RUN_FLAGS };

interface ServeOptions {
  config: GlobalConfig;
  configFile: { path: string; text: string | null } | null;
  systemId: string;
  /** Shared state of executor processes: `<config dir>/.runner`. */
  stateDir: string;
  listenAddress: string;
  /** run-single: stop after this many jobs (0 = never). */
  maxBuilds: number;
  /** run-single: stop when no job arrived for this many seconds (0 = never). */
  waitTimeoutSeconds: number;
  /** `run --user`: overrides the file's `user` on every load; "" = the file decides. */
  userFlag?: string;
}

function labels(runner: RunnerConfig, systemId: string): RunnerLabels {
  return { runner: shortToken(runner.token), runnerName: runner.name, systemId };
}

/** The official runner labels only these endpoints; the others are not counted. */
const METRIC_ENDPOINTS = new Set(["request_job", "update_job", "patch_trace", "reset_token"]);

function recordRequest(metrics: RunnerEvents, runner: RunnerLabels, e: RequestEvent): void {
  if (!METRIC_ENDPOINTS.has(e.endpoint)) return;
  metrics.apiRequest(runner, { ...e, endpoint: e.endpoint as "request_job" });
}

/** The runner's `src/`, from source. */
function sourceDir(): string {
  return fromFileUrl(new URL("../..", import.meta.url)).replace(/\/$/, "");
}

/** From source, executor processes start at their own entry: it reaches fewer modules than main.ts. */
function mainModule(): string | null {
  return isCompiledBinary(Deno.execPath())
    ? null
    : fromFileUrl(new URL("../executor_entry.ts", import.meta.url));
}

/** One RunnerClient per (url, token): it owns the long-poll `last_update`. */
class Clients {
  #runners = new Map<string, RunnerClient>();
  #jobs = new Map<string, JobClient>();
  constructor(
    private readonly ctx: CliContext,
    private readonly systemId: string,
    private readonly metrics: RunnerEvents,
    /** `connection_max_age` of the config as it is now, in ms. */
    private readonly connectionMaxAgeMs: () => number,
  ) {}

  runner(runner: RunnerConfig): RunnerClient {
    const key = `${runner.url}\u0000${runner.token}`;
    let client = this.#runners.get(key);
    if (!client) {
      client = new RunnerClient({
        url: runner.url,
        runnerInfo: runnerInfoFor(this.ctx.version, runner),
        token: runner.token,
        systemId: this.systemId,
        log: this.ctx.log,
        ...tlsFilesOf(runner),
        onRequest: (e) => recordRequest(this.metrics, labels(runner, this.systemId), e),
        onCompleted: (e) => this.metrics.apiRequestAttempts(e),
        connectionMaxAgeMs: this.connectionMaxAgeMs,
      });
      this.#runners.set(key, client);
    }
    return client;
  }

  /** The runner client of `before` (whose token it already changed) serves `after`. */
  retoken(before: RunnerConfig, after: RunnerConfig): void {
    const key = `${before.url}\u0000${before.token}`;
    const client = this.#runners.get(key);
    if (!client) return;
    this.#runners.delete(key);
    this.#runners.set(`${after.url}\u0000${after.token}`, client);
  }

  job(runner: RunnerConfig): JobClient {
    const key = `${runner.url}\u0000${runner.token}`;
    let client = this.#jobs.get(key);
    if (!client) {
      client = new JobClient({
        url: runner.url,
        runnerInfo: runnerInfoFor(this.ctx.version, runner),
        log: this.ctx.log,
        ...tlsFilesOf(runner),
        onRequest: (e) => recordRequest(this.metrics, labels(runner, this.systemId), e),
        onCompleted: (e) => this.metrics.apiRequestAttempts(e),
        connectionMaxAgeMs: this.connectionMaxAgeMs,
      });
      this.#jobs.set(key, client);
    }
    return client;
  }
}

async function serve(ctx: CliContext, opts: ServeOptions): Promise<number> {
  const { systemId } = opts;
  let config = opts.config;
  const log = ctx.log;
  ctx.sink.configure({ level: config.logLevel, format: config.logFormat });
  // prom-client and the metrics cost an idle poller about 10 MB: they load only
  // when an address serves them. A reload that sets one starts a new poller
  // (it needs that address's net permission, cli/poller_supervisor.ts).
  const endpoint: MetricsEndpoint | null = opts.listenAddress || config.listenAddress
    ? (await import("../../metrics/metrics_endpoint.ts")).createMetricsEndpoint({
      version: ctx.version,
      // The process metrics it registers are those the first snapshot has.
      ...(ctx.pollerScope ? { procfs: await ctx.pollerScope.watchProcfs() } : {}),
      log,
    })
    : null;
  const metrics: RunnerEvents = endpoint?.metrics ?? new SilentMetrics();
  ctx.onLogRecord = (level) => metrics.logRecorded(level);
  metrics.setProcessState("starting");
  const clients = new Clients(ctx, systemId, metrics, () => config.connectionMaxAge * 1000);
  const tempDir = ctx.pollerScope?.tempDir ?? await Deno.makeTempDir({ prefix: "runner-" });
  for (const r of config.runners) ctx.sink.addSecret(r.token);

  let finishedJobs = 0;
  let lastJobAt = Date.now();
  // What jobs left in this thread's heap, collected once none ran for a while.
  const idleCollector = new IdleCollector({
    running: () => poller.runningJobs,
    collect: () => releaseJobGarbage(log),
  });
  // Windows has no SIGQUIT: there the first Ctrl-C drains, as upstream's.
  const stop = new StopSequence({ isFirstGraceful: Deno.build.os === "windows" });
  let watcher: ConfigWatcher | null = null;
  /** A SIGHUP that came before the watcher: it reloads once the watcher is there. */
  let isReloadWanted = false;
  // Signals are taken from here, before the slow parts of the start (the
  // journal's report to a GitLab that may not answer), where a SIGHUP killed
  // the runner; a stop signal ends the start.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP"];
  const handlers = new Map<Deno.Signal, () => void>();
  for (const signal of signals) {
    const handler = () => {
      if (signal === "SIGHUP") {
        log.info("Reloading configuration (SIGHUP)");
        if (watcher) void watcher.reload();
        else isReloadWanted = true;
        return;
      }
      const note = stop.signal(signal);
      if (note) log.warn(note);
    };
    handlers.set(signal, handler);
    Deno.addSignalListener(signal, handler);
  }
  const journal = await openJournal(ctx, join(opts.stateDir, "journal"));
  let sessionServer: SessionServer | null = null;
  const sessionSettings = { ...config.sessionServer };
  if (sessionSettings.listenAddress !== "") {
    try {
      // Loaded only when configured: its certificate needs node:crypto, several MB idle.
      const { SessionServer } = await import("../../session/session_server.ts");
      sessionServer = await SessionServer.start({
        listenAddress: sessionSettings.listenAddress,
        advertiseAddress: sessionSettings.advertiseAddress,
        sessionTimeoutSeconds: () => config.sessionServer.sessionTimeout,
        log,
      });
    } catch (err) {
      // As upstream: a session server that cannot start stops the runner.
      log.error("Failed to create session server", { [F.ERROR]: (err as Error).message });
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
      await journal?.close();
      return 1;
    }
  } else {
    log.debug("[session_server].listen_address not defined, session endpoints disabled");
  }
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: mainModule(),
    ...(isCompiledBinary(Deno.execPath()) ? {} : {
      sourceDir: sourceDir(),
      ...knownRevision(ctx.version.revision),
    }),
    env: ctx.envObject(),
    onChildLog: (pid, line) => relayChildLog(ctx, pid, line),
    // A started executor process waits for the next job while jobs keep coming.
    spareIdleMs: 60_000,
    // Runtimes starting side by side share the cores with the jobs already running.
    startLimit: navigator.hardwareConcurrency,
  });
  // Jobs of the journal GitLab has no final state of: reported at start
  // (those a killed predecessor left), and again later while they are kept.
  const notedJobs = new Set<string>();
  let bare: RunnerConfig | null = null;
  const reportJournal = (jobs?: readonly JournalJob[]) =>
    reportInterruptedJobs(journal!, {
      transportFor: (job) => clients.job(journalRunner(config, job, bare)),
      log,
      notedJobs,
      ...(jobs ? { jobs } : {}),
    });
  const keptRetry = journal ? new KeptJobRetry({ journal, report: reportJournal, log }) : null;
  const supervisor = new JobSupervisor({
    ...(journal ? { journal } : {}),
    log,
    launcher,
    traces: new TraceSessions({ clientFor: (r) => clients.job(r), log, tempDir }),
    transportFor: (r) => clients.job(r),
    systemId,
    cwd: ctx.cwd,
    tempDir,
    stateDir: opts.stateDir,
    env: ctx.env,
    cacheUrls: new CacheUrlSigners({ env: ctx.env }),
    dockerConfigText: () => readDockerConfig(ctx.env),
    user: () => config.user,
    ...(sessionServer ? { terminals: sessionServer } : {}),
    observer: {
      jobStarted: (runner, job) => {
        lastJobAt = Date.now();
        idleCollector.jobStarted();
        ctx.sink.addJobSecret(job.token);
        // As the build resolves them: the runner's environment counts, values are expanded.
        const flags = featureFlagsForJob(runner, job.variables);
        metrics.jobStarted(labels(runner, systemId), {
          id: job.id,
          url: `${runner.url.replace(/\/+$/, "")}/${job.jobInfo.projectFullPath}/-/jobs/${job.id}`,
          executor: runner.executor,
          isStageTimed: flags["FF_EXPORT_HIGH_CARDINALITY_METRICS"] === true,
        });
        if (flags["FF_LOG_IMAGES_CONFIGURED_FOR_JOB"] === true) {
          logConfiguredImages(
            log.child({ [F.JOB_ID]: job.id, [F.RUNNER]: shortToken(runner.token) }),
            job,
          );
        }
        metrics.jobQueued(labels(runner, systemId), {
          durationSeconds: job.jobInfo.timeInQueueSeconds,
          projectJobsRunning: job.jobInfo.projectJobsRunningOnInstanceRunnersCount,
          size: job.jobInfo.queueSize,
          depth: job.jobInfo.queueDepth,
        });
      },
      jobStage: (_runner, job, stage) => metrics.jobStageChanged(job.id, { stage }),
      jobExecutorStage: (_runner, job, executorStage) =>
        metrics.jobStageChanged(job.id, { executorStage }),
      jobFinished: (runner, job, result, durationSeconds) => {
        // Its final update given up: tried again later, without a restart note
        // (its log went as far as those attempts got it).
        if (keptRetry && journal?.isInHand(runner.url, job.id)) {
          notedJobs.add(`${runner.url}\u0000${job.id}`);
          keptRetry.add([{ jobId: job.id, url: runner.url }]);
        }
        // Upstream counts a job that ends in failure as a worker processing failure.
        if (result.state !== "success") {
          metrics.workerProcessingFailed(labels(runner, systemId), "job_failure");
        }
        metrics.jobFinished(job.id, {
          state: result.state,
          ...(result.failureReason ? { failureReason: result.failureReason } : {}),
          durationSeconds,
        });
        ctx.sink.releaseJobSecret(job.token);
        finishedJobs++;
        lastJobAt = Date.now();
        idleCollector.jobFinished();
        if (opts.maxBuilds > 0 && finishedJobs >= opts.maxBuilds) stop.drain();
      },
    },
  });
  const poller = new Poller({
    log,
    sourceFor: (runner) =>
      new GitLabJobSource(
        clients.runner(runner),
        sessionServer && hasTerminal(runner.executor) ? sessionServer : null,
      ),
    handler: supervisor,
    observer: {
      requestFinished: (runner, kind) => {
        if (kind === "job") metrics.workerFed(labels(runner, systemId));
        else if (kind === "error" || kind === "invalid-job") {
          metrics.workerFeedFailed(labels(runner, systemId));
        }
      },
      healthCheckFailed: (runner) => metrics.healthCheckFailed(labels(runner, systemId)),
      requestConcurrencyExceeded: (runner) =>
        metrics.requestConcurrencyExceeded(labels(runner, systemId)),
      requestConcurrencyChanged: (runner, state) =>
        metrics.setRequestConcurrency(labels(runner, systemId), state),
    },
  });

  const applyConfig = (next: GlobalConfig) => {
    if (opts.userFlag) next.user = opts.userFlag;
    warnUserIgnored(log, next);
    config = next;
    for (const r of next.runners) ctx.sink.addSecret(r.token);
    metrics.setConcurrent(next.concurrent);
    metrics.setWorkerSlots(next.concurrent);
    metrics.setLimits(next.runners.map((r) => ({ runner: labels(r, systemId), limit: r.limit })));
    poller.apply(next);
    rotation.plan(next);
  };
  if (journal && keptRetry) {
    // A job of an entry removed since is reported through a bare entry with its URL.
    if (journal.inHand().length > 0) {
      bare = (await import("../../config/default_config.ts")).defaultRunnerConfig();
    }
    // Before polling: jobs a killed predecessor had taken are closed on GitLab first.
    // A stop signal meanwhile ends the start: what is not reported stays in the journal.
    const outcome = await Promise.race([reportJournal(), stop.started]);
    // Kept (GitLab down at start): tried again while the runner serves.
    if (typeof outcome === "object") {
      keptRetry.add(journal.inHand().filter((j) => outcome.kept.includes(j.jobId)));
    }
  }
  const rotation = new TokenRotation({
    log,
    reset: (runner) => clients.runner(runner).resetToken(),
    swap: async (before, after) => {
      ctx.sink.addSecret(after.token);
      const next: GlobalConfig = {
        ...config,
        runners: config.runners.map((r) =>
          r.url === before.url && r.token === before.token ? after : r
        ),
      };
      // The entry keeps polling under its new token before anything else sees the change.
      clients.retoken(before, after);
      poller.retoken(before, after);
      if (opts.configFile) {
        try {
          const { saveConfig } = await import("../../config/save_config.ts");
          await saveConfig(opts.configFile.path, next);
          metrics.configSaved();
        } catch (err) {
          metrics.configSaveFailed();
          log.error(`Cannot save the rotated token: ${(err as Error).message}`);
        }
      }
      applyConfig(next);
    },
  });
  // Stopped during the start: no job is asked for.
  if (stop.phase === "serving") {
    applyConfig(config);
    warnConcurrentBelowRunners(log, config);
    // The first jobs' executor processes start up while the poller asks for them.
    supervisor.prestart(config.runners, config.concurrent);
  }
  metrics.configLoaded();
  const previous = ctx.pollerScope?.previous;
  if (previous && opts.configFile) {
    // This poller replaced one that lacked the permissions of this config: a reload.
    const { describeConfigChanges } = await import("../../config/config_diff.ts");
    log.info(`Configuration loaded: ${describeConfigChanges(previous, config)}`, {
      [F.FILE]: opts.configFile.path,
    });
  }

  const listen = async (address: string) => {
    const server = endpoint?.server;
    if (!server) {
      if (address) {
        log.warn("listen_address set by a reload takes effect after a restart", {
          [F.ADDRESS]: address,
        });
      }
      return;
    }
    if (!address) return server.stop();
    try {
      // The server says where it listens, once per address it binds.
      await server.listen(address);
    } catch (err) {
      log.error("Cannot start the metrics server", {
        [F.ADDRESS]: address,
        [F.ERROR]: (err as Error).message,
      });
    }
  };
  await listen(opts.listenAddress || config.listenAddress);

  let isRescoping = false;
  if (opts.configFile) {
    const configPath = opts.configFile.path;
    watcher = new ConfigWatcher({
      path: configPath,
      env: ctx.envObject(),
      initial: { config, text: opts.configFile.text },
      // Parsed by a short-lived child, as the supervisor reads it at start.
      parse: (text) =>
        parseConfigInChild(text, configPath, {
          execPath: Deno.execPath(),
          sourceDir: isCompiledBinary(Deno.execPath()) ? null : sourceDir(),
          env: ctx.envObject(),
        }),
      onChange: async (next, summary, warnings) => {
        if (isRescoping) return;
        const missing = ctx.pollerScope?.missing(next) ?? [];
        if (missing.length > 0 && stop.phase !== "serving") {
          // Stopping for good: no poller follows this one to take it.
          log.warn(
            "Configuration not applied: it needs permissions this poller does not " +
              "hold, and the runner is stopping",
            {
              "permissions": missing.join(", "),
              [F.FILE]: opts.configFile!.path,
            },
          );
          return;
        }
        if (missing.length > 0) {
          // A worker's permissions cannot grow: this poller finishes its jobs and the
          // supervisor starts one with the new config's set (cli/poller_supervisor.ts).
          log.warn(
            "Configuration needs permissions this poller does not hold: finishing the running " +
              "jobs, then restarting the poller with them",
            { "permissions": missing.join(", "), [F.FILE]: opts.configFile!.path },
          );
          isRescoping = true;
          ctx.pollerScope?.onRescope(config);
          stop.drain();
          return;
        }
        if (!opts.userFlag && next.user && next.user !== config.user) {
          // As at start: every shell job would fail in su. (A poller that was not
          // granted su checks it at the start of the one that is.)
          try {
            await checkUserSwitch(next.user, { env: ctx.envObject(), cwd: ctx.cwd });
          } catch (err) {
            throw new ConfigError([{
              file: opts.configFile!.path,
              line: null,
              key: "user",
              message: `key user: ${(err as Error).message}`,
            }], { cause: err });
          }
        }
        for (const w of warnings) log.warn(formatConfigProblem(w));
        if (
          next.sessionServer.listenAddress !== sessionSettings.listenAddress ||
          next.sessionServer.advertiseAddress !== sessionSettings.advertiseAddress
        ) {
          log.warn(
            "[session_server] listen_address and advertise_address take effect after a restart",
            { [F.FILE]: opts.configFile!.path },
          );
        }
        const listenChanged = next.listenAddress !== config.listenAddress;
        ctx.sink.configure({ level: next.logLevel, format: next.logFormat });
        applyConfig(next);
        warnConcurrentBelowRunners(log, next);
        metrics.configLoaded();
        log.info(`Configuration loaded: ${summary}`, { [F.FILE]: opts.configFile!.path });
        // What the reload left in this thread's heap goes once the runner is idle.
        idleCollector.arm();
        if (listenChanged && !opts.listenAddress) void listen(next.listenAddress);
      },
      onError: (error) => {
        metrics.configLoadFailed();
        log.error(`Configuration not reloaded, the previous one keeps running: ${error.message}`);
      },
    });
    // Restarted with the config it ran because the file could not be used: say why now.
    const staleReason = ctx.pollerScope?.isStale ? ctx.pollerScope.staleReason : undefined;
    if (staleReason) {
      metrics.configLoadFailed();
      log.error(`Configuration not reloaded, the previous one keeps running: ${staleReason}`, {
        [F.FILE]: opts.configFile.path,
      });
    } else if (staleReason === null || isReloadWanted) {
      void watcher.reload();
    }
  }

  let waitTimer: ReturnType<typeof setInterval> | undefined;
  if (opts.waitTimeoutSeconds > 0) {
    waitTimer = setInterval(() => {
      if (poller.runningJobs === 0 && Date.now() - lastJobAt > opts.waitTimeoutSeconds * 1000) {
        stop.drain();
      }
    }, 200);
  }

  metrics.setProcessState("running");
  log.info("Runner started", {
    "runners": config.runners.length,
    "concurrent": config.concurrent,
    [F.SYSTEM_ID]: systemId,
  });
  // Polling, the spare executor processes started: what start-up left is garbage now.
  releaseStartupGarbage(log, "poller");
  const how = await stop.started;
  keptRetry?.[Symbol.dispose]();
  idleCollector.close();
  const shutdown = { poller, supervisor, launcher, config, stop, metrics };
  clearInterval(waitTimer);
  // No token reset starts while stopping; one in flight finishes and is saved
  // before the exit, while the jobs stop: a reset GitLab is slow to answer
  // must not hold back their abort.
  const rotationStopped = rotation.stop();
  let code = 0;
  if (how === "graceful") {
    metrics.setProcessState("graceful-shutdown");
    log.info(
      `Stopping: waiting for running jobs to finish (${
        Deno.build.os === "windows" ? "press Ctrl-C again" : "send SIGTERM"
      } to abort them)`,
      stop.drainedBy ? { "signal": stop.drainedBy } : {},
    );
    // A re-scope goes on polling: a job GitLab gives a request in flight is run, not lost.
    const stopped = poller.stopGracefully({ finishRequests: isRescoping });
    const outcome = await Promise.race([stopped.then(() => "done" as const), stop.aborting]);
    if (outcome !== "done") code = await forceful(ctx, shutdown);
  } else {
    code = await forceful(ctx, shutdown);
  }
  await rotationStopped;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  await watcher?.close();
  // Executor processes that already reported their job are let finish exiting,
  // and sweeps after dead docker jobs' processes end.
  await supervisor.settled();
  launcher.close();
  await endpoint?.server.stop();
  await sessionServer?.close();
  await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  await journal?.close();
  // A stop signal during the re-scope's drain stops the runner instead.
  if (isRescoping && code === 0 && stop.phase === "draining") {
    log.info("Poller stopped to take the permissions of the new configuration");
    return POLLER_RESCOPE_EXIT;
  }
  log.info("Runner stopped");
  return code;
}

async function forceful(
  ctx: CliContext,
  { poller, supervisor, launcher, config, stop, metrics }: {
    poller: Poller;
    supervisor: JobSupervisor;
    launcher: SubprocessLauncher;
    config: GlobalConfig;
    stop: StopSequence;
    metrics: RunnerEvents;
  },
): Promise<number> {
  metrics.setProcessState("forceful-shutdown");
  ctx.log.warn("Stopping: aborting running jobs", {
    "signal": stop.abortedBy ?? "",
    "shutdown_timeout_s": config.shutdownTimeout,
  });
  const inTime = await Promise.race([
    poller.stopForcefully(config.shutdownTimeout * 1000, stop.abortedBy ?? undefined),
    // A further signal while aborting: exit now, as the official runner does.
    stop.exiting.then(() => false),
  ]);
  if (inTime) return 0;
  ctx.log.error("Shutdown did not finish in time", { "jobs": poller.runningJobIds.join(",") });
  // Executor processes still running a job would die with this process anyway
  // (Deno kills its children on exit), leaving a docker job's containers: they
  // are killed now, so that the supervisor's sweep removes what they left
  // before the exit (`settled`, within SWEEP_TIMEOUT_MS). No spare is started
  // for the sweep's process.
  launcher.close();
  await supervisor.killRunning();
  // Their jobs' final state goes to GitLab meanwhile, as long as the sweep may take at most.
  if (!(await poller.stopForcefully(FINAL_REPORT_MS))) {
    ctx.log.error("Jobs not reported to GitLab: the next start reports them failed", {
      "jobs": poller.runningJobIds.join(","),
    });
  }
  return 1;
}

/**
 * After the kill at the end of a forceful shutdown, how long the jobs' final
 * updates may take: GitLab had them running; alongside the docker sweep
 * (SWEEP_TIMEOUT_MS), so the exit is not later for it.
 */
const FINAL_REPORT_MS = 5_000;

/** The crash-safe job journal; without one (unwritable state dir) the runner still serves. */
async function openJournal(ctx: CliContext, dir: string): Promise<JobJournal | null> {
  try {
    return await JobJournal.open(await FileJournalStore.open(dir), { log: ctx.log });
  } catch (err) {
    ctx.log.error("Job journal disabled: jobs cannot be reported after a crash", {
      [F.ERROR]: (err as Error).message,
    });
    return null;
  }
}

/** Child log lines are JSON records; they join the runner log with the child's pid. */
function relayChildLog(ctx: CliContext, pid: number, line: string): void {
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    const { level, msg, time: _time, ...fields } = record;
    const text = typeof msg === "string" ? msg : line;
    const extra = { ...(fields as Record<string, string>), [F.PID]: pid };
    if (level === "error" || level === "fatal" || level === "panic") ctx.log.error(text, extra);
    else if (level === "warning" || level === "warn") ctx.log.warn(text, extra);
    else if (level === "info") ctx.log.info(text, extra);
    else ctx.log.debug(text, extra);
  } catch {
    ctx.log.warn(line, { [F.PID]: pid });
  }
}

export async function runCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, RUN_FLAGS, ctx.env));
  enterWorkingDirectory(ctx, flags);
  const path = configPath(ctx, flags);
  // The scoped poller runs with the config its supervisor read for its permissions.
  const given = ctx.pollerScope?.loaded;
  const loaded = given ? logConfigWarnings(ctx, given) : await loadConfig(ctx, path);
  const { systemId, saveError } = await loadOrCreateSystemId(path);
  if (saveError) ctx.log.warn(`Cannot save the system ID: ${saveError}`);
  const userFlag = flags.string("user");
  if (userFlag) loaded.config.user = userFlag;
  if (loaded.config.user) {
    // Every shell job would fail in su: refuse to start instead.
    try {
      await checkUserSwitch(loaded.config.user, { env: ctx.envObject(), cwd: ctx.cwd });
    } catch (err) {
      // A reloaded config.toml this poller was started for: the previous one keeps running.
      if (ctx.pollerScope?.previous) {
        ctx.pollerScope.onRefuse(loaded.text, (err as Error).message);
        return POLLER_RESCOPE_EXIT;
      }
      throw new CommandError((err as Error).message);
    }
    await warnConfigReadableByJobs(ctx.log, path, loaded.config.user);
  }
  if (loaded.config.runners.length === 0) {
    ctx.log.warn(
      `No runners in ${path}: register one with "runner register"; waiting for the file to change`,
    );
  }
  return await serve(ctx, {
    config: loaded.config,
    configFile: { path, text: loaded.text },
    systemId,
    stateDir: join(dirname(path), ".runner"),
    listenAddress: flags.string("listen-address"),
    maxBuilds: 0,
    waitTimeoutSeconds: 0,
    userFlag,
  });
}

export async function runSingleCommand(ctx: CliContext, args: string[]): Promise<number> {
  // The table of every runner flag: `runner run` does not need it.
  const [{ RUN_SINGLE_FLAGS }, { applyRunnerFlags, RUNNER_FLAGS }] = await Promise.all([
    import("./run_single_flags.ts"),
    import("../runner_flags.ts"),
  ]);
  const flags = new Flags(parseFlags(args, RUN_SINGLE_FLAGS, ctx.env));
  let runner: RunnerConfig;
  let systemId: string;
  if (flags.string("runner")) {
    const path = configPath(ctx, flags);
    const { config } = await loadConfig(ctx, path, "error");
    const found = config.runners.find((r) => r.name === flags.string("runner"));
    if (!found) throw new CommandError(`No runner named "${flags.string("runner")}" in ${path}`);
    runner = found;
    // As upstream, the entry replaces the command line's runner settings: say which went unused.
    const unused = RUNNER_FLAGS.filter((f) => flags.isExplicit(f.name)).map((f) => `--${f.name}`);
    if (unused.length > 0) {
      ctx.log.warn(
        `${unused.join(", ")} ${
          unused.length === 1 ? "is" : "are"
        } not used: --runner takes runner "${
          flags.string("runner")
        }" from ${path} as it is written there`,
      );
    }
    systemId = (await loadOrCreateSystemId(path)).systemId;
  } else {
    runner = (await import("../../config/default_config.ts"))
      .defaultRunnerConfig(flags.string("executor"));
    // Flags of keys we do not act on are taken and warned about, as in config.toml.
    for (const w of applyRunnerFlags(runner, flags)) ctx.log.warn(formatConfigProblem(w));
    systemId =
      (await loadOrCreateSystemId(resolve(ctx.cwd, ".runner-single", "config.toml"))).systemId;
  }
  if (!runner.url) throw new CommandError("run-single needs --url (or CI_SERVER_URL)");
  if (!runner.token) throw new CommandError("run-single needs --token (or CI_SERVER_TOKEN)");
  if (!runner.executor) throw new CommandError("run-single needs --executor (or RUNNER_EXECUTOR)");
  const config = (await import("../../config/default_config.ts")).defaultConfig();
  config.runners = [runner];
  return await serve(ctx, {
    config,
    configFile: null,
    systemId,
    stateDir: join(ctx.cwd, ".runner-single", ".runner"),
    listenAddress: flags.string("listen-address"),
    maxBuilds: flags.int("max-builds"),
    waitTimeoutSeconds: flags.int("wait-timeout"),
  });
}

/**
 * Jobs run as another user so that they cannot read the runner's files; a
 * config.toml others may read (written by hand, not by `register`) hands them
 * every runner token anyway. Said once at start; the file is left as it is.
 */
async function warnConfigReadableByJobs(
  log: CliContext["log"],
  path: string,
  user: string,
): Promise<void> {
  const mode = await Deno.stat(path).then((info) => info.mode ?? 0, () => 0);
  if ((mode & 0o044) === 0) return;
  log.warn(
    `${path} is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): ` +
      `jobs running as "${user}" may read the runner tokens in it; make it 0600`,
  );
}

/**
 * Each entry's job request holds one of the `concurrent` slots while GitLab
 * holds it (long polling, up to its timeout, often 50 s): with fewer slots
 * than entries, one entry's jobs wait for another's request to end. Said at
 * start and at each reload, as the official runner's "Long polling issues
 * detected" does for this case.
 */
function warnConcurrentBelowRunners(log: CliContext["log"], config: GlobalConfig): void {
  const entries = config.runners.length;
  if (config.concurrent >= entries) return;
  log.warn(
    `concurrent (${config.concurrent}) is less than the number of [[runners]] (${entries}): ` +
      "a job of one entry can wait for another entry's job request, which GitLab may hold up to " +
      `its long polling timeout; set concurrent to ${entries} or more`,
  );
}

/** `user` applies to shell jobs only, as in the official runner: say so for the others. */
function warnUserIgnored(log: CliContext["log"], config: GlobalConfig): void {
  if (!config.user) return;
  for (const runner of config.runners) {
    if (runner.executor === "shell") continue;
    log.warn(
      `"user" applies to shell executors only: runner "${runner.name}" (${runner.executor}) ` +
        `runs its jobs without switching to "${config.user}"`,
    );
  }
}

/** The runner user's docker config, for registry credentials of docker jobs; "" when unreadable. */
function readDockerConfig(env: (name: string) => string | undefined): string {
  const path = dockerConfigPath(env);
  if (!path) return "";
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * FF_LOG_IMAGES_CONFIGURED_FOR_JOB: the job's image and service images in the
 * runner log, as upstream's Build.logUsedImages words them.
 */
function logConfiguredImages(log: Logger, job: JobSpec): void {
  const fields = (image: JobImage) => ({
    [F.IMAGE_NAME]: image.name,
    ...(image.dockerPlatform ? { [F.IMAGE_PLATFORM]: image.dockerPlatform } : {}),
  });
  if (job.image.name !== "") log.info("Image configured for job", fields(job.image));
  for (const service of job.services) {
    if (service.name !== "") log.info("Service image configured for job", fields(service));
  }
}
