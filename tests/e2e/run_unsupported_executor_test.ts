/**
 * End to end: a `[[runners]]` entry naming an executor this runner does not
 * have (kubernetes, docker-autoscaler, ...) is reported at start and by
 * `runner lint`, and never asks GitLab for jobs, while the other entries work.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runCli, runnerToml, startRunner } from "../fixtures/runner_process.ts";

Deno.test("an entry with the kubernetes executor is reported and never requests a job; the shell entry runs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const k8s = gitlab.createRunner({ kind: "created" });
  const shell = gitlab.createRunner({ kind: "created" });
  const body = runnerToml(gitlab.url, k8s.token, { executor: "kubernetes" }) +
    runnerToml(gitlab.url, shell.token);
  await using runner = await startRunner({
    config: `concurrent = 2\ncheck_interval = 1\n\n${body}`,
  });
  await runner.waitForLog(/runners\[0\]\.executor names "kubernetes"/);
  assert.match(runner.log, /never asks for jobs/);
  const job = gitlab.enqueueJob({ script: ["echo ok"], variables: NO_GIT, runnerId: shell.id });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", runner.log);
  // Two more check intervals: the kubernetes entry had every chance to ask.
  await new Promise((r) => setTimeout(r, 2_500));
  const tokens = gitlab.requestsTo("request_job").map((r) =>
    (r.json as { token?: string } | undefined)?.token
  );
  assert.ok(tokens.includes(shell.token), "the shell entry asked for jobs");
  assert.ok(!tokens.includes(k8s.token), "no job request was made with the kubernetes token");
});

Deno.test("lint fails on entries whose executor this runner lacks, naming each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-lint-executor-" });
  try {
    const path = join(dir, "config.toml");
    const body = ["docker-autoscaler", "instance", "docker+machine", "virtualbox", "parallels"]
      .map((executor, i) => runnerToml("https://gitlab.example.com", `glrt-tok${i}`, { executor }))
      .join("");
    await Deno.writeTextFile(path, `concurrent = 1\n\n${body}`);
    const res = await runCli(["lint", "-c", path]);
    assert.equal(res.code, 1, res.stderr);
    for (const name of ["docker-autoscaler", "instance", "docker\\+machine", "virtualbox"]) {
      assert.match(res.stderr, new RegExp(`ERROR: .*executor names "${name}"`));
    }
    assert.match(res.stderr, /:\d+: key runners\[4\]\.executor names "parallels"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lint fails on a custom entry without run_exec, naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-lint-custom-" });
  try {
    const path = join(dir, "config.toml");
    const body = runnerToml("https://gitlab.example.com", "glrt-tok0", {
      executor: "custom",
      builds_dir: "/b",
      cache_dir: "/c",
    });
    await Deno.writeTextFile(path, `concurrent = 1\n\n${body}`);
    const res = await runCli(["lint", "-c", path]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /ERROR: .*:\d+: key runners\[0\]\.custom\.run_exec is not set/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("register writes a --docker-pull-policy no job can use with a warning, and lint fails on it", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-lint-values-" });
  try {
    const path = join(dir, "config.toml");
    const reg = await runCli([
      "register",
      "--non-interactive",
      "--url",
      gitlab.url,
      "--token",
      fake.token,
      "--executor",
      "docker",
      "--docker-image",
      "alpine:3.20",
      "--docker-pull-policy",
      "bogus",
      "--config",
      path,
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stderr, /key runners\[0\]\.docker\.pull_policy\[0\] = "bogus" is not valid/);
    const res = await runCli(["lint", "-c", path]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(
      res.stderr,
      /ERROR: .*config\.toml:\d+: key runners\[0\]\.docker\.pull_policy\[0\] = "bogus" is not valid \(expected always, if-not-present or never\): every job of runner ".*" fails/,
    );
    assert.doesNotMatch(res.stdout, /config is valid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("register writes a --shell the shell executor cannot run with a warning, and lint fails on it", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-lint-shell-" });
  try {
    const path = join(dir, "config.toml");
    const reg = await runCli([
      "register",
      "--non-interactive",
      "--url",
      gitlab.url,
      "--token",
      fake.token,
      "--executor",
      "shell",
      "--shell",
      "fish",
      "--config",
      path,
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(
      reg.stderr,
      /key runners\[0\]\.shell = "fish" is not supported by the shell executor/,
    );
    const res = await runCli(["lint", "-c", path]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(
      res.stderr,
      /ERROR: .*config\.toml:\d+: key runners\[0\]\.shell = "fish" is not supported by the shell executor: every job of runner ".*" fails \(use "bash" or "sh"\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lint names every invalid value of the file, each with its line, not only the first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-lint-all-" });
  try {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(
      path,
      `concurrent = -2\nlog_level = "verbose"\n[[runners]]\nexecutor = "shell"\nlimit = "x"\n`,
    );
    const res = await runCli(["lint", "-c", path]);
    assert.equal(res.code, 1, res.stderr);
    const errors = res.stderr.split("\n").filter((l) => l.startsWith("ERROR: "));
    assert.deepEqual(errors, [
      `ERROR: ${path}:1: key concurrent must be 1 or more, got -2`,
      `ERROR: ${path}:2: key log_level must be one of debug, info, warn, warning, error, fatal, panic, got "verbose"`,
      `ERROR: ${path}:5: key runners[0].limit must be an integer, got "x"`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("global labels are combined with the runner's and sent to GitLab with every job request", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const body = `labels = { team = "ci", zone = "eu" }\nconcurrent = 1\ncheck_interval = 1\n\n` +
    runnerToml(gitlab.url, r.token) + `  [runners.labels]\n    zone = "us"\n`;
  await using runner = await startRunner({ config: body });
  await gitlab.waitFor(() => gitlab.requestsTo("request_job").length >= 1, {
    what: "a job request",
    timeoutMs: 60_000,
  });
  const info = (gitlab.requestsTo("request_job")[0]!.json as { info: { labels?: unknown } }).info;
  assert.deepEqual(info.labels, { team: "ci", zone: "us" }, runner.log);
  assert.doesNotMatch(runner.log, /labels/, "no warning about labels");
});
