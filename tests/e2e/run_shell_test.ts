/**
 * End to end: `runner run` against the fake GitLab with the shell executor.
 * Real HTTP, real processes, real bash; each test asserts what GitLab (and so
 * a user looking at the job page) ends up with.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { childProcesses } from "../fixtures/child_processes.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runCli, runnerToml, startRunner } from "../fixtures/runner_process.ts";

function config(body: string, global: Record<string, string | number> = {}): string {
  const head = Object.entries({ concurrent: 1, check_interval: 1, ...global })
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`).join("\n");
  return `${head}\n\n${body}`;
}

Deno.test("a shell job runs, its log streams to GitLab and the result is success with a valid checksum", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo hello from $CI_JOB_NAME", "echo done"],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.ok(state.accepted, "the runner confirmed the job with state=running first");
  // The header names the revision `runner --version` prints (from source, read from .git by the
  // runner: the executor process, which may not read it, gets it from the poller).
  const version = await runCli(["--version"]);
  const revision = /Git revision: (\S+)/.exec(version.stdout)?.[1];
  assert.ok(revision, version.stdout);
  assert.match(state.trace, new RegExp(`Running with gitlab-runner \\S+ \\(${revision}\\)`));
  assert.match(state.trace, /hello from /);
  assert.match(state.trace, /Job succeeded/);
  assert.ok(
    gitlab.checkTrace(job.id).ok,
    "checksum and bytesize of the final update match the stored trace",
  );
});

Deno.test("a failing script reports failed, script_failure and its exit code", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo before", "exit 3", "echo never"],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "script_failure");
  assert.equal(state.exitCode, 3);
  assert.match(state.trace, /ERROR: Job failed: exit status 3/);
  assert.doesNotMatch(state.trace, /\nnever/);
});

Deno.test("two [[runners]] with their own tokens each take and run jobs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "registered" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token), {
      concurrent: 2,
    }),
  });
  const ja = gitlab.enqueueJob({ script: ["echo A"], variables: NO_GIT, runnerId: a.id });
  const jb = gitlab.enqueueJob({ script: ["echo B"], variables: NO_GIT, runnerId: b.id });
  const [sa, sb] = await Promise.all([
    gitlab.waitForJobFinished(ja.id, { timeoutMs: 60_000 }),
    gitlab.waitForJobFinished(jb.id, { timeoutMs: 60_000 }),
  ]);
  assert.equal(sa.status, "success", runner.log);
  assert.equal(sb.status, "success", runner.log);
  assert.equal(sa.runnerId, a.id);
  assert.equal(sb.runnerId, b.id);
});

Deno.test("concurrent below the number of [[runners]] is warned about, naming both numbers", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  const body = runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token);
  await using starved = await startRunner({ config: config(body) });
  await starved.waitForLog(/Runner started/);
  assert.match(
    starved.log,
    /concurrent \(1\) is less than the number of \[\[runners\]\] \(2\):.*set concurrent to 2 or more/,
  );
  await using enough = await startRunner({ config: config(body, { concurrent: 2 }) });
  await enough.waitForLog(/Runner started/);
  assert.doesNotMatch(enough.log, /is less than the number of/);
});

Deno.test("concurrent = 2 with six queued jobs never runs more than two at once", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const marks = await Deno.makeTempDir({ prefix: "runner-concurrency-" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { concurrent: 2 }),
  });
  const script = [
    `touch ${marks}/running.$CI_JOB_ID`,
    `ls ${marks} | grep -c '^running' >> ${marks}/seen.$CI_JOB_ID`,
    "sleep 1",
    `ls ${marks} | grep -c '^running' >> ${marks}/seen.$CI_JOB_ID`,
    `rm ${marks}/running.$CI_JOB_ID`,
  ];
  const jobs = Array.from({ length: 6 }, () => gitlab.enqueueJob({ script, variables: NO_GIT }));
  for (const job of jobs) {
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
  }
  const seen: number[] = [];
  for await (const entry of Deno.readDir(marks)) {
    if (!entry.name.startsWith("seen.")) continue;
    const text = await Deno.readTextFile(join(marks, entry.name));
    seen.push(...text.trim().split("\n").map(Number));
  }
  assert.ok(Math.max(...seen) <= 2, `at most two jobs at once, saw ${Math.max(...seen)}`);
  assert.ok(Math.max(...seen) === 2, "two jobs did run side by side");
  await Deno.remove(marks, { recursive: true });
});

Deno.test("a masked secret printed in two halves with a sleep between never appears in the log", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: [
      `printf 'value: s3cr3t-'; sleep 1.5; printf 'v4lue-9x\\n'`,
      `echo "whole: $DB_PASSWORD"`,
    ],
    variables: [...NO_GIT, { key: "DB_PASSWORD", value: "s3cr3t-v4lue-9x", masked: true }],
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", runner.log);
  assert.doesNotMatch(state.trace, /s3cr3t-v4lue-9x/);
  assert.match(state.trace, /value: \[MASKED\]/);
  assert.match(state.trace, /whole: \[MASKED\]/);
  assert.doesNotMatch(runner.log, /s3cr3t-v4lue-9x/, "nor in the runner's own log");
});

Deno.test("with 20% of trace and update calls failing, the final trace is exactly what the script printed", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1, seed: 7 });
  const r = gitlab.createRunner({ kind: "created" });
  gitlab.injectFault({ endpoint: "patch_trace", status: 502, rate: 0.2 });
  gitlab.injectFault({ endpoint: "update_job", status: 503, rate: 0.2 });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: [
      'for i in $(seq 1 300); do echo "line $i of the job log"; done',
      "sleep 2",
      "echo tail",
    ],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", runner.log);
  const check = gitlab.checkTrace(job.id);
  assert.ok(check.ok, `checksum ${check.reportedChecksum} vs stored ${check.actualChecksum}`);
  for (let i = 1; i <= 300; i++) {
    assert.ok(state.trace.includes(`line ${i} of the job log\n`), `line ${i}`);
  }
  assert.match(state.trace, /\ntail\n/);
});

Deno.test("Job-Status canceling stops the script, after_script still runs with CI_JOB_STATUS=canceled", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 60", "echo not-reached"],
    afterScript: ["echo after: $CI_JOB_STATUS"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  gitlab.cancelJob(job.id, { graceful: true });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "canceled", runner.log);
  assert.match(state.trace, /after: canceled/);
  assert.doesNotMatch(state.trace, /not-reached/);
});

Deno.test("a job whose timeout comes while its cache is being archived stops then, not after the archive", async () => {
  // 40 files of 8 MiB of random bytes, made once and hard-linked into the
  // project: the script takes no time, the archive several seconds here.
  const blobs = await Deno.makeTempDir({ prefix: "e2e-blobs-" });
  try {
    const made = await new Deno.Command("sh", {
      args: ["-c", "for i in $(seq 40); do head -c 8M /dev/urandom > blob-$i; done"],
      cwd: blobs,
    }).output();
    assert.ok(made.success);
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
    const job = gitlab.enqueueJob({
      script: [`cp -al ${blobs} vendor || cp -a ${blobs} vendor`],
      cache: [{ key: "big", paths: ["vendor/"], policy: "pull-push", when: "always" }],
      variables: NO_GIT,
      timeoutSeconds: 4,
    });
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("Creating cache "), {
      what: "the cache being archived",
    });
    const seenAt = performance.now();
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    const ms = performance.now() - seenAt;
    assert.equal(state.failureReason, "job_execution_timeout", runner.log);
    assert.doesNotMatch(state.trace, /Created cache/, "the archive was stopped, not finished");
    // The whole job had 4 s; the archive alone takes longer.
    assert.ok(ms < 4_500, `the job ended ${ms.toFixed(0)} ms after its archive began`);
  } finally {
    await Deno.remove(blobs, { recursive: true });
  }
});

Deno.test("a job over its timeout fails with job_execution_timeout", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({ script: ["sleep 60"], variables: NO_GIT, timeoutSeconds: 3 });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "job_execution_timeout");
  assert.match(state.trace, /execution took longer than/);
});

Deno.test("kill -9 of the executor process reports runner_system_failure and the runner keeps serving", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { log_level: "debug" }),
  });
  const job = gitlab.enqueueJob({
    script: ['sleep 300 & echo "started sleeper=$!"', "wait"],
    variables: NO_GIT,
  });
  const sleeper = await gitlab.waitFor(
    () => Number(/started sleeper=(\d+)/.exec(gitlab.jobOf(job.id).trace)?.[1]) || undefined,
    { what: "job started" },
  );
  const pid = Number(/Executor process started.*pid=(\d+)/.exec(runner.log)?.[1]);
  assert.ok(pid > 0, `executor pid in the runner log:\n${runner.log}`);
  Deno.kill(pid, "SIGKILL");
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 30_000 });
  assert.equal(state.status, "failed");
  assert.equal(state.failureReason, "runner_system_failure");
  assert.match(state.trace, /executor process ended unexpectedly/);
  // Its stage's processes did not outlive it (the poller killed their group).
  await gitlab.waitFor(async () => {
    const stat = await Deno.readTextFile(`/proc/${sleeper}/stat`).catch(() => "");
    return stat === "" || / Z /.test(stat);
  }, { what: `the job's sleep (pid ${sleeper}) to be killed`, timeoutMs: 10_000 });
  const next = gitlab.enqueueJob({ script: ["echo still serving"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status, "success");
});

Deno.test("a job payload with a wrong-typed field fails that job with a clear reason; the next job runs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const bad = gitlab.enqueueJob({ payload: { steps: "echo not-an-array" } });
  const state = await gitlab.waitForJobFinished(bad.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.match(state.trace, /steps/);
  const good = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(good.id, { timeoutMs: 60_000 })).status, "success");
});

Deno.test("GitLab answering HTML or garbage to job requests is logged and the runner goes on", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  gitlab.injectFault({
    endpoint: "request_job",
    status: 201,
    body: "<html><body>502 Bad Gateway</body></html>",
    contentType: "text/html",
    times: 2,
  });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { unhealthy_requests_limit: 10 })),
  });
  await runner.waitForLog(/Checking for jobs\.\.\. failed/);
  const job = gitlab.enqueueJob({ script: ["echo after garbage"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status, "success");
});

Deno.test("output_limit cuts the log with the official notice and the job still succeeds", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { output_limit: 1 })),
  });
  const job = gitlab.enqueueJob({
    script: ['for i in $(seq 1 200); do echo "filler line $i"; done', "echo last-line"],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", runner.log);
  assert.match(
    state.trace,
    /Job's log exceeded limit of 1024 bytes\.\nJob execution will continue but no more output will be collected\./,
  );
  assert.doesNotMatch(state.trace, /last-line/);
  assert.ok(gitlab.checkTrace(job.id).ok);
});

Deno.test("an entry that GitLab refuses (403) is paused after unhealthy_requests_limit failures", async () => {
  await using gitlab = await FakeGitLab.start();
  await using runner = await startRunner({
    config: config(
      runnerToml(gitlab.url, "glrt-not-a-real-token1", { unhealthy_requests_limit: 2 }),
    ),
  });
  await runner.waitForLog(/not healthy/);
  const count = gitlab.requestsTo("request_job").length;
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(gitlab.requestsTo("request_job").length, count, "no more requests while paused");
});

Deno.test("SIGQUIT stops asking for jobs and waits for the running one to finish", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 3", "echo finished"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  runner.signal("SIGQUIT");
  await runner.waitForLog(/Stopping: waiting for running jobs to finish .* signal=SIGQUIT/);
  const status = await runner.exited();
  assert.equal(status.code, 0, runner.log);
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "success");
  assert.match(state.trace, /finished/);
});

Deno.test("SIGQUIT sent to the runner and its executor processes at once (systemd's KillSignal=SIGQUIT) lets the running job finish", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 3", "echo finished"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  // systemd's default KillMode (control-group) signals every process of the unit, not only the
  // runner; a terminal's hangup reaches its whole process group.
  const executors = childProcesses(runner.pid).filter((c) =>
    c.cmdline.includes("executor-process")
  );
  assert.ok(executors.length > 0, "the executor process is a child of the runner");
  runner.signal("SIGQUIT");
  for (const { pid } of executors) {
    Deno.kill(pid, "SIGQUIT");
    Deno.kill(pid, "SIGHUP");
  }
  const status = await runner.exited();
  assert.equal(status.code, 0, runner.log);
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /finished/);
});

Deno.test("SIGTERM aborts the running job, reports it and exits within shutdown_timeout", async () => {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    failureReasons: ["runner_interrupted"],
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { shutdown_timeout: 20 }),
  });
  const job = gitlab.enqueueJob({ script: ["echo started", "sleep 120"], variables: NO_GIT });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  runner.signal("SIGTERM");
  const status = await runner.exited();
  assert.equal(status.code, 0, runner.log);
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "failed");
  assert.match(runner.log, /Stopping: aborting running jobs +shutdown_timeout_s=20 signal=SIGTERM/);
  // As the official runner: the job was not canceled, the runner was stopped.
  assert.equal(state.failureReason, "runner_interrupted");
  assert.match(state.trace, /ERROR: Job failed: aborted: terminated/);
  assert.doesNotMatch(state.trace, /canceled/);
});

Deno.test("SIGTERM during a SIGQUIT drain aborts the running job and reports it; a second SIGQUIT keeps waiting", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { shutdown_timeout: 30 }),
  });
  const job = gitlab.enqueueJob({ script: ["echo started", "sleep 120"], variables: NO_GIT });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "job started",
  });
  runner.signal("SIGQUIT");
  await runner.waitForLog(/waiting for running jobs to finish/);
  runner.signal("SIGQUIT");
  await runner.waitForLog(
    /SIGQUIT received while waiting for running jobs to finish: still waiting/,
  );
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(gitlab.jobOf(job.id).status, "running", "a second SIGQUIT does not stop the job");
  runner.signal("SIGTERM");
  const status = await runner.exited();
  // The job was aborted as a first SIGTERM aborts it, not killed as on a third signal.
  assert.equal(status.code, 0, runner.log);
  assert.match(runner.log, /SIGTERM received while waiting for running jobs to finish: aborting/);
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "failed");
  assert.doesNotMatch(state.trace, /executor process ended unexpectedly/);
  assert.doesNotMatch(runner.log, /Shutdown did not finish/);
});

Deno.test("long polling: a job enqueued while the request is held is picked up without waiting for the hold", async () => {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    longPollHoldMs: 30_000,
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  // Let the runner reach GitLab, learn the queue version and be held.
  await gitlab.waitFor(() => gitlab.requestsTo("request_job").length >= 2, {
    what: "a held request",
  });
  const requests = gitlab.requestsTo("request_job").length;
  const job = gitlab.enqueueJob({ script: ["echo picked"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 25_000 });
  assert.equal(state.status, "success", runner.log);
  // The release, then at most three immediate re-asks on a changed queue version (poller):
  // a handful of requests, not one per check_interval.
  assert.ok(
    gitlab.requestsTo("request_job").length <= requests + 4,
    "released by the queue change, not by polling",
  );
});

Deno.test("run-single takes one runner from flags (warning about flags of keys it does not act on), runs --max-builds jobs and exits", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ script: ["echo single"], variables: NO_GIT });
  const dir = await Deno.makeTempDir({ prefix: "runner-single-" });
  const res = await runCli(
    ["run-single", "--url", gitlab.url, "--executor", "shell", "--max-builds", "1", "--proxy-exec"],
    { cwd: dir, env: { CI_SERVER_TOKEN: r.token } },
  );
  assert.equal(res.code, 0, res.stderr);
  // A flag of a key we do not act on is warned about, as in config.toml.
  assert.match(res.stderr, /key runners\.proxy_exec is accepted but not supported/);
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "success");
  assert.match(state.trace, /\nsingle\n/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run-single --runner says which runner flags it does not use: the entry of config.toml replaces them", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-single-" });
  const config = `${dir}/config.toml`;
  await Deno.writeTextFile(config, `concurrent = 1\n${runnerToml(gitlab.url, r.token)}`);
  const name = `e2e-${r.token.slice(-4)}`;
  const res = await runCli(
    [
      "run-single",
      "-c",
      config,
      "-r",
      name,
      "--builds-dir",
      "/srv/builds",
      "--limit",
      "2",
      "--wait-timeout",
      "1",
    ],
    { cwd: dir },
  );
  assert.equal(res.code, 0, res.stderr);
  assert.match(
    res.stderr,
    new RegExp(
      `WARNING: --builds-dir, --limit are not used: --runner takes runner "${name}" from .*config\\.toml as it is written there`,
    ),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a job whose payload is over 1 MiB (a 3 MiB file variable, GitLab's default limit) runs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const size = 3 * 1024 * 1024;
  const job = gitlab.enqueueJob({
    script: ['echo "bundle of $(wc -c < "$CA_BUNDLE") bytes"'],
    variables: [...NO_GIT, { key: "CA_BUNDLE", value: "x".repeat(size), file: true }],
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, new RegExp(`bundle of ${size} bytes`));
});

Deno.test("a job whose payload is too large for an executor process fails with a log that says so; the next job runs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const big = gitlab.enqueueJob({
    script: ["echo never"],
    variables: [...NO_GIT, { key: "HUGE", value: "x".repeat(65 * 1024 * 1024), file: true }],
  });
  const state = await gitlab.waitForJobFinished(big.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", state.trace + runner.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.match(
    state.trace,
    /ERROR: Job failed \(system failure\): the job GitLab sent cannot be run: its start message of \d+ bytes exceeds the 67108864 bytes an executor process takes/,
  );
  const next = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status, "success");
});
