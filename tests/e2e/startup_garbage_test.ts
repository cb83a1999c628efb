/**
 * The runner started as `deno task runner` does (`--expose-gc-as=runnerGc` among its V8
 * flags, poller/v8_flags.ts) gives back what start-up left in the heaps of its
 * two threads once it polls (cli/startup_garbage.ts): an idle runner's RSS
 * (scripts/bench/job_latency.ts figure (c)). Each thread logs its heap before
 * and after at debug; the heaps it keeps are smaller than what start-up made.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerTaskFlags, runnerToml, startRunner } from "../fixtures/runner_process.ts";

/** The runner's JSON log records of `msg`. */
function recordsOf(log: string, msg: string): Record<string, unknown>[] {
  return log.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record["msg"] === msg);
}

/** A runner for a new runner of `gitlab`, started with the task's flags, logging JSON at debug. */
function startTaskRunner(gitlab: FakeGitLab): ReturnType<typeof startRunner> {
  const r = gitlab.createRunner();
  return startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n${runnerToml(gitlab.url, r.token)}`,
    grants: runnerTaskFlags(),
    env: { LOG_LEVEL: "debug", LOG_FORMAT: "json" },
  });
}

Deno.test({
  name: "the runner started as `deno task runner` does shrinks both threads' heaps once it polls",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ longPollHoldMs: 60_000 });
    await using runner = await startTaskRunner(gitlab);
    await runner.waitForLog(/"msg":"Released start-up garbage".*"thread":"poller"/);
    await runner.waitForLog(/"msg":"Released start-up garbage".*"thread":"supervisor"/);
    const records = recordsOf(runner.log, "Released start-up garbage");
    assert.deepEqual(records.map((x) => x["thread"]).sort(), ["poller", "supervisor"], runner.log);
    for (const x of records) {
      assert.ok(Number(x["heap_bytes"]) < Number(x["heap_before_bytes"]), JSON.stringify(x));
    }
    // A job still runs after it (the collection flushed code the job path compiles again).
    const job = gitlab.enqueueJob({ script: ["echo after"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /after/);
  },
});

Deno.test({
  name:
    "a runner that ran a job and waits again shrinks the poller's heap once no job ran for 10 s",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ longPollHoldMs: 60_000 });
    await using runner = await startTaskRunner(gitlab);
    await runner.waitForLog(/"msg":"Released start-up garbage".*"thread":"poller"/);
    const job = gitlab.enqueueJob({ script: ["echo first"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    const ended = Date.now();
    assert.deepEqual(
      recordsOf(runner.log, "Released job garbage"),
      [],
      "collected at the job's end",
    );
    await runner.waitForLog(/"msg":"Released job garbage"/, 30_000);
    assert.ok(Date.now() - ended >= 9_000, `collected ${Date.now() - ended} ms after the job`);
    const records = recordsOf(runner.log, "Released job garbage");
    assert.equal(records.length, 1, runner.log);
    assert.equal(records[0]!["thread"], "poller");
    assert.ok(
      Number(records[0]!["heap_bytes"]) < Number(records[0]!["heap_before_bytes"]),
      JSON.stringify(records[0]),
    );
    // The next job runs after it.
    const next = gitlab.enqueueJob({ script: ["echo after"], variables: NO_GIT });
    const after = await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 });
    assert.equal(after.status, "success", after.trace + runner.log);
    assert.match(after.trace, /after/);
  },
});
