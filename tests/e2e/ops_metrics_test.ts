/**
 * End to end: the `listen_address` HTTP server of `runner run`
 * (config-reference §18), scraped during and after real jobs. The tests read
 * values, not only names, as a Prometheus dashboard would.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, type RunnerProcess, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { staticGraph } from "../fixtures/static_graph.ts";
import { executorPid } from "../reliability/_runner_setup.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);

function config(body: string, global: Record<string, string | number> = {}): string {
  const head = Object.entries({ concurrent: 1, check_interval: 1, ...global })
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`).join("\n");
  return `${head}\n\n${body}`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in Prometheus text format. */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `where`; 0 when none. */
function value(text: string, name: string, where: Record<string, string> = {}): number {
  return samples(text, name)
    .filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function get(port: number, path: string, method = "GET"): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function scrape(port: number): Promise<string> {
  const res = await get(port, "/metrics");
  assert.equal(res.status, 200);
  return res.text;
}

async function startWithMetrics(
  gitlab: FakeGitLab,
  token: string,
  global: Record<string, string | number> = {},
) {
  const port = freePort();
  const runner = await startRunner({
    config: config(runnerToml(gitlab.url, token), {
      listen_address: `127.0.0.1:${port}`,
      ...global,
    }),
  });
  await runner.waitForLog(/Runner started/);
  await gitlab.waitFor(async () => {
    try {
      return (await get(port, "/health/ready")).status === 200;
    } catch {
      return false;
    }
  }, { what: "the metrics listener" });
  return { runner, port };
}

function shortOf(token: string): string {
  return token.replace(/^glrt-t1_/, "").slice(0, 9);
}

Deno.test("metrics during and after jobs: running gauge, job list, totals, durations, failures, request statuses", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const short = shortOf(r.token);
  const { runner, port } = await startWithMetrics(gitlab, r.token);
  await using _runner: RunnerProcess = runner;
  const marks = await Deno.makeTempDir({ prefix: "runner-metrics-" });
  const release = join(marks, "release");

  const job = gitlab.enqueueJob({
    script: ["echo started", `while [ ! -e ${release} ]; do sleep 0.1; done`],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "the job to start",
    timeoutMs: 60_000,
  });
  const during = await scrape(port);
  assert.equal(value(during, "gitlab_runner_jobs", { state: "running", runner: short }), 1, during);
  // A shell job keeps the official runner's `prepare` executor stage while its stages run.
  assert.equal(
    value(during, "gitlab_runner_jobs", { "executor_stage": "prepare", stage: "step_script" }),
    1,
    during,
  );
  // Like the official runner, jobs_total counts a job when it is taken.
  assert.equal(value(during, "gitlab_runner_jobs_total", { runner: short }), 1, during);
  assert.equal(value(during, "gitlab_runner_job_duration_seconds_count"), 0, "not finished yet");
  const list = await get(port, "/debug/jobs/list");
  assert.equal(list.status, 200);
  assert.equal(list.headers.get("x-list-version"), "2");
  const lines = list.text.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, list.text);
  assert.match(
    lines[0]!,
    new RegExp(
      `^url=${gitlab.url}/acme/widget/-/jobs/${job.id} state=running stage=step_script executor_stage=prepare duration=[\\d.hmµs]+$`,
    ),
  );

  await Deno.writeTextFile(release, "");
  assert.equal((await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status, "success");
  let after = await gitlab.waitFor(async () => {
    const text = await scrape(port);
    return value(text, "gitlab_runner_job_duration_seconds_count") >= 1 ? text : undefined;
  }, { what: "the job's duration to be observed" });
  assert.equal(value(after, "gitlab_runner_jobs_total", { runner: short }), 1);
  assert.equal(value(after, "gitlab_runner_job_duration_seconds_count", { runner: short }), 1);
  assert.ok(value(after, "gitlab_runner_job_duration_seconds_sum", { runner: short }) > 0);
  assert.equal(
    value(after, "gitlab_runner_jobs", { state: "running" }),
    0,
    "no job running any more",
  );
  assert.equal(value(after, "gitlab_runner_failed_jobs_total"), 0);
  assert.equal((await get(port, "/debug/jobs/list")).text.trim(), "");

  const failing = gitlab.enqueueJob({ script: ["exit 4"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(failing.id, { timeoutMs: 60_000 })).status,
    "failed",
  );
  after = await gitlab.waitFor(async () => {
    const text = await scrape(port);
    return value(text, "gitlab_runner_job_duration_seconds_count") >= 2 ? text : undefined;
  }, { what: "the failed job's duration to be observed" });
  assert.equal(value(after, "gitlab_runner_jobs_total", { runner: short }), 2);
  assert.equal(value(after, "gitlab_runner_job_duration_seconds_count"), 2);
  assert.equal(
    value(after, "gitlab_runner_failed_jobs_total", {
      runner: short,
      "failure_reason": "script_failure",
    }),
    1,
    after,
  );
  assert.equal(
    value(after, "gitlab_runner_failed_jobs_total"),
    1,
    "no other failure reason counted",
  );

  const where = { endpoint: "request_job", status: "204", runner: short };
  const before204 = value(after, "gitlab_runner_api_request_statuses_total", where);
  assert.ok(before204 >= 1, after);
  await gitlab.waitFor(async () => {
    return value(await scrape(port), "gitlab_runner_api_request_statuses_total", where) > before204;
  }, { what: "request_job 204 count to grow" });
  const requests201 = value(after, "gitlab_runner_api_request_statuses_total", {
    endpoint: "request_job",
    status: "201",
  });
  assert.equal(requests201, 2, "one 201 per job received");
  await Deno.remove(marks, { recursive: true });
});

Deno.test("metrics server: concurrent follows config edits, version and process metrics, HEAD works, POST is 405", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const { runner, port } = await startWithMetrics(gitlab, r.token, { concurrent: 3 });
  await using _runner: RunnerProcess = runner;

  const text = await scrape(port);
  assert.equal(value(text, "gitlab_runner_concurrent"), 3);
  assert.equal(value(text, "gitlab_runner_configuration_loaded_total"), 1);
  const version = samples(text, "gitlab_runner_version_info");
  assert.equal(version.length, 1, text);
  assert.equal(version[0]!.value, 1);
  assert.ok(version[0]!.labels["version"], "version label set");
  assert.match(version[0]!.labels["go_version"] ?? "", /\d+\.\d+/);
  assert.ok(value(text, "process_resident_memory_bytes") > 0, "resident memory reported");
  assert.ok(value(text, "process_start_time_seconds") > 1_600_000_000, "start time is a Unix time");

  const head = await get(port, "/metrics", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
  assert.match(head.headers.get("content-type") ?? "", /text\/plain/);
  const post = await get(port, "/metrics", "POST");
  assert.equal(post.status, 405);
  assert.match(post.headers.get("allow") ?? "", /GET/);
  const ready = await get(port, "/health/ready");
  assert.equal(ready.status, 200);
  assert.equal(ready.text, "ready\n");

  const mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, r.token), { listen_address: `127.0.0.1:${port}`, concurrent: 5 }),
  );
  await gitlab.waitFor(() => /Configuration loaded/.test(runner.log.slice(mark)), {
    what: "the reload to be logged",
  });
  const reloaded = await scrape(port);
  assert.equal(value(reloaded, "gitlab_runner_concurrent"), 5);
  assert.equal(value(reloaded, "gitlab_runner_configuration_loaded_total"), 2);
  // Said once, at start; a reload that keeps the address says nothing.
  const listening = runner.log.match(/Metrics server listening/g) ?? [];
  assert.equal(listening.length, 1, runner.log);
});

Deno.test("metrics added for issue 14: queue, stages, execution mode, retries, request limits, worker slots and failures, process limits", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const other = gitlab.createRunner({ kind: "created" });
  const short = shortOf(r.token);
  // Pending ahead of ours but for another runner: our jobs are found at depth 2.
  gitlab.enqueueJob({ script: ["true"], variables: NO_GIT, runnerId: other.id });
  const ok = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT, runnerId: r.id });
  const bad = gitlab.enqueueJob({ script: ["exit 3"], variables: NO_GIT, runnerId: r.id });
  // GitLab asks the runner to slow down once on the first final update.
  gitlab.injectFault({
    endpoint: "update_job",
    status: 429,
    headers: { "Retry-After": "1" },
    times: 1,
  });
  const port = freePort();
  const body = runnerToml(gitlab.url, r.token, { "request_concurrency": 2 }) +
    "  [runners.feature_flags]\n    FF_EXPORT_HIGH_CARDINALITY_METRICS = true\n";
  await using runner = await startRunner({
    config: config(body, { concurrent: 1, listen_address: `127.0.0.1:${port}` }),
  });
  assert.equal((await gitlab.waitForJobFinished(ok.id, { timeoutMs: 240_000 })).status, "success");
  assert.equal((await gitlab.waitForJobFinished(bad.id, { timeoutMs: 240_000 })).status, "failed");
  const text = await gitlab.waitFor(async () => {
    const t = await scrape(port);
    return value(t, "gitlab_runner_job_duration_seconds_count") >= 2 ? t : undefined;
  }, { what: "both jobs observed", timeoutMs: 60_000 });
  const r3 = { runner: short };

  // job_info as GitLab sent it for the last job taken: one job of ours left, found second.
  assert.equal(value(text, "gitlab_runner_job_queue_size", r3), 1, text);
  assert.equal(value(text, "gitlab_runner_job_queue_depth", r3), 2, text);
  assert.equal(
    samples(text, "gitlab_runner_acceptable_job_queuing_duration_exceeded_total")
      .filter((s) => s.labels["runner"] === short).length,
    1,
    "present at zero: no queuing threshold can be configured",
  );
  // FF_EXPORT_HIGH_CARDINALITY_METRICS: every job's stages are timed.
  for (const stage of ["prepare_executor", "get_sources", "step_script"]) {
    assert.equal(
      value(text, "gitlab_runner_job_stage_duration_seconds_count", { ...r3, stage }),
      2,
      `${stage}\n${text}`,
    );
  }
  assert.equal(
    value(text, "gitlab_runner_job_execution_mode_total", {
      mode: "traditional",
      executor: "shell",
    }),
    2,
  );
  assert.equal(
    value(text, "gitlab_runner_worker_processing_failures_total", {
      ...r3,
      "failure_type": "job_failure",
    }),
    1,
  );
  assert.equal(
    samples(text, "gitlab_runner_worker_processing_failures_total").length,
    3,
    "other and no_free_executor present at zero",
  );
  assert.equal(
    value(text, "gitlab_runner_worker_slot_operations_total", { operation: "started" }),
    1,
  );
  assert.equal(
    value(text, "gitlab_runner_worker_slot_operations_total", { operation: "stopped" }),
    0,
  );
  // Attempts per path, numeric segments as {id}; the 429 made one update take two attempts.
  const finalUpdates = gitlab.requestsTo("update_job").length;
  assert.equal(
    value(text, "gitlab_runner_api_request_retries_total", {
      path: "/api/v4/jobs/{id}",
      method: "put",
    }),
    finalUpdates,
    text,
  );
  // Two requests brought the jobs; the one the freed slot sends after the
  // last job may still be in flight when the job's duration is first seen.
  await gitlab.waitFor(
    async () =>
      value(await scrape(port), "gitlab_runner_api_request_retries_total", {
        path: "/api/v4/jobs/request",
        method: "post",
      }) >= 3,
    { what: "a third job request to be counted", timeoutMs: 30_000 },
  );
  const rc = { runner: short };
  assert.equal(value(text, "gitlab_runner_request_concurrency_hard_limit", rc), 2);
  const adaptive = value(text, "gitlab_runner_request_concurrency_adaptive_limit", rc);
  assert.ok(adaptive >= 1 && adaptive <= 2, `adaptive limit ${adaptive}`);
  const used = value(text, "gitlab_runner_request_concurrency_used_limit", rc);
  assert.ok(used >= 1 && used <= 2, `used limit ${used}`);
  assert.equal(value(text, "gitlab_runner_job_inputs_interpolations_total"), 0);
  assert.ok(value(text, "process_max_fds") > 0, text);
  assert.ok(
    value(text, "process_virtual_memory_bytes") > value(text, "process_resident_memory_bytes"),
  );
  assert.doesNotMatch(runner.log, /"level":"error"/);
});

Deno.test("FF_EXPORT_HIGH_CARDINALITY_METRICS from [[runners]] environment times the job's stages, as a job variable does", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT, runnerId: r.id });
  const port = freePort();
  const body = runnerToml(gitlab.url, r.token) +
    '  environment = ["FF_EXPORT_HIGH_CARDINALITY_METRICS=true"]\n';
  await using runner = await startRunner({
    config: config(body, { concurrent: 1, listen_address: `127.0.0.1:${port}` }),
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  const text = await gitlab.waitFor(async () => {
    const t = await scrape(port);
    return value(t, "gitlab_runner_job_duration_seconds_count") >= 1 ? t : undefined;
  }, { what: "the job observed", timeoutMs: 60_000 });
  assert.equal(
    value(text, "gitlab_runner_job_stage_duration_seconds_count", {
      runner: shortOf(r.token),
      stage: "step_script",
    }),
    1,
    text,
  );
});

Deno.test("/debug/process/state says forceful-shutdown while SIGTERM aborts the jobs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const { runner, port } = await startWithMetrics(gitlab, r.token, {
    shutdown_timeout: 10,
    log_level: "debug",
  });
  await using _runner = runner;
  const job = gitlab.enqueueJob({ script: ["echo started", "sleep 120"], variables: NO_GIT });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  const executor = executorPid(runner.log, job.id);
  assert.ok(executor, runner.log);
  // A hung executor process: the abort lasts until shutdown_timeout.
  Deno.kill(executor, "SIGSTOP");
  try {
    runner.signal("SIGTERM");
    await gitlab.waitFor(
      async () => (await get(port, "/debug/process/state")).text.trim() === "forceful-shutdown",
      { what: "state forceful-shutdown", timeoutMs: 8_000 },
    );
  } finally {
    Deno.kill(executor, "SIGKILL");
  }
  await runner.exited();
});

Deno.test("a runner without listen_address does not load prom-client: run.ts reaches it only by a dynamic import", async () => {
  const run = new URL("../../src/cli/commands/run.ts", import.meta.url).pathname;
  const loaded = await staticGraph(run);
  assert.ok(loaded.some((s) => s.endsWith("/src/poller/job_supervisor.ts")), "graph walked");
  assert.deepEqual(
    loaded.filter((s) => s.includes("prom-client") || s.includes("prom_client")),
    [],
  );
  const endpoint = new URL("../../src/metrics/metrics_endpoint.ts", import.meta.url).pathname;
  assert.ok((await staticGraph(endpoint)).some((s) => s.includes("prom-client")));
});

Deno.test("an IPv6 listen address ([::1]:port, by --listen-address or in config.toml) serves /metrics", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  for (const how of ["flag", "config"] as const) {
    const listener = Deno.listen({ hostname: "::1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const address = `[::1]:${port}`;
    await using runner = await startRunner({
      config: config(
        runnerToml(gitlab.url, r.token),
        how === "config" ? { listen_address: address } : {},
      ),
      args: how === "flag" ? ["--listen-address", address] : [],
    });
    await runner.waitForLog(/Runner started/);
    const res = await fetch(`http://[::1]:${port}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, how);
    assert.equal(value(text, "gitlab_runner_concurrent"), 1, `${how}: ${text}`);
    assert.match(
      runner.log,
      new RegExp(`Metrics server listening +address=\\[::1\\]:${port}`),
      how,
    );
  }
});

Deno.test({
  name:
    "a running docker job shows the docker_run executor stage in the job list and the jobs gauge",
  ignore: dockerReason !== null,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const port = freePort();
    await using runner = await startRunner({
      config: config(
        runnerToml(gitlab.url, r.token, { executor: "docker" }) +
          `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
        { listen_address: `127.0.0.1:${port}` },
      ),
    });
    const job = gitlab.enqueueJob({ script: ["echo started", "sleep 10"], variables: NO_GIT });
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: "the job to start",
      timeoutMs: 60_000,
    });
    const list = await get(port, "/debug/jobs/list");
    assert.match(
      list.text,
      /state=running stage=step_script executor_stage=docker_run /,
      list.text,
    );
    const text = await scrape(port);
    assert.equal(value(text, "gitlab_runner_jobs", { "executor_stage": "docker_run" }), 1, text);
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
  },
});
