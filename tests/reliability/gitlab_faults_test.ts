/**
 * End to end: GitLab misbehaving (5xx, 429 with Retry-After, dropped
 * connections, a whole outage) must not lose a job, a final state or a byte
 * of a trace.
 */
import assert from "node:assert/strict";
import { crc32Checksum, FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { config, markedScript, NO_GIT, printedBetweenMarkers } from "./_runner_setup.ts";

const encoder = new TextEncoder();

Deno.test("with 20% of all GitLab calls answered 502/503/429 or dropped, 50 jobs finish and nothing is lost", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1, seed: 20 });
  const r = gitlab.createRunner({ kind: "created" });
  // Four rules at 5.5% each: about 20% of calls to every endpoint fail one way or another.
  gitlab.injectFault({ endpoint: "*", status: 502, rate: 0.055 });
  gitlab.injectFault({ endpoint: "*", status: 503, rate: 0.055 });
  gitlab.injectFault({ endpoint: "*", status: 429, headers: { "Retry-After": "1" }, rate: 0.055 });
  gitlab.injectFault({ endpoint: "*", drop: true, rate: 0.055 });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { concurrent: 4 }),
  });
  const { script, expected } = markedScript(40);
  const jobs = Array.from({ length: 50 }, () => gitlab.enqueueJob({ script, variables: NO_GIT }));
  for (const job of jobs) {
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 600_000 });
    assert.equal(
      state.status,
      "success",
      `job ${job.id}: ${state.trace}\n${runner.log.slice(-3000)}`,
    );
    const check = gitlab.checkTrace(job.id);
    assert.ok(
      check.ok,
      `job ${job.id}: reported ${check.reportedChecksum}, stored ${check.actualChecksum}`,
    );
    const printed = printedBetweenMarkers(state.trace, job.id);
    assert.equal(
      crc32Checksum(encoder.encode(printed ?? "")),
      crc32Checksum(encoder.encode(expected(job.id))),
      `job ${job.id} trace holds exactly what the script printed:\n${state.trace}`,
    );
  }
  const faulted = gitlab.requests.filter((q) => [0, 429, 502, 503].includes(q.status)).length;
  assert.ok(
    faulted / gitlab.requests.length > 0.1,
    `faults applied: ${faulted} of ${gitlab.requests.length}`,
  );
});

const OUTAGE_SECONDS = Number(Deno.env.get("RELIABILITY_OUTAGE_SECONDS") ?? "30");

Deno.test(`GitLab unreachable for ${OUTAGE_SECONDS} s mid-job: the job's log and result arrive once it is back`, async () => {
  // The fake cannot be closed and restarted on the same port (its TCP front
  // owns the port until close), so the outage is a fault rule that drops the
  // connection of every request, lifted with clearFaults().
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: [
      "echo before-outage",
      "sleep 5",
      'for i in $(seq 1 100); do echo "during outage $i"; done',
      "sleep 5",
      "echo end-of-job",
    ],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("before-outage"), {
    what: "job started",
  });
  gitlab.injectFault({ endpoint: "*", drop: true });
  const outageStart = gitlab.requests.length;
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_SECONDS * 1000));
  gitlab.clearFaults();
  const dropped = gitlab.requests.slice(outageStart).filter((q) => q.status === 0).length;
  assert.ok(dropped > 0, "the runner kept trying during the outage");
  assert.equal(gitlab.jobOf(job.id).status, "running", "no result could arrive during the outage");
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 180_000 });
  assert.equal(state.status, "success", runner.log.slice(-3000));
  for (let i = 1; i <= 100; i++) {
    assert.ok(state.trace.includes(`\nduring outage ${i}\n`), `line ${i}`);
  }
  assert.match(state.trace, /\nend-of-job\n/);
  assert.ok(gitlab.checkTrace(job.id).ok, "checksum of the final update matches the stored trace");
  const next = gitlab.enqueueJob({ script: ["echo after outage"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status, "success");
});

Deno.test("GitLab answering every trace PATCH with an unusable 416 still gets the job's final state, after the retries", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  gitlab.injectFault({ endpoint: "patch_trace", status: 416, headers: { "Range": "bytes=a-b" } });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { job_status_final_update_retry_limit: 2 })),
  });
  const job = gitlab.enqueueJob({ script: ["echo hello", "exit 4"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "script_failure");
  assert.equal(state.exitCode, 4);
  assert.equal(state.trace, "", "GitLab took none of the log");
  await runner.waitForLog(/GitLab got the job's final state without its whole log/);
});
