/**
 * End to end: a process dying with kill -9 — one executor process among
 * several, or the runner itself — loses no job: each is reported.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import {
  config,
  executorPid,
  journalPath,
  killByMarker,
  NO_GIT,
  restartRunner,
} from "./_runner_setup.ts";

Deno.test("kill -9 of one executor process fails its job with runner_system_failure; the other job succeeds", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { concurrent: 2, log_level: "debug" }),
  });
  const marker = `runner-victim-${crypto.randomUUID()}`;
  const victim = gitlab.enqueueJob({
    script: ["echo started", `sleep 300 # ${marker}`],
    variables: NO_GIT,
  });
  const survivor = gitlab.enqueueJob({
    script: ["echo started", "sleep 8", "echo survivor-done"],
    variables: NO_GIT,
  });
  for (const job of [victim, survivor]) {
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: `job ${job.id} started`,
    });
  }
  const pid = executorPid(runner.log, victim.id);
  assert.ok(pid, `executor pid of job ${victim.id} in the runner log:\n${runner.log}`);
  assert.notEqual(pid, executorPid(runner.log, survivor.id));
  const killedAt = performance.now();
  Deno.kill(pid, "SIGKILL");
  const failed = await gitlab.waitForJobFinished(victim.id, { timeoutMs: 60_000 });
  const reportedAfterMs = performance.now() - killedAt;
  assert.equal(failed.status, "failed");
  assert.equal(failed.failureReason, "runner_system_failure");
  assert.match(failed.trace, /executor process ended unexpectedly/);
  const ok = await gitlab.waitForJobFinished(survivor.id, { timeoutMs: 60_000 });
  assert.equal(ok.status, "success", ok.trace + runner.log.slice(-3000));
  assert.match(ok.trace, /\nsurvivor-done\n/);
  // deno-lint-ignore no-console -- the figure the issue asks for (goal: 5 s); reported, not asserted
  console.log(`killed executor's job reported after ${(reportedAfterMs / 1000).toFixed(2)} s`);
  await killByMarker(marker);
});

Deno.test("kill -9 of the runner mid-job: the restarted runner reports every job it had taken, from its journal", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { concurrent: 2 }),
  });
  const marker = `runner-restart-${crypto.randomUUID()}`;
  const jobs = [1, 2].map(() =>
    gitlab.enqueueJob({
      script: ["echo started-$CI_JOB_ID", `sleep 120 # ${marker}`],
      variables: NO_GIT,
    })
  );
  for (const job of jobs) {
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes(`started-${job.id}`), {
      what: `job ${job.id} started`,
    });
  }
  first.signal("SIGKILL");
  await first.exited();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  for (const job of jobs) {
    assert.equal(gitlab.jobOf(job.id).status, "running", "nobody reported the jobs yet");
  }

  const journal = await Deno.readTextFile(journalPath(first));
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(journalPath(first))).mode! & 0o777, 0o600);
  }
  assert.ok(!journal.includes(r.token), "the runner token is never written to the journal");
  for (const job of jobs) assert.match(journal, new RegExp(`"job_id":${job.id}\\b`));

  await using second = restartRunner(first);
  for (const job of jobs) {
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "failed", second.log);
    assert.equal(state.failureReason, "runner_system_failure");
    assert.match(
      state.trace,
      new RegExp(`started-${job.id}\n`),
      "the log sent before the crash is kept",
    );
    assert.match(state.trace, /Runner restarted: the job was interrupted while it was running/);
  }
  await gitlab.waitFor(async () => (await Deno.readTextFile(journalPath(first))).trim() === "", {
    what: "the journal to be compacted",
  });
  const next = gitlab.enqueueJob({ script: ["echo after restart"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status,
    "success",
    second.log,
  );
  const finals = gitlab.requestsTo("update_job").filter((q) =>
    (q.json as { state?: string })?.state === "failed"
  );
  assert.equal(finals.length, 2, "one final update per interrupted job");
  await killByMarker(marker);
});

Deno.test("signals while a restarted runner reports its journal to an unreachable GitLab: SIGHUP is taken, SIGTERM stops it at once", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const marker = `runner-restart-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({
    script: ["echo started", `sleep 120 # ${marker}`],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  first.signal("SIGKILL");
  await first.exited();
  await killByMarker(marker);
  // GitLab gone: the start-up report of the journal's job retries for a while.
  gitlab.injectFault({ drop: true });
  await using second = restartRunner(first);
  await second.waitForLog(/Reporting jobs interrupted/);
  second.signal("SIGHUP");
  const hung = await Promise.race([
    second.exited(),
    new Promise<null>((resolve) => setTimeout(resolve, 1000, null)),
  ]);
  assert.equal(hung, null, `SIGHUP ended the runner:\n${second.log}`);
  second.signal("SIGTERM");
  const status = await Promise.race([
    second.exited(),
    new Promise<null>((resolve) => setTimeout(resolve, 10_000, null)),
  ]);
  assert.ok(status !== null, `the runner did not stop within 10 s:\n${second.log}`);
  assert.equal(status.code, 0, second.log);
  assert.match(second.log, /Runner stopped/);
  // Not reported: the job stays in the journal for the next start.
  assert.match(await Deno.readTextFile(journalPath(first)), new RegExp(`"job_id":${job.id}\\b`));
});

Deno.test("a job that succeeded but whose final update GitLab never took is reported as succeeded by the next start", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { job_status_final_update_retry_limit: 1 })),
  });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 4", "echo all done"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  // GitLab refuses the final update (its log still arrives); the runner gives up on it.
  gitlab.injectFault({ endpoint: "update_job", status: 400, body: "{}" });
  await first.waitForLog(/Final job state could not be sent to GitLab/);
  first.signal("SIGTERM");
  await first.exited();
  assert.equal(gitlab.jobOf(job.id).status, "running");
  gitlab.clearFaults();
  await using second = restartRunner(first);
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", second.log);
  assert.match(state.trace, /all done\n/);
  // GitLab had the whole log: the update carries its checksum, and no note is needed.
  assert.doesNotMatch(state.trace, /Runner restarted/);
  assert.ok(gitlab.checkTrace(job.id).ok, JSON.stringify(gitlab.checkTrace(job.id)));
  // Logged once GitLab took the update, which the wait above may see first.
  await second.waitForLog(/Interrupted job reported as success/);
});

Deno.test("a journal that cannot be created is logged and the runner still serves", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-e2e-" });
  const configPath = join(dir, "config.toml");
  await Deno.writeTextFile(configPath, config(runnerToml(gitlab.url, r.token)), { mode: 0o600 });
  // A file where the journal directory should be.
  await Deno.mkdir(join(dir, ".runner"));
  await Deno.writeTextFile(join(dir, ".runner", "journal"), "not a directory");
  await using runner = restartRunner({ dir, configPath });
  await runner.waitForLog(/Job journal disabled/);
  const job = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status,
    "success",
    runner.log,
  );
});

Deno.test("a damaged journal (random bytes, a record with a broken url) is named in a warning and the runner serves", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-e2e-" });
  const configPath = join(dir, "config.toml");
  await Deno.writeTextFile(configPath, config(runnerToml(gitlab.url, r.token)), { mode: 0o600 });
  const journalDir = join(dir, ".runner", "journal");
  await Deno.mkdir(journalDir, { recursive: true });
  const garbage = new Uint8Array(512);
  crypto.getRandomValues(garbage);
  await Deno.writeFile(join(journalDir, "jobs.jsonl"), garbage);
  await Deno.writeTextFile(
    join(journalDir, "jobs.jsonl"),
    `\n{"v":1,"type":"taken","job_id":5,"url":"not a url","runner":"abcdefghi","job_token":"t","at":"x"}\n`,
    { append: true },
  );
  await using runner = restartRunner({ dir, configPath });
  const job = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status,
    "success",
    runner.log,
  );
  assert.match(runner.log, /skipped unreadable lines.*file=\S*\.runner\/journal\/jobs\.jsonl/);
  assert.doesNotMatch(runner.log, /FATAL|TypeError/);
});

Deno.test("a second runner started on the same config directory leaves the first one's running job alone", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 6", "echo first-done"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  await using second = restartRunner(first);
  await second.waitForLog(/Runner started/);
  assert.match(second.log, /Job journal disabled.*another runner process uses it/);
  assert.doesNotMatch(second.log, /Reporting jobs interrupted/);
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + second.log);
  assert.match(state.trace, /first-done\n/);
});

Deno.test("the state directory removed while the runner runs: a job taken after it is still reported by the restart after a kill -9", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  await first.waitForLog(/Runner started/);
  await Deno.remove(join(first.dir, ".runner"), { recursive: true });
  const marker = `runner-state-removed-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({
    script: ["echo started", `sleep 120 # ${marker}`],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  assert.match(first.log, /Cannot write the job journal.*was removed while the runner used it/);
  first.signal("SIGKILL");
  await first.exited();
  await killByMarker(marker);
  await using second = restartRunner(first);
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", second.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.match(
    state.trace,
    /started\n[^]*Runner restarted: the job was interrupted while it was running/,
  );
});

Deno.test("jobs the restart could not report while GitLab was down are reported once it answers again, without another restart", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const marker = `runner-kept-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({
    script: ["echo started", `sleep 120 # ${marker}`],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  first.signal("SIGKILL");
  await first.exited();
  await killByMarker(marker);
  gitlab.injectFault({ drop: true });
  await using second = restartRunner(first);
  await second.waitForLog(/Cannot report the interrupted job now/, 120_000);
  gitlab.clearFaults();
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 }).catch((err) => {
    throw new Error(`${err.message}\n${second.log}`);
  });
  assert.equal(state.status, "failed", second.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.equal(
    state.trace.split("Runner restarted: the job was interrupted").length - 1,
    1,
    "the note once",
  );
  assert.match(second.log, /Trying again to report jobs GitLab has no final state of/);
});

Deno.test("a job whose final update the runner gave up on is reported once GitLab takes it, without a restart", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { job_status_final_update_retry_limit: 1 })),
  });
  // The script ends once the fault is in place: on a busy machine GitLab saw
  // "started" after a 3 s script had already ended and been reported.
  const go = join(runner.dir, "go");
  const job = gitlab.enqueueJob({
    script: ["echo started", `until [ -e '${go}' ]; do sleep 0.1; done`, "echo all done"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  gitlab.injectFault({ endpoint: "update_job", status: 400, body: "{}" });
  await Deno.writeTextFile(go, "");
  await runner.waitForLog(/Final job state could not be sent to GitLab/);
  assert.equal(gitlab.jobOf(job.id).status, "running");
  gitlab.clearFaults();
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", runner.log);
  assert.match(state.trace, /all done\n/);
  assert.doesNotMatch(state.trace, /Runner restarted/, "no restart note: the runner never stopped");
  assert.match(runner.log, /Trying again to report jobs GitLab has no final state of/);
});

Deno.test("kill -9 after the script ended, while the end of its log is on its way: the restart delivers the whole log and the result", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using first = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  // The log's end is written once the fault is in place (a fixed sleep raced it on a busy machine).
  const go = join(first.dir, "go");
  const job = gitlab.enqueueJob({
    script: [
      "echo started",
      `until [ -e '${go}' ]; do sleep 0.1; done`,
      "for i in $(seq 1 300); do echo end-$i; done",
    ],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: `job ${job.id} started`,
  });
  // GitLab stops taking the log: the final attempt cannot send its end.
  gitlab.injectFault({ endpoint: "patch_trace", drop: true });
  await Deno.writeTextFile(go, "");
  await first.waitForLog(/Final job update failed; trying again/, 90_000);
  first.signal("SIGKILL");
  await first.exited();
  assert.equal(gitlab.jobOf(job.id).status, "running");
  assert.doesNotMatch(gitlab.jobOf(job.id).trace, /end-300/);
  gitlab.clearFaults();
  await using second = restartRunner(first);
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", second.log);
  assert.match(state.trace, /\nend-1\n[^]*\nend-300\n[^]*Job succeeded/);
  assert.doesNotMatch(state.trace, /Runner restarted/);
  const check = gitlab.checkTrace(job.id);
  assert.ok(check.ok, `GitLab checked the whole log: ${JSON.stringify(check)}`);
});
