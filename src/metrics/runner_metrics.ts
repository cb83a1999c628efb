import { Counter, Gauge, Histogram, type Registry } from "./prom_client.ts";
import type { LogLevel } from "../log/log_level.ts";
import { formatGoDuration } from "./go_duration.ts";
import { type ProcessProbe, registerProcessMetrics } from "./process_metrics.ts";

/**
 * The three labels (R3) that identify one [[runners]] entry in metrics.
 * `runner` is the short token (config-reference §18), never the token itself.
 */
export interface RunnerLabels {
  runner: string;
  runnerName: string;
  systemId: string;
}

/** Job `state` label values, verbatim from the official runner. */
export type JobState =
  | "pending"
  | "running"
  | "success"
  | "failed"
  | "canceled"
  | "terminated"
  | "timedout";

/** `mode` label values. */
export type JobMode = "steps" | "traditional" | "unknown";

/** `endpoint` label values of the API metrics. */
export type ApiEndpoint =
  | "request_job"
  | "update_job"
  | "patch_trace"
  | "reset_token"
  | "discovery";

export type ProcessState = "starting" | "running" | "graceful-shutdown" | "forceful-shutdown";

export const PROCESS_STATES: readonly ProcessState[] = [
  "starting",
  "running",
  "graceful-shutdown",
  "forceful-shutdown",
];

/** One line of /debug/jobs/list. */
export interface JobListEntry {
  url: string;
  state: string;
  stage: string;
  executorStage: string;
  durationSeconds: number;
}

/** What the metrics server lists under /debug/jobs/list. */
export interface JobListProvider {
  /** The jobs running now, oldest first. Called on each request. */
  listJobs(): JobListEntry[];
}

export interface VersionInfo {
  name: string;
  version: string;
  revision: string;
  branch: string;
  builtAt: string;
}

export interface RunnerMetricsOptions {
  /** The registry main.ts made; the prom-client default registry is never used. */
  registry: Registry;
  version: VersionInfo;
  /**
   * `os`, `architecture` and `go_version` labels of gitlab_runner_version_info.
   * Default: Deno.build with Go's names (amd64, arm64) and `deno<version>`.
   */
  platform?: { os: string; architecture: string; runtimeVersion: string };
  /** Milliseconds since the epoch; used for job durations. Default Date.now. */
  now?: () => number;
  /** Source of process_* metrics (main.ts passes a DenoProcessProbe); absent or null registers none. */
  processProbe?: ProcessProbe | null;
}

const JOB_DURATION_BUCKETS = [30, 60, 300, 600, 1800, 3600, 7200, 10800, 18000, 36000];
const API_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const QUEUE_DURATION_BUCKETS = [1, 3, 10, 30, 60, 120, 300, 900, 1800, 3600];
const R3 = ["runner", "runner_name", "system_id"] as const;
const ERROR_LEVELS = ["panic", "fatal", "error", "warning"] as const;

/** Request concurrency of one runner entry, as the official buildsHelper counts it. */
export interface RequestConcurrencyState {
  /** Job requests in flight now. */
  requests: number;
  /** `request_concurrency` of the entry (at least 1). */
  hardLimit: number;
  /** The AIMD limit of FF_USE_ADAPTIVE_REQUEST_CONCURRENCY (0 until the first request ends). */
  adaptiveLimit: number;
  /** The limit the last request was admitted against. */
  usedLimit: number;
}

/** `failure_type` label values of gitlab_runner_worker_processing_failures_total. */
export type WorkerFailureType = "other" | "no_free_executor" | "job_failure";
const WORKER_FAILURE_TYPES: readonly WorkerFailureType[] = [
  "other",
  "no_free_executor",
  "job_failure",
];

interface ActiveJob {
  labels: RunnerLabels;
  executor: string;
  /** Stage start times for gitlab_runner_job_stage_duration_seconds; null when not exported. */
  stageStartedAtMs: number | null;
  url: string;
  state: string;
  stage: string;
  executorStage: string;
  startedAtMs: number;
}

/**
 * The runner's Prometheus metrics (config-reference §18), created on the
 * registry passed in, with the official names, types, labels and buckets.
 * The poller, GitLab client, config loader and logger report through the
 * typed methods below; nothing here does I/O.
 *
 * Job calls go in order jobStarted → jobStageChanged* → jobFinished, keyed by
 * job id; calls for an unknown id are ignored, so a duplicate jobFinished is
 * harmless. The running-jobs gauge and /debug/jobs/list are computed from the
 * jobs between start and finish at scrape time.
 */
export class RunnerMetrics implements JobListProvider {
  readonly #now: () => number;
  readonly #jobs = new Map<number, ActiveJob>();
  #processState: ProcessState = "starting";

  readonly #concurrent: Gauge;
  readonly #limit: Gauge;
  readonly #jobsTotal: Counter;
  readonly #jobDuration: Histogram;
  readonly #failedJobs: Counter;
  readonly #errors: Counter;
  readonly #apiStatuses: Counter;
  readonly #apiDuration: Histogram;
  readonly #requestConcurrency: Gauge;
  readonly #requestConcurrencyExceeded: Counter;
  readonly #workerFeeds: Counter;
  readonly #workerFeedFailures: Counter;
  readonly #workerSlots: Gauge;
  readonly #healthCheckFailures: Counter;
  readonly #configLoaded: Counter;
  readonly #configLoadingErrors: Counter;
  readonly #configSaved: Counter;
  readonly #configSavingErrors: Counter;
  readonly #processStateInfo: Gauge;
  readonly #queueDuration: Histogram;
  readonly #apiRetries: Counter;
  readonly #requestConcurrencyHardLimit: Gauge;
  readonly #requestConcurrencyAdaptiveLimit: Gauge;
  readonly #requestConcurrencyUsedLimit: Gauge;
  readonly #workerSlotOperations: Counter;
  readonly #workerProcessingFailures: Counter;
  readonly #queueSize: Gauge;
  readonly #queueDepth: Gauge;
  readonly #queuingDurationExceeded: Counter;
  readonly #stageDuration: Histogram;
  readonly #executionMode: Counter;
  #workerSlotCount = 0;

  constructor(options: RunnerMetricsOptions) {
    const registers = [options.registry];
    this.#now = options.now ?? Date.now;
    const platform = options.platform ?? denoPlatform();

    const versionInfo = new Gauge({
      name: "gitlab_runner_version_info",
      help: "A metric with a constant '1' value labeled by different build stats fields.",
      labelNames: [
        "name",
        "version",
        "revision",
        "branch",
        "go_version",
        "built_at",
        "os",
        "architecture",
      ],
      registers,
    });
    versionInfo.set({
      name: options.version.name,
      version: options.version.version,
      revision: options.version.revision,
      branch: options.version.branch,
      "go_version": platform.runtimeVersion,
      "built_at": options.version.builtAt,
      os: platform.os,
      architecture: platform.architecture,
    }, 1);

    this.#concurrent = new Gauge({
      name: "gitlab_runner_concurrent",
      help: "The current value of concurrent setting",
      registers,
    });
    this.#limit = new Gauge({
      name: "gitlab_runner_limit",
      help: "The current value of limit setting",
      labelNames: R3,
      registers,
    });
    const jobs = this.#jobs;
    new Gauge({
      name: "gitlab_runner_jobs",
      help: "The current number of running builds.",
      labelNames: [...R3, "state", "stage", "executor_stage"],
      registers,
      collect() {
        this.reset();
        for (const job of jobs.values()) {
          this.inc({
            ...r3(job.labels),
            state: job.state,
            stage: job.stage,
            "executor_stage": job.executorStage,
          });
        }
      },
    });
    this.#jobsTotal = new Counter({
      name: "gitlab_runner_jobs_total",
      help: "Total number of handled jobs",
      labelNames: R3,
      registers,
    });
    this.#jobDuration = new Histogram({
      name: "gitlab_runner_job_duration_seconds",
      help: "Histogram of job durations",
      labelNames: [...R3, "mode"],
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    this.#failedJobs = new Counter({
      name: "gitlab_runner_failed_jobs_total",
      help: "Total number of failed jobs",
      labelNames: ["runner", "runner_name", "failure_reason", "mode"],
      registers,
    });
    this.#errors = new Counter({
      name: "gitlab_runner_errors_total",
      help: "The number of caught errors.",
      labelNames: ["level"],
      registers,
    });
    for (const level of ERROR_LEVELS) this.#errors.inc({ level }, 0);
    this.#apiStatuses = new Counter({
      name: "gitlab_runner_api_request_statuses_total",
      help:
        "The total number of api requests, partitioned by runner, system_id, endpoint, status and method.",
      labelNames: ["runner", "system_id", "endpoint", "status", "method"],
      registers,
    });
    this.#apiDuration = new Histogram({
      name: "gitlab_runner_api_request_duration_seconds",
      help: "Latency histogram of API requests made by GitLab Runner",
      labelNames: ["runner", "system_id", "endpoint", "status_class", "method"],
      buckets: API_DURATION_BUCKETS,
      registers,
    });
    this.#requestConcurrency = new Gauge({
      name: "gitlab_runner_request_concurrency",
      help: "The current number of concurrent requests for a new job",
      labelNames: ["runner", "system_id"],
      registers,
    });
    this.#requestConcurrencyExceeded = new Counter({
      name: "gitlab_runner_request_concurrency_exceeded_total",
      help: "Count of excess requests above the configured request_concurrency limit",
      labelNames: ["runner", "system_id"],
      registers,
    });
    this.#workerFeeds = new Counter({
      name: "gitlab_runner_worker_feeds_total",
      help: "Total number of times that runner worker is fed to the main loop",
      labelNames: R3,
      registers,
    });
    this.#workerFeedFailures = new Counter({
      name: "gitlab_runner_worker_feed_failures_total",
      help: "Total number of times that runner worker feeding have failed",
      labelNames: R3,
      registers,
    });
    this.#workerSlots = new Gauge({
      name: "gitlab_runner_worker_slots_number",
      help: "Current number of worker slots",
      registers,
    });
    this.#healthCheckFailures = new Counter({
      name: "gitlab_runner_worker_health_check_failures_total",
      help: "Total number of runner health check failures",
      labelNames: R3,
      registers,
    });
    this.#configLoaded = new Counter({
      name: "gitlab_runner_configuration_loaded_total",
      help: "Total number of times the configuration file was loaded by Runner process",
      registers,
    });
    this.#configLoadingErrors = new Counter({
      name: "gitlab_runner_configuration_loading_error_total",
      help:
        "Total number of times the configuration file was not loaded by Runner process due to errors",
      registers,
    });
    this.#configSaved = new Counter({
      name: "gitlab_runner_configuration_saved_total",
      help: "Total number of times the configuration file was saved by Runner process",
      registers,
    });
    this.#configSavingErrors = new Counter({
      name: "gitlab_runner_configuration_saving_error_total",
      help:
        "Total number of times the configuration file was not saved by Runner process due to errors",
      registers,
    });
    this.#processStateInfo = new Gauge({
      name: "gitlab_runner_process_state_info",
      help: "Current state of the runner process (1 for the state it is in)",
      labelNames: ["state"],
      registers,
    });
    this.setProcessState("starting");
    this.#queueDuration = new Histogram({
      name: "gitlab_runner_job_queue_duration_seconds",
      help: "Histogram of job queue durations",
      labelNames: [...R3, "project_jobs_running"],
      buckets: QUEUE_DURATION_BUCKETS,
      registers,
    });

    this.#apiRetries = new Counter({
      name: "gitlab_runner_api_request_retries_total",
      help:
        "The total number of retries made by GitLab Runner in process of completing a request, partitioned by path and method.",
      labelNames: ["path", "method"],
      registers,
    });
    const limitLabels = ["runner", "system_id"];
    this.#requestConcurrencyHardLimit = new Gauge({
      name: "gitlab_runner_request_concurrency_hard_limit",
      help: "Configured request_concurrency limit",
      labelNames: limitLabels,
      registers,
    });
    this.#requestConcurrencyAdaptiveLimit = new Gauge({
      name: "gitlab_runner_request_concurrency_adaptive_limit",
      help: "Computed adaptive request concurrency limit",
      labelNames: limitLabels,
      registers,
    });
    this.#requestConcurrencyUsedLimit = new Gauge({
      name: "gitlab_runner_request_concurrency_used_limit",
      help: "Used request concurrency limit",
      labelNames: limitLabels,
      registers,
    });
    this.#workerSlotOperations = new Counter({
      name: "gitlab_runner_worker_slot_operations_total",
      help: "Total number of runner workers slot operations (starting and stopping slots)",
      labelNames: ["operation"],
      registers,
    });
    for (const operation of ["started", "stopped"]) {
      this.#workerSlotOperations.inc({ operation }, 0);
    }
    this.#workerProcessingFailures = new Counter({
      name: "gitlab_runner_worker_processing_failures_total",
      help: "Total number of failures when processing runner worker",
      labelNames: ["failure_type", ...R3],
      registers,
    });
    this.#queueSize = new Gauge({
      name: "gitlab_runner_job_queue_size",
      help: "A gauge representing the size of the queue for the runner",
      labelNames: R3,
      registers,
    });
    this.#queueDepth = new Gauge({
      name: "gitlab_runner_job_queue_depth",
      help: "A gauge representing the search depth in the queue for the runner",
      labelNames: R3,
      registers,
    });
    this.#queuingDurationExceeded = new Counter({
      name: "gitlab_runner_acceptable_job_queuing_duration_exceeded_total",
      help: "Counts how often jobs exceed the configured queuing time threshold",
      labelNames: R3,
      registers,
    });
    this.#stageDuration = new Histogram({
      name: "gitlab_runner_job_stage_duration_seconds",
      help: "Histogram of each job stage duration",
      labelNames: [...R3, "stage"],
      buckets: QUEUE_DURATION_BUCKETS,
      registers,
    });
    this.#executionMode = new Counter({
      name: "gitlab_runner_job_execution_mode_total",
      help: "Total number of jobs grouped by execution mode and executor",
      labelNames: ["mode", "executor"],
      registers,
    });
    // Registered like the official runner's; we never interpolate job inputs (we
    // tell GitLab job_inputs: false), so they stay at zero.
    new Counter({
      name: "gitlab_runner_job_inputs_interpolations_total",
      help:
        "Total number of job input interpolations where expressions were actually used (output differs from input)",
      registers,
    });
    new Counter({
      name: "gitlab_runner_job_inputs_interpolation_failures_total",
      help: "Total number of failed job input interpolations, labeled by error type",
      labelNames: ["error_type"],
      registers,
    });

    if (options.processProbe) registerProcessMetrics(options.registry, options.processProbe);
  }

  /** config.toml `concurrent`, after each load. */
  setConcurrent(concurrent: number): void {
    this.#concurrent.set(concurrent);
  }

  /** Every [[runners]] entry's `limit`, after each load; entries gone from the file disappear. */
  setLimits(entries: ReadonlyArray<{ runner: RunnerLabels; limit: number }>): void {
    this.#limit.reset();
    for (const entry of entries) {
      this.#limit.set(r3(entry.runner), entry.limit);
      // Present from the start, as the official runner does, so rate() works from zero.
      for (const type of WORKER_FAILURE_TYPES) {
        this.#workerProcessingFailures.inc({ "failure_type": type, ...r3(entry.runner) }, 0);
      }
    }
  }

  /**
   * Number of workers (concurrent) able to take a job. Growing or shrinking
   * the pool counts worker slot operations `started` / `stopped`.
   */
  setWorkerSlots(slots: number): void {
    const delta = slots - this.#workerSlotCount;
    if (delta > 0) this.#workerSlotOperations.inc({ operation: "started" }, delta);
    if (delta < 0) this.#workerSlotOperations.inc({ operation: "stopped" }, -delta);
    this.#workerSlotCount = slots;
    this.#workerSlots.set(slots);
  }

  /**
   * A worker failed to process a runner entry: `job_failure` for a job that
   * ended in failure, `other` for anything else that went wrong.
   */
  workerProcessingFailed(runner: RunnerLabels, type: WorkerFailureType): void {
    this.#workerProcessingFailures.inc({ "failure_type": type, ...r3(runner) });
  }

  /** A runner entry was offered to a worker. */
  workerFed(runner: RunnerLabels): void {
    this.#workerFeeds.inc(r3(runner));
  }

  /** A runner entry could not be offered (no free worker). */
  workerFeedFailed(runner: RunnerLabels): void {
    this.#workerFeedFailures.inc(r3(runner));
  }

  /** A runner entry failed a request and counts towards unhealthy_requests_limit. */
  healthCheckFailed(runner: RunnerLabels): void {
    this.#healthCheckFailures.inc(r3(runner));
  }

  /** Job requests in flight for this runner entry right now, and the limits applied. */
  setRequestConcurrency(runner: RunnerLabels, state: RequestConcurrencyState): void {
    const labels = { runner: runner.runner, "system_id": runner.systemId };
    this.#requestConcurrency.set(labels, state.requests);
    this.#requestConcurrencyHardLimit.set(labels, state.hardLimit);
    this.#requestConcurrencyAdaptiveLimit.set(labels, state.adaptiveLimit);
    this.#requestConcurrencyUsedLimit.set(labels, state.usedLimit);
  }

  /**
   * One call to GitLab completed after `attempts` HTTP attempts (retries of
   * 429 and 5xx answers included). Like the official runner, the counter adds
   * every attempt, not only the retries; numeric path segments become `{id}`.
   */
  apiRequestAttempts(request: { path: string; method: string; attempts: number }): void {
    const path = request.path.split("/").map((s) => /^-?\d+$/.test(s) ? "{id}" : s).join("/");
    this.#apiRetries.inc({ path, method: request.method.toLowerCase() }, request.attempts);
  }

  /** A job request was skipped because request_concurrency slots were all taken. */
  requestConcurrencyExceeded(runner: RunnerLabels): void {
    this.#requestConcurrencyExceeded.inc({ runner: runner.runner, "system_id": runner.systemId });
  }

  /**
   * One finished call to GitLab. `status` is the HTTP status, or 0 when no
   * response came (network error), counted with status_class `0xx`.
   */
  apiRequest(
    runner: RunnerLabels,
    request: { endpoint: ApiEndpoint; method: string; status: number; durationSeconds: number },
  ): void {
    // The official runner lowercases the method label ("post").
    const method = request.method.toLowerCase();
    const base = {
      runner: runner.runner,
      "system_id": runner.systemId,
      endpoint: request.endpoint,
    };
    this.#apiStatuses.inc({ ...base, status: String(request.status), method });
    this.#apiDuration.observe(
      { ...base, "status_class": `${Math.floor(request.status / 100)}xx`, method },
      request.durationSeconds,
    );
  }

  /** A job was received from GitLab and is about to run. */
  jobStarted(
    runner: RunnerLabels,
    job: {
      id: number;
      url: string;
      stage?: string;
      executorStage?: string;
      /** The entry's executor, for gitlab_runner_job_execution_mode_total. */
      executor?: string;
      /** FF_EXPORT_HIGH_CARDINALITY_METRICS: time each stage. */
      isStageTimed?: boolean;
    },
  ): void {
    this.#jobsTotal.inc(r3(runner));
    this.#jobs.set(job.id, {
      labels: { ...runner },
      executor: job.executor || "unknown",
      stageStartedAtMs: job.isStageTimed ? this.#now() : null,
      url: job.url,
      state: "running",
      stage: job.stage ?? "",
      executorStage: job.executorStage ?? "",
      startedAtMs: this.#now(),
    });
  }

  /** The job entered a new build stage (e.g. `get_sources`) or executor stage. */
  jobStageChanged(
    jobId: number,
    change: { stage?: string; executorStage?: string; state?: JobState },
  ): void {
    const job = this.#jobs.get(jobId);
    if (job === undefined) return;
    if (change.stage !== undefined && change.stage !== job.stage) {
      this.#endStage(job);
      job.stage = change.stage;
    }
    if (change.executorStage !== undefined) job.executorStage = change.executorStage;
    if (change.state !== undefined) job.state = change.state;
  }

  /**
   * The job's final state was reported. `failureReason` counts it in
   * gitlab_runner_failed_jobs_total. The duration defaults to the time since
   * jobStarted.
   */
  jobFinished(
    jobId: number,
    outcome: { state: JobState; failureReason?: string; durationSeconds?: number; mode?: JobMode },
  ): void {
    const job = this.#jobs.get(jobId);
    if (job === undefined) return;
    this.#jobs.delete(jobId);
    this.#endStage(job);
    const mode = outcome.mode ?? "traditional";
    this.#executionMode.inc({ mode, executor: job.executor });
    const duration = outcome.durationSeconds ?? (this.#now() - job.startedAtMs) / 1000;
    this.#jobDuration.observe({ ...r3(job.labels), mode }, duration);
    if (outcome.failureReason !== undefined && outcome.state !== "success") {
      this.#failedJobs.inc({
        runner: job.labels.runner,
        "runner_name": job.labels.runnerName,
        "failure_reason": outcome.failureReason,
        mode,
      });
    }
  }

  /** A stage of a timed job ended (the next began, or the job finished). */
  #endStage(job: ActiveJob): void {
    if (job.stageStartedAtMs === null) return;
    const now = this.#now();
    if (job.stage !== "") {
      this.#stageDuration.observe(
        { ...r3(job.labels), stage: job.stage },
        (now - job.stageStartedAtMs) / 1000,
      );
    }
    job.stageStartedAtMs = now;
  }

  /**
   * What GitLab said about the queue the job came from: time in queue,
   * `project_jobs_running`, queue size and search depth, as sent.
   */
  jobQueued(
    runner: RunnerLabels,
    queue: { durationSeconds: number; projectJobsRunning: string; size?: number; depth?: number },
  ): void {
    this.#queueDuration.observe(
      { ...r3(runner), "project_jobs_running": queue.projectJobsRunning },
      queue.durationSeconds,
    );
    this.#queueSize.set(r3(runner), queue.size ?? 0);
    this.#queueDepth.set(r3(runner), queue.depth ?? 0);
    // [runners.monitoring] job_queuing_durations is not supported (a load warning
    // says so), so no threshold can be exceeded; the series exists, as upstream.
    this.#queuingDurationExceeded.inc(r3(runner), 0);
  }

  configLoaded(): void {
    this.#configLoaded.inc();
  }

  configLoadFailed(): void {
    this.#configLoadingErrors.inc();
  }

  configSaved(): void {
    this.#configSaved.inc();
  }

  configSaveFailed(): void {
    this.#configSavingErrors.inc();
  }

  /**
   * Counts a log record for gitlab_runner_errors_total; pass as the log
   * sink's `onRecord`. Debug and info records are not counted.
   */
  readonly logRecorded = (level: LogLevel): void => {
    if (level === "debug" || level === "info") return;
    this.#errors.inc({ level: level === "warn" ? "warning" : level });
  };

  get processState(): ProcessState {
    return this.#processState;
  }

  setProcessState(state: ProcessState): void {
    this.#processState = state;
    for (const each of PROCESS_STATES) {
      this.#processStateInfo.set({ state: each }, each === state ? 1 : 0);
    }
  }

  listJobs(): JobListEntry[] {
    const now = this.#now();
    return [...this.#jobs.values()].map((job) => ({
      url: job.url,
      state: job.state,
      stage: job.stage,
      executorStage: job.executorStage,
      durationSeconds: (now - job.startedAtMs) / 1000,
    }));
  }
}

/** `url=… state=… stage=… executor_stage=… duration=…` lines, as version 2 of the official list. */
export function formatJobList(jobs: readonly JobListEntry[]): string {
  return jobs.map((job) =>
    `url=${job.url} state=${job.state} stage=${job.stage} executor_stage=${job.executorStage} duration=${
      formatGoDuration(job.durationSeconds)
    }\n`
  ).join("");
}

function r3(labels: RunnerLabels): Record<(typeof R3)[number], string> {
  return { runner: labels.runner, "runner_name": labels.runnerName, "system_id": labels.systemId };
}

const GO_ARCH: Record<string, string> = { "x86_64": "amd64", "aarch64": "arm64" };

function denoPlatform(): { os: string; architecture: string; runtimeVersion: string } {
  return {
    os: Deno.build.os,
    architecture: GO_ARCH[Deno.build.arch] ?? Deno.build.arch,
    runtimeVersion: `deno${Deno.version.deno}`,
  };
}
