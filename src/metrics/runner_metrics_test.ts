import assert from "node:assert/strict";
import { Registry } from "./prom_client.ts";
import type { ProcessProbe } from "./process_metrics.ts";
import { formatJobList, type RunnerLabels, RunnerMetrics } from "./runner_metrics.ts";

const RUNNER_A: RunnerLabels = {
  runner: "abc123xyz",
  runnerName: "alpha",
  systemId: "s_0123456789ab",
};
const RUNNER_B: RunnerLabels = {
  runner: "def456uvw",
  runnerName: "beta",
  systemId: "s_0123456789ab",
};

class SteppedClock {
  ms = 1_700_000_000_000;
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

class FixedProbe implements ProcessProbe {
  cpu = 1.5;
  residentMemoryBytes(): number | undefined {
    return 123456;
  }
  cpuSeconds(): number | undefined {
    return this.cpu;
  }
  openFds(): number | undefined {
    return undefined;
  }
  startTimeSeconds(): number | undefined {
    return 1700000000;
  }
}

function setup(probe: ProcessProbe | null = null) {
  const registry = new Registry();
  const clock = new SteppedClock();
  const metrics = new RunnerMetrics({
    registry,
    version: {
      name: "runner",
      version: "0.1.0",
      revision: "abcdef",
      branch: "main",
      builtAt: "2024-01-01",
    },
    platform: { os: "linux", architecture: "amd64", runtimeVersion: "deno2.9.6" },
    now: clock.now,
    processProbe: probe,
  });
  return { registry, clock, metrics };
}

/** The value of one sample line, labels compared as a set; undefined when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      got[pair[1] ?? ""] = pair[2] ?? "";
    }
    const wanted = Object.entries(labels);
    if (wanted.length !== Object.keys(got).length) continue;
    if (wanted.every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return undefined;
}

function r3(labels: RunnerLabels): Record<string, string> {
  return { runner: labels.runner, "runner_name": labels.runnerName, "system_id": labels.systemId };
}

Deno.test("two started jobs and one finished show 1 running and 2 handled", async () => {
  const { registry, metrics, clock } = setup();
  metrics.jobStarted(RUNNER_A, { id: 1, url: "https://gitlab.example.com/g/p/-/jobs/1" });
  metrics.jobStarted(RUNNER_A, { id: 2, url: "https://gitlab.example.com/g/p/-/jobs/2" });
  metrics.jobStageChanged(1, { stage: "step_script", executorStage: "docker_run" });
  metrics.jobStageChanged(2, { stage: "step_script", executorStage: "docker_run" });
  clock.advance(45);
  metrics.jobFinished(1, { state: "success" });
  const text = await registry.metrics();
  const running = {
    ...r3(RUNNER_A),
    state: "running",
    stage: "step_script",
    "executor_stage": "docker_run",
  };
  assert.equal(sample(text, "gitlab_runner_jobs", running), 1);
  assert.equal(sample(text, "gitlab_runner_jobs_total", r3(RUNNER_A)), 2);
  const mode = { ...r3(RUNNER_A), mode: "traditional" };
  assert.equal(sample(text, "gitlab_runner_job_duration_seconds_count", mode), 1);
  assert.equal(sample(text, "gitlab_runner_job_duration_seconds_sum", mode), 45);
  assert.equal(sample(text, "gitlab_runner_job_duration_seconds_bucket", { ...mode, le: "30" }), 0);
  assert.equal(sample(text, "gitlab_runner_job_duration_seconds_bucket", { ...mode, le: "60" }), 1);
});

Deno.test("the running-jobs gauge drops a series once its last job finished", async () => {
  const { registry, metrics } = setup();
  metrics.jobStarted(RUNNER_A, { id: 7, url: "u", stage: "prepare_executor" });
  metrics.jobFinished(7, { state: "failed", failureReason: "script_failure" });
  metrics.jobFinished(7, { state: "failed", failureReason: "script_failure" }); // duplicate: ignored
  const text = await registry.metrics();
  assert.ok(!/^gitlab_runner_jobs\{/m.test(text));
  assert.equal(
    sample(text, "gitlab_runner_failed_jobs_total", {
      runner: RUNNER_A.runner,
      "runner_name": RUNNER_A.runnerName,
      "failure_reason": "script_failure",
      mode: "traditional",
    }),
    1,
  );
});

Deno.test("histograms carry the official buckets", async () => {
  const { registry, metrics } = setup();
  metrics.jobStarted(RUNNER_A, { id: 1, url: "u" });
  metrics.jobFinished(1, { state: "success", durationSeconds: 1 });
  metrics.apiRequest(RUNNER_A, {
    endpoint: "request_job",
    method: "post",
    status: 201,
    durationSeconds: 0.3,
  });
  metrics.jobQueued(RUNNER_A, { durationSeconds: 12, projectJobsRunning: "1" });
  const text = await registry.metrics();
  const les = (name: string) =>
    [...text.matchAll(new RegExp(`^${name}_bucket\\{.*le="([^"]+)"`, "gm"))].map((m) => m[1]);
  assert.deepEqual(les("gitlab_runner_job_duration_seconds"), [
    "30",
    "60",
    "300",
    "600",
    "1800",
    "3600",
    "7200",
    "10800",
    "18000",
    "36000",
    "+Inf",
  ]);
  assert.deepEqual(les("gitlab_runner_api_request_duration_seconds"), [
    "0.1",
    "0.25",
    "0.5",
    "1",
    "2.5",
    "5",
    "10",
    "30",
    "60",
    "+Inf",
  ]);
  assert.deepEqual(les("gitlab_runner_job_queue_duration_seconds"), [
    "1",
    "3",
    "10",
    "30",
    "60",
    "120",
    "300",
    "900",
    "1800",
    "3600",
    "+Inf",
  ]);
});

Deno.test("API requests are counted by status and timed by status class", async () => {
  const { registry, metrics } = setup();
  const base = { endpoint: "request_job" as const, method: "POST" };
  metrics.apiRequest(RUNNER_A, { ...base, status: 204, durationSeconds: 0.2 });
  metrics.apiRequest(RUNNER_A, { ...base, status: 201, durationSeconds: 0.7 });
  metrics.apiRequest(RUNNER_A, { ...base, status: 204, durationSeconds: 0.1 });
  const text = await registry.metrics();
  const labels = {
    runner: RUNNER_A.runner,
    "system_id": RUNNER_A.systemId,
    endpoint: "request_job",
    method: "post", // lowercased, as the official runner labels it
  };
  assert.equal(
    sample(text, "gitlab_runner_api_request_statuses_total", { ...labels, status: "204" }),
    2,
  );
  assert.equal(
    sample(text, "gitlab_runner_api_request_statuses_total", { ...labels, status: "201" }),
    1,
  );
  const timed = { ...labels, "status_class": "2xx" };
  assert.equal(sample(text, "gitlab_runner_api_request_duration_seconds_count", timed), 3);
  assert.equal(
    sample(text, "gitlab_runner_api_request_duration_seconds_bucket", { ...timed, le: "0.5" }),
    2,
  );
});

Deno.test("settings, worker and config counters report what was set", async () => {
  const { registry, metrics } = setup();
  metrics.setConcurrent(4);
  metrics.setLimits([{ runner: RUNNER_A, limit: 2 }, { runner: RUNNER_B, limit: 0 }]);
  metrics.setLimits([{ runner: RUNNER_A, limit: 3 }]);
  metrics.setWorkerSlots(4);
  metrics.workerFed(RUNNER_A);
  metrics.workerFed(RUNNER_A);
  metrics.workerFeedFailed(RUNNER_B);
  metrics.healthCheckFailed(RUNNER_B);
  metrics.setRequestConcurrency(RUNNER_A, {
    requests: 1,
    hardLimit: 4,
    adaptiveLimit: 1.1,
    usedLimit: 2,
  });
  metrics.requestConcurrencyExceeded(RUNNER_A);
  metrics.configLoaded();
  metrics.configLoaded();
  metrics.configLoadFailed();
  metrics.configSaved();
  const text = await registry.metrics();
  assert.equal(sample(text, "gitlab_runner_concurrent"), 4);
  assert.equal(sample(text, "gitlab_runner_limit", r3(RUNNER_A)), 3);
  assert.equal(sample(text, "gitlab_runner_limit", r3(RUNNER_B)), undefined);
  assert.equal(sample(text, "gitlab_runner_worker_slots_number"), 4);
  assert.equal(sample(text, "gitlab_runner_worker_feeds_total", r3(RUNNER_A)), 2);
  assert.equal(sample(text, "gitlab_runner_worker_feed_failures_total", r3(RUNNER_B)), 1);
  assert.equal(sample(text, "gitlab_runner_worker_health_check_failures_total", r3(RUNNER_B)), 1);
  const rc = { runner: RUNNER_A.runner, "system_id": RUNNER_A.systemId };
  assert.equal(sample(text, "gitlab_runner_request_concurrency", rc), 1);
  assert.equal(sample(text, "gitlab_runner_request_concurrency_exceeded_total", rc), 1);
  assert.equal(sample(text, "gitlab_runner_request_concurrency_hard_limit", rc), 4);
  assert.equal(sample(text, "gitlab_runner_request_concurrency_adaptive_limit", rc), 1.1);
  assert.equal(sample(text, "gitlab_runner_request_concurrency_used_limit", rc), 2);
  assert.equal(
    sample(text, "gitlab_runner_worker_slot_operations_total", { operation: "started" }),
    4,
  );
  for (const type of ["other", "no_free_executor", "job_failure"]) {
    const labels = { "failure_type": type, ...r3(RUNNER_A) };
    assert.equal(sample(text, "gitlab_runner_worker_processing_failures_total", labels), 0);
  }
  assert.equal(sample(text, "gitlab_runner_configuration_loaded_total"), 2);
  assert.equal(sample(text, "gitlab_runner_configuration_loading_error_total"), 1);
  assert.equal(sample(text, "gitlab_runner_configuration_saved_total"), 1);
  assert.equal(sample(text, "gitlab_runner_configuration_saving_error_total"), 0);
});

Deno.test("log records count warnings and errors by official level name", async () => {
  const { registry, metrics } = setup();
  for (const level of ["debug", "info", "warn", "warn", "error", "fatal"] as const) {
    metrics.logRecorded(level);
  }
  const text = await registry.metrics();
  assert.equal(sample(text, "gitlab_runner_errors_total", { level: "warning" }), 2);
  assert.equal(sample(text, "gitlab_runner_errors_total", { level: "error" }), 1);
  assert.equal(sample(text, "gitlab_runner_errors_total", { level: "fatal" }), 1);
  assert.equal(sample(text, "gitlab_runner_errors_total", { level: "panic" }), 0);
  assert.equal(sample(text, "gitlab_runner_errors_total", { level: "info" }), undefined);
});

Deno.test("version info and process state are labelled gauges", async () => {
  const { registry, metrics } = setup();
  metrics.setProcessState("graceful-shutdown");
  const text = await registry.metrics();
  assert.equal(
    sample(text, "gitlab_runner_version_info", {
      name: "runner",
      version: "0.1.0",
      revision: "abcdef",
      branch: "main",
      "go_version": "deno2.9.6",
      "built_at": "2024-01-01",
      os: "linux",
      architecture: "amd64",
    }),
    1,
  );
  assert.equal(sample(text, "gitlab_runner_process_state_info", { state: "graceful-shutdown" }), 1);
  assert.equal(sample(text, "gitlab_runner_process_state_info", { state: "starting" }), 0);
  assert.equal(metrics.processState, "graceful-shutdown");
});

Deno.test("process metrics come from the probe and unavailable ones are left out", async () => {
  const probe = new FixedProbe();
  const { registry } = setup(probe);
  let text = await registry.metrics();
  assert.equal(sample(text, "process_resident_memory_bytes"), 123456);
  assert.equal(sample(text, "process_cpu_seconds_total"), 1.5);
  assert.equal(sample(text, "process_start_time_seconds"), 1700000000);
  assert.ok(!text.includes("process_open_fds"));
  probe.cpu = 2.25;
  text = await registry.metrics();
  assert.equal(sample(text, "process_cpu_seconds_total"), 2.25);
});

Deno.test("nothing is registered on the prom-client default registry", async () => {
  const { register } = await import("prom-client");
  setup();
  assert.equal(register.getSingleMetric("gitlab_runner_jobs_total"), undefined);
});

Deno.test("the job list shows url, state, stages and a Go-style duration", () => {
  const { metrics, clock } = setup();
  metrics.jobStarted(RUNNER_A, { id: 42, url: "https://gitlab.example.com/g/p/-/jobs/42" });
  metrics.jobStageChanged(42, { stage: "get_sources", executorStage: "prepare_script" });
  clock.advance(83.5);
  assert.equal(
    formatJobList(metrics.listJobs()),
    "url=https://gitlab.example.com/g/p/-/jobs/42 state=running stage=get_sources " +
      "executor_stage=prepare_script duration=1m23.5s\n",
  );
});

Deno.test("queue, stage, execution mode, retries and slot operations follow the official meaning", async () => {
  const { registry, clock, metrics } = setup();
  metrics.setWorkerSlots(3);
  metrics.setWorkerSlots(1);
  metrics.jobQueued(RUNNER_A, {
    durationSeconds: 2,
    projectJobsRunning: "+Inf",
    size: 5,
    depth: 2,
  });
  metrics.jobStarted(RUNNER_A, {
    id: 9,
    url: "u",
    stage: "prepare_executor",
    executor: "shell",
    isStageTimed: true,
  });
  clock.advance(2);
  metrics.jobStageChanged(9, { stage: "get_sources" });
  clock.advance(20);
  metrics.jobFinished(9, { state: "failed", failureReason: "script_failure" });
  metrics.workerProcessingFailed(RUNNER_A, "job_failure");
  metrics.jobStarted(RUNNER_B, { id: 10, url: "u", stage: "prepare_executor", executor: "" });
  clock.advance(5);
  metrics.jobFinished(10, { state: "success" });
  metrics.apiRequestAttempts({ path: "/api/v4/jobs/123/trace", method: "PATCH", attempts: 3 });
  metrics.apiRequestAttempts({ path: "/api/v4/jobs/request", method: "POST", attempts: 1 });
  const text = await registry.metrics();
  assert.equal(sample(text, "gitlab_runner_job_queue_size", r3(RUNNER_A)), 5);
  assert.equal(sample(text, "gitlab_runner_job_queue_depth", r3(RUNNER_A)), 2);
  assert.equal(
    sample(text, "gitlab_runner_acceptable_job_queuing_duration_exceeded_total", r3(RUNNER_A)),
    0,
  );
  const stage = (name: string, le: string) =>
    sample(text, "gitlab_runner_job_stage_duration_seconds_bucket", {
      ...r3(RUNNER_A),
      stage: name,
      le,
    });
  assert.equal(stage("prepare_executor", "3"), 1, "2 s fall in the 3 s bucket");
  assert.equal(stage("get_sources", "10"), 0);
  assert.equal(stage("get_sources", "30"), 1, "20 s fall in the 30 s bucket");
  assert.equal(
    sample(text, "gitlab_runner_job_stage_duration_seconds_count", {
      ...r3(RUNNER_B),
      stage: "prepare_executor",
    }),
    undefined,
    "stages are timed only with FF_EXPORT_HIGH_CARDINALITY_METRICS",
  );
  const mode = (executor: string) =>
    sample(text, "gitlab_runner_job_execution_mode_total", { mode: "traditional", executor });
  assert.equal(mode("shell"), 1);
  assert.equal(mode("unknown"), 1);
  const jobFailures = { "failure_type": "job_failure", ...r3(RUNNER_A) };
  assert.equal(sample(text, "gitlab_runner_worker_processing_failures_total", jobFailures), 1);
  assert.equal(
    sample(text, "gitlab_runner_api_request_retries_total", {
      path: "/api/v4/jobs/{id}/trace",
      method: "patch",
    }),
    3,
  );
  assert.equal(
    sample(text, "gitlab_runner_api_request_retries_total", {
      path: "/api/v4/jobs/request",
      method: "post",
    }),
    1,
  );
  const ops = (operation: string) =>
    sample(text, "gitlab_runner_worker_slot_operations_total", { operation });
  assert.equal(ops("started"), 3);
  assert.equal(ops("stopped"), 2);
  assert.equal(sample(text, "gitlab_runner_job_inputs_interpolations_total"), 0);
  assert.match(text, /# TYPE gitlab_runner_job_inputs_interpolation_failures_total counter/);
});
