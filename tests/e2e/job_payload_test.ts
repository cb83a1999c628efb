/**
 * End to end: odd `jobs/request` payloads against `runner run` with the shell
 * executor. Each job either runs as GitLab's runner would run it, or fails
 * with a log line naming the payload field; the log and the final status
 * always reach GitLab.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";

const TIMEOUT = { timeoutMs: 60_000 };

function config(url: string, token: string): string {
  return `concurrent = 2\ncheck_interval = 1\n\n${runnerToml(url, token)}`;
}

/** A fake GitLab (traces sent every second) and a shell runner polling it, both ended on dispose. */
async function runnerWorld(options: Parameters<typeof FakeGitLab.start>[0] = {}) {
  const gitlab = await FakeGitLab.start({ ...options, traceUpdateIntervalSeconds: 1 });
  try {
    const r = gitlab.createRunner({ kind: "created" });
    const runner = await startRunner({ config: config(gitlab.url, r.token), env: cleanHome() });
    return {
      gitlab,
      runner,
      async [Symbol.asyncDispose]() {
        await runner[Symbol.asyncDispose]();
        await gitlab[Symbol.asyncDispose]();
      },
    };
  } catch (err) {
    await gitlab[Symbol.asyncDispose]();
    throw err;
  }
}

Deno.test("a job with executor_opts GitLab's runner does not know fails naming them, as it does, before any script runs", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: NO_GIT,
    payload: {
      image: { name: "alpine", executor_opts: { docker: { platform: "", bogus: true } } },
    },
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", state.trace + runner.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.equal(state.exitCode, 3);
  assert.match(
    state.trace,
    /Job failed \(system failure\): Unsupported "image" options \[bogus\] for "docker executor"; supported options are \[platform user\]/,
  );
  assert.doesNotMatch(state.trace, /script ran/);
});

Deno.test("a job carrying secrets, CI steps or inputs this runner does not declare fails naming the field instead of running without them", async () => {
  await using world = await runnerWorld({
    failureReasons: ["script_failure", "runner_system_failure", "runner_configuration_error"],
  });
  const { gitlab, runner } = world;
  const vault = {
    server: { url: "http://vault.test", auth: { name: "jwt", path: "jwt", data: {} } },
    engine: { name: "kv-v2", path: "kv" },
    path: "db",
    field: "password",
  };
  const jobs = [
    {
      payload: { secrets: { DB_PASSWORD: { vault, file: false } } },
      message: /secrets \(DB_PASSWORD\) cannot be resolved: .* \(payload field "secrets"\)/,
    },
    {
      payload: { steps: [], run: JSON.stringify([{ name: "s", script: "echo from run" }]) },
      message: /"run" steps cannot run: .* \(payload field "run"\)/,
    },
    {
      payload: { inputs: [{ key: "env", value: { type: "string", content: "prod" } }] },
      message: /inputs \(env\) cannot be used: .* \(payload field "inputs"\)/,
    },
  ].map((c) => ({
    ...c,
    job: gitlab.enqueueJob({
      script: ['echo "script ran: [$DB_PASSWORD]"'],
      variables: NO_GIT,
      payload: c.payload,
    }),
  }));
  for (const { job, message } of jobs) {
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "failed", state.trace + runner.log);
    assert.equal(state.failureReason, "runner_configuration_error");
    assert.match(state.trace, message);
    assert.doesNotMatch(state.trace, /script ran|from run/);
  }
});

Deno.test("a variable or script line with a NUL byte fails the job naming it, never showing a masked value", async () => {
  await using world = await runnerWorld({
    failureReasons: ["script_failure", "runner_system_failure", "runner_configuration_error"],
  });
  const { gitlab, runner } = world;
  const secret = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: [...NO_GIT, {
      key: "DEPLOY_KEY",
      value: "k3y-part-one\0k3y-part-two",
      masked: true,
    }],
  });
  const line = gitlab.enqueueJob({ script: ["echo fine", "echo script ran\0"], variables: NO_GIT });
  const expected = [
    [secret, 'the value of variable "DEPLOY_KEY" contains a NUL byte'],
    [line, 'line 2 of steps[0] ("script") contains a NUL byte'],
  ] as const;
  for (const [job, message] of expected) {
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "failed", state.trace + runner.log);
    assert.equal(state.failureReason, "runner_configuration_error");
    assert.ok(
      state.trace.includes(`ERROR: Job failed: The job cannot run: ${message}`),
      state.trace,
    );
    assert.doesNotMatch(state.trace, /k3y-part|script ran/);
  }
});

Deno.test("an artifacts or cache when the runner does not know runs the job, warns naming the field and uploads nothing for it, as GitLab's runner does", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ["mkdir -p out && echo x > out/f"],
    variables: NO_GIT,
    artifacts: [
      { name: "later", paths: ["out/"], when: "delayed" },
      { name: "now", paths: ["out/"], when: "always" },
    ],
    cache: [{ key: "k", paths: ["out/"], when: "bogus" }],
    payload: {
      steps: [{ name: "script", script: ["mkdir -p out && echo x > out/f"], when: "manual" }],
    },
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(
    state.trace,
    /WARNING: artifacts\[0\]\.when "delayed" is not on_success, on_failure or always: these artifacts are never uploaded/,
  );
  assert.match(state.trace, /WARNING: cache\[0\]\.when "bogus" .*: this cache is never saved/);
  assert.doesNotMatch(state.trace, /Creating cache/);
  assert.deepEqual(gitlab.artifactsOf(job.id).map((a) => a.fileName), ["now.zip"]);
});

Deno.test("a variable whose key is not a shell name is not exported, and the job log says so naming it", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ['echo "dashed: [$(printenv DEPLOY-ENV)]"'],
    variables: [
      ...NO_GIT,
      { key: "DEPLOY-ENV", value: "prod" },
      { key: "A=B", value: "x" },
      { key: "DEPLOY-ENV", value: "staging" },
    ],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  for (const key of ["DEPLOY-ENV", "A=B"]) {
    const warning = `WARNING: Variable "${key}" is not a shell variable name (letters, digits ` +
      "and _, not starting with a digit): the job's scripts do not export it";
    assert.equal(state.trace.split(warning).length, 2, `one warning for ${key}:\n${state.trace}`);
  }
  assert.match(state.trace, /dashed: \[\]/);
});

Deno.test("a job timeout with a fraction fails the job naming runner_info.timeout instead of running with it", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: NO_GIT,
    payload: { runner_info: { timeout: 1.5 } },
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", state.trace + runner.log);
  assert.equal(state.failureReason, "runner_system_failure");
  assert.match(
    state.trace,
    /Invalid job payload at "runner_info\.timeout": expected an integer, got 1\.5/,
  );
  assert.doesNotMatch(state.trace, /script ran/);
});

Deno.test("a feature flag variable that is not true or false is named in a job-log warning and keeps its default", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: [
      ...NO_GIT,
      { key: "FF_SCRIPT_SECTIONS", value: "enabled" },
      { key: "FF_TIMESTAMPS", value: "no" },
    ],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(
    state.trace,
    /WARNING: Feature flag FF_SCRIPT_SECTIONS="enabled" is not true or false: it keeps its default, false/,
  );
  assert.match(
    state.trace,
    /WARNING: Feature flag FF_TIMESTAMPS="no" is not true or false: it keeps its default, true/,
  );
  // As upstream: the flag stays on, so the lines keep their time stamps.
  assert.match(state.rawTrace, /^\d{4}-\d\d-\d\dT[\d:.]+Z 01O.*script ran$/m);
});

Deno.test("an official job variable this runner does not act on is named in a job-log warning", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const job = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: [...NO_GIT, { key: "CACHE_COMPRESSION_FORMAT", value: "tarzstd" }],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(
    state.trace,
    /WARNING: CACHE_COMPRESSION_FORMAT is not supported by this runner and has no effect: caches are zip archives/,
  );
});

Deno.test("FF_LOG_IMAGES_CONFIGURED_FOR_JOB names the job's image and service images in the runner log, as upstream", async () => {
  await using world = await runnerWorld();
  const { gitlab, runner } = world;
  const image = { name: "alpine:3.20", "executor_opts": { docker: { platform: "linux/arm64" } } };
  const job = gitlab.enqueueJob({
    script: ["echo script ran"],
    variables: [...NO_GIT, { key: "FF_LOG_IMAGES_CONFIGURED_FOR_JOB", value: "true" }],
    services: [{ name: "postgres:16" }],
    payload: { image },
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.doesNotMatch(state.trace, /FF_LOG_IMAGES_CONFIGURED_FOR_JOB.*not supported/);
  const line = (msg: string) => runner.log.split("\n").find((l) => l.includes(msg)) ?? "";
  const jobImage = line("Image configured for job");
  assert.match(jobImage, /image_name[=":]+alpine:3\.20/, runner.log);
  assert.match(jobImage, /image_platform[=":]+linux\/arm64/);
  assert.match(jobImage, new RegExp(`job_id[=":]+${job.id}\\b`));
  assert.match(line("Service image configured for job"), /image_name[=":]+postgres:16/);
  // Off (the default): not a word.
  const quiet = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT, payload: { image } });
  assert.equal((await gitlab.waitForJobFinished(quiet.id, TIMEOUT)).status, "success");
  assert.equal(runner.log.split("Image configured for job").length, 2, runner.log);
});
