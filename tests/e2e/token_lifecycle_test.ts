/**
 * End to end: `runner reset-token` with the official flags, and automatic token
 * rotation while `runner run` serves (spec §1.5), against the fake GitLab.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import {
  NO_GIT,
  runCli,
  type RunnerProcess,
  runnerToml,
  startRunner,
} from "../fixtures/runner_process.ts";
import { denoDir } from "../fixtures/test_env.ts";

Deno.test("reset-token --name and --url/--id with --pat replace the token in config.toml, mode 0600", async () => {
  await using gitlab = await FakeGitLab.start({ tokenExpiresInSeconds: 3600 });
  const a = gitlab.createRunner();
  const b = gitlab.createRunner();
  const dir = await Deno.makeTempDir({ prefix: "runner-reset-token-" });
  try {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(
      path,
      `concurrent = 1\n\n${runnerToml(gitlab.url, a.token, { id: a.id })}${
        runnerToml(gitlab.url, b.token, { id: b.id })
      }`,
    );
    const byName = await runCli(["reset-token", "-c", path, "-n", `e2e-${a.token.slice(-4)}`]);
    assert.equal(byName.code, 0, byName.stderr);
    const newA = gitlab.runnerOf(a.id)!.token;
    assert.notEqual(newA, a.token);
    let text = await Deno.readTextFile(path);
    assert.match(text, new RegExp(`token = "${newA}"`));
    assert.match(text, /token_expires_at = \d{4}-/);
    assert.ok(text.includes(`token = "${b.token}"`), "the other runner keeps its token");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);

    const byPat = await runCli([
      "reset-token",
      "-c",
      path,
      "-u",
      gitlab.url,
      "-i",
      String(b.id),
      "--pat",
      "glpat-fake-admin",
    ]);
    assert.equal(byPat.code, 0, byPat.stderr);
    const viaPat = gitlab.requestsTo("reset_token").at(-1)!;
    assert.equal(viaPat.url.pathname, `/api/v4/runners/${b.id}/reset_authentication_token`);
    assert.equal(viaPat.headers.get("PRIVATE-TOKEN"), "glpat-fake-admin");
    text = await Deno.readTextFile(path);
    assert.ok(text.includes(`token = "${gitlab.runnerOf(b.id)!.token}"`));

    const none = await runCli(["reset-token", "-c", path, "-n", "nobody"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no runner named "nobody"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run resets an expiring token at 75% of its lifetime, saves it and keeps every job exactly once", async () => {
  const lifetime = 40;
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    tokenExpiresInSeconds: lifetime,
  });
  const r = gitlab.createRunner();
  const obtainedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const marks = await Deno.makeTempDir({ prefix: "runner-rotation-" });
  const release = join(marks, "release");
  const toml = `concurrent = 1\ncheck_interval = 1\n\n` +
    runnerToml(gitlab.url, r.token, { id: r.id }) +
    `  token_obtained_at = ${obtainedAt}\n  token_expires_at = ${r.tokenExpiresAt}\n`;
  // A clean HOME: the shell executor's login shell must not run the host's profile.
  await using runner = await startRunner({
    config: toml,
    env: { HOME: marks, DENO_DIR: denoDir() },
  });
  // A job that is running while the token changes.
  const during = gitlab.enqueueJob({
    script: ["echo started", `while [ ! -e ${release} ]; do sleep 0.2; done`, "echo released"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.requestsTo("reset_token").length >= 1, {
    what: "the automatic token reset",
    timeoutMs: 120_000,
  }).catch((e) => {
    throw new Error(`${e}\n${runner.log}`);
  });
  const reset = gitlab.requestsTo("reset_token")[0]!;
  const dueMs = Date.parse(obtainedAt) + 0.75 * lifetime * 1000;
  assert.ok(reset.receivedAt >= 0);
  assert.ok(Date.now() >= dueMs - 1000, "not reset before 75% of the lifetime");
  const newToken = gitlab.runnerOf(r.id)!.token;
  assert.notEqual(newToken, r.token);
  await gitlab.waitFor(
    async () => (await Deno.readTextFile(runner.configPath)).includes(newToken),
    {
      what: "config.toml to hold the new token",
    },
  );
  assert.equal((await Deno.stat(runner.configPath)).mode! & 0o777, 0o600);
  await Deno.writeTextFile(release, "");
  const first = await gitlab.waitForJobFinished(during.id, { timeoutMs: 120_000 }).catch((e) => {
    throw new Error(`${e}\n${runner.log}\n${gitlab.traceOf(during.id)}`);
  });
  assert.equal(first.status, "success", runner.log);
  const after = gitlab.enqueueJob({ script: ["echo after rotation"], variables: NO_GIT });
  const second = await gitlab.waitForJobFinished(after.id, { timeoutMs: 120_000 });
  assert.equal(second.status, "success", runner.log);
  // Each job was taken once: one job request answered 201 per job.
  const taken = gitlab.requestsTo("request_job").filter((q) => q.status === 201);
  assert.equal(taken.length, 2, "no job dropped or taken twice");
  const newTokenRequests = gitlab.requestsTo("request_job").filter((q) =>
    (q.json as { token?: string }).token === newToken
  );
  assert.ok(newTokenRequests.length >= 1, "jobs are requested with the new token");
  assert.match(runner.log, /Runner authentication token reset/);
  await Deno.remove(marks, { recursive: true });
});

Deno.test("FF_DISABLE_AUTOMATIC_TOKEN_ROTATION in [runners.feature_flags] keeps a due token, says so once, and is no load warning", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner();
  const home = await Deno.makeTempDir({ prefix: "runner-rotation-" });
  const toml = `concurrent = 1\ncheck_interval = 1\n\n` +
    runnerToml(gitlab.url, r.token, { id: r.id }) +
    `  token_obtained_at = 2019-01-01T00:00:00Z\n  token_expires_at = 2019-01-02T00:00:00Z\n` +
    `  [runners.feature_flags]\n    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true\n`;
  try {
    await using runner = await startRunner({
      config: toml,
      env: { HOME: home, DENO_DIR: denoDir() },
    });
    const job = gitlab.enqueueJob({ script: ["echo still serving"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.equal(gitlab.requestsTo("reset_token").length, 0, runner.log);
    assert.match(runner.log, /Automatic runner token rotation is disabled/);
    assert.doesNotMatch(runner.log, /FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true is not supported/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a reset that answers a token already past its expiry (host clock ahead of GitLab's) is not repeated at once", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner();
  // GitLab's clock a few years behind this host's: the new token expired before it arrived.
  gitlab.injectFault({
    endpoint: "reset_token",
    status: 201,
    body: JSON.stringify({ token: r.token, token_expires_at: "2020-01-01T00:00:00Z" }),
  });
  const home = await Deno.makeTempDir({ prefix: "runner-rotation-" });
  const toml = `concurrent = 1\ncheck_interval = 1\n\n` +
    runnerToml(gitlab.url, r.token, { id: r.id }) +
    `  token_obtained_at = 2019-01-01T00:00:00Z\n  token_expires_at = 2019-01-02T00:00:00Z\n`;
  await using runner = await startRunner({
    config: toml,
    env: { HOME: home, DENO_DIR: denoDir() },
  });
  await gitlab.waitFor(() => gitlab.requestsTo("reset_token").length >= 1, {
    what: "the automatic token reset",
  });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const resets = gitlab.requestsTo("reset_token").length;
  assert.equal(resets, 1, `${resets} token resets in 3 s`);
  assert.match(runner.log, /already due for reset; the next reset waits a minute/);
  const job = gitlab.enqueueJob({ script: ["echo still serving"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status, "success");
  await Deno.remove(home, { recursive: true });
});

Deno.test("SIGTERM while a token reset hangs aborts and reports the running job at once; the reset is still saved before the exit", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner();
  const fresh = "glrt-t1_fresh-token-at-shutdown";
  // GitLab slow to answer the reset: it arrives 15 s after the request.
  gitlab.injectFault({
    endpoint: "reset_token",
    status: 201,
    delayMs: 15_000,
    body: JSON.stringify({ token: fresh }),
  });
  const home = await Deno.makeTempDir({ prefix: "runner-rotation-" });
  const toml = `concurrent = 1\ncheck_interval = 1\nshutdown_timeout = 5\n\n` +
    runnerToml(gitlab.url, r.token, { id: r.id }) +
    `  token_obtained_at = 2019-01-01T00:00:00Z\n  token_expires_at = 2019-01-02T00:00:00Z\n`;
  try {
    await using runner = await startRunner({
      config: toml,
      env: { HOME: home, DENO_DIR: denoDir() },
    });
    const job = gitlab.enqueueJob({ script: ["echo started", "sleep 120"], variables: NO_GIT });
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: "the job to start",
      timeoutMs: 60_000,
    });
    await gitlab.waitFor(() => gitlab.requestsTo("reset_token").length >= 1, {
      what: "the automatic token reset",
    });
    runner.signal("SIGTERM");
    // The job is aborted within shutdown_timeout, not after the reset's answer.
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 8_000 }).catch((e) => {
      throw new Error(`${e}\n${runner.log}`);
    });
    assert.equal(state.status, "failed");
    const status = await runner.exited();
    assert.equal(status.code, 0, runner.log);
    assert.match(await Deno.readTextFile(runner.configPath), new RegExp(fresh));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/**
 * A runner whose token expired long ago, with GitLab answering its reset with
 * `answer` (beside the new token): resolves once config.toml holds that token.
 */
async function resetWith(
  answer: Record<string, unknown>,
  check: (runner: RunnerProcess) => Promise<void>,
): Promise<void> {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner();
  const fresh = "glrt-t1_fresh-token-after-reset";
  gitlab.injectFault({
    endpoint: "reset_token",
    status: 201,
    body: JSON.stringify({ token: fresh, ...answer }),
  });
  const home = await Deno.makeTempDir({ prefix: "runner-rotation-" });
  const toml = `concurrent = 1\ncheck_interval = 1\n\n` +
    runnerToml(gitlab.url, r.token, { id: r.id }) +
    `  token_obtained_at = 2019-01-01T00:00:00Z\n  token_expires_at = 2019-01-02T00:00:00Z\n`;
  try {
    await using runner = await startRunner({
      config: toml,
      env: { HOME: home, DENO_DIR: denoDir() },
    });
    await gitlab.waitFor(
      async () => (await Deno.readTextFile(runner.configPath)).includes(fresh),
      { what: "config.toml to hold the new token" },
    ).catch((e) => {
      throw new Error(`${e}\n${runner.log}`);
    });
    assert.doesNotMatch(runner.log, /Cannot save the rotated token/);
    await check(runner);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("a reset to a token that does not expire (no token_expires_at) saves the new token to config.toml", async () => {
  await resetWith({}, async (runner) => {
    assert.match(
      await Deno.readTextFile(runner.configPath),
      /token_expires_at = 0001-01-01T00:00:00Z/,
    );
  });
});

Deno.test("a reset whose token_expires_at is not a date still saves the new token to config.toml", async () => {
  await resetWith({ token_expires_at: "next tuesday" }, (runner) => {
    assert.match(runner.log, /token_expires_at that is not a date.*next tuesday/);
    return Promise.resolve();
  });
});
