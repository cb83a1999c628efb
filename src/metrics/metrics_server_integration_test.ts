import assert from "node:assert/strict";
import { Registry } from "./prom_client.ts";
import type { LogFields, Logger } from "../log/logger.ts";
import { MetricsServer } from "./metrics_server.ts";
import { type JobListEntry, type JobListProvider, RunnerMetrics } from "./runner_metrics.ts";

class QuietLogger implements Logger {
  readonly lines: string[] = [];
  debug(msg: string, _fields?: LogFields): void {
    this.lines.push(msg);
  }
  info(msg: string, _fields?: LogFields): void {
    this.lines.push(msg);
  }
  warn(msg: string, _fields?: LogFields): void {
    this.lines.push(msg);
  }
  error(msg: string, _fields?: LogFields): void {
    this.lines.push(msg);
  }
  child(_fields: LogFields): Logger {
    return this;
  }
}

class FixedJobs implements JobListProvider {
  constructor(readonly jobs: JobListEntry[]) {}
  listJobs(): JobListEntry[] {
    return this.jobs;
  }
}

function setup(jobs: JobListProvider = new FixedJobs([])) {
  const registry = new Registry();
  const metrics = new RunnerMetrics({
    registry,
    version: { name: "runner", version: "1.2.3", revision: "r", branch: "b", builtAt: "t" },
  });
  let ready = true;
  const server = new MetricsServer({
    registry,
    jobs,
    processState: () => metrics.processState,
    isReady: () => ready,
    log: new QuietLogger(),
  });
  return { server, metrics, setReady: (value: boolean) => (ready = value) };
}

async function request(port: number, path: string, method = "GET") {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

Deno.test("/metrics answers GET and HEAD in Prometheus text format and 405 otherwise", async () => {
  const { server, metrics } = setup();
  await using _ = server;
  const { port } = await server.listen("127.0.0.1:0");
  metrics.setConcurrent(3);

  const get = await request(port, "/metrics");
  assert.equal(get.status, 200);
  assert.match(get.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.match(get.body, /^gitlab_runner_concurrent 3$/m);
  assert.match(get.body, /^gitlab_runner_version_info\{.*version="1\.2\.3".*\} 1$/m);

  const head = await request(port, "/metrics", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, "");

  for (const method of ["POST", "PUT", "DELETE"]) {
    const denied = await request(port, "/metrics", method);
    assert.equal(denied.status, 405, method);
    assert.equal(denied.headers.get("allow"), "GET, HEAD");
  }
  assert.equal((await request(port, "/nope")).status, 404);
});

Deno.test("/debug/jobs/list lists running jobs with X-List-Version 2", async () => {
  const { server } = setup(
    new FixedJobs([
      {
        url: "https://gitlab.example.com/g/p/-/jobs/1",
        state: "running",
        stage: "step_script",
        executorStage: "docker_run",
        durationSeconds: 65,
      },
      {
        url: "https://gitlab.example.com/g/p/-/jobs/2",
        state: "running",
        stage: "",
        executorStage: "",
        durationSeconds: 0.5,
      },
    ]),
  );
  await using _ = server;
  const { port } = await server.listen("127.0.0.1:0");
  const list = await request(port, "/debug/jobs/list");
  assert.equal(list.status, 200);
  assert.equal(list.headers.get("x-list-version"), "2");
  assert.equal(
    list.body,
    "url=https://gitlab.example.com/g/p/-/jobs/1 state=running stage=step_script executor_stage=docker_run duration=1m5s\n" +
      "url=https://gitlab.example.com/g/p/-/jobs/2 state=running stage= executor_stage= duration=500ms\n",
  );
});

Deno.test("/health/ready and /debug/process/state report the process", async () => {
  const { server, metrics, setReady } = setup();
  await using _ = server;
  const { port } = await server.listen("127.0.0.1:0");
  assert.deepEqual([
    (await request(port, "/health/ready")).status,
    (await request(port, "/health/ready")).body,
  ], [200, "ready\n"]);
  setReady(false);
  const pending = await request(port, "/health/ready");
  assert.deepEqual([pending.status, pending.body], [503, "boot-verify pending\n"]);
  assert.equal((await request(port, "/debug/process/state")).body, "starting\n");
  metrics.setProcessState("running");
  assert.equal((await request(port, "/debug/process/state")).body, "running\n");
});

Deno.test("listen on a new address moves the server; the same address keeps it", async () => {
  const { server } = setup();
  await using _ = server;
  const first = await server.listen("127.0.0.1:0");
  assert.equal((await request(first.port, "/health/ready")).status, 200);

  const again = await server.listen("127.0.0.1:0");
  assert.equal(again.port, first.port, "same configured address: not restarted");

  const moved = await server.listen("0.0.0.0:0");
  assert.notEqual(moved.port, first.port);
  assert.equal((await request(moved.port, "/health/ready")).status, 200);
  await assert.rejects(fetch(`http://127.0.0.1:${first.port}/health/ready`));

  await server.stop();
  await server.stop();
  assert.equal(server.address, undefined);
  await assert.rejects(fetch(`http://127.0.0.1:${moved.port}/health/ready`));
});

Deno.test("a busy port or a malformed address is reported with the address", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { server } = setup();
    await using _ = server;
    await assert.rejects(
      server.listen(`127.0.0.1:${blocker.addr.port}`),
      new RegExp(`Cannot start the metrics server on "127\\.0\\.0\\.1:${blocker.addr.port}"`),
    );
    await assert.rejects(server.listen("127.0.0.1:nope"), /Invalid listen address/);
    const ok = await server.listen("127.0.0.1:0");
    assert.equal((await request(ok.port, "/health/ready")).status, 200);
  } finally {
    blocker.close();
  }
});
