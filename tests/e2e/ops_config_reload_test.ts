/**
 * End to end: editing config.toml while `runner run` serves (config-reference
 * §17). Each test edits the file the way an operator or a tool does (in-place
 * write, editor save-by-rename, Kubernetes ConfigMap symlink swap, SIGHUP) and
 * asserts what they would see: the runner log line, jobs taken by the new
 * settings, running jobs untouched, the metrics listener moved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, type RunnerProcess, runnerToml, startRunner } from "../fixtures/runner_process.ts";

function config(body: string, global: Record<string, string | number> = {}): string {
  const head = Object.entries({ concurrent: 1, check_interval: 1, ...global })
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`).join("\n");
  return `${head}\n\n${body}`;
}

/** The short token the log shows for a fake GitLab token (`glrt-t1_` + 20 characters). */
function shortOf(token: string): string {
  return token.replace(/^glrt-t1_/, "").slice(0, 9);
}

/** Waits until the log written after `from` matches; returns the matching line. */
async function waitForLogAfter(
  runner: RunnerProcess,
  from: number,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = runner.log.slice(from).split("\n").find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) {
      throw new Error(`Runner log never matched ${pattern} after offset ${from}:\n${runner.log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Replaces config.toml the way vim and most editors save: write a new file, rename it over. */
async function saveByRename(path: string, text: string): Promise<void> {
  const temp = `${path}.swp`;
  await Deno.writeTextFile(temp, text, { mode: 0o600 });
  await Deno.rename(temp, path);
}

/** Points the symlink `link` at `target` atomically (a new link renamed over the old one). */
async function swapSymlink(link: string, target: string): Promise<void> {
  const temp = `${link}.tmp`;
  await Deno.symlink(target, temp);
  await Deno.rename(temp, link);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function startCount(runner: RunnerProcess): number {
  return runner.log.match(/Runner started/g)?.length ?? 0;
}

Deno.test("a runner added to config.toml takes its jobs without a restart, and the job running during the edit succeeds", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  const marks = await Deno.makeTempDir({ prefix: "runner-reload-" });
  const release = join(marks, "release");
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  const long = gitlab.enqueueJob({
    script: ["echo started", `while [ ! -e ${release} ]; do sleep 0.1; done`, "echo finished"],
    variables: NO_GIT,
    runnerId: a.id,
  });
  await gitlab.waitFor(() => gitlab.jobOf(long.id).trace.includes("started"), {
    what: "the long job to start",
    timeoutMs: 60_000,
  });

  const mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token), { concurrent: 2 }),
  );
  const line = await waitForLogAfter(runner, mark, /Configuration loaded/);
  assert.match(line, /concurrent 1 → 2/);
  assert.match(line, new RegExp(`runner ${shortOf(b.token)} added`));

  const jb = gitlab.enqueueJob({ script: ["echo from B"], variables: NO_GIT, runnerId: b.id });
  const sb = await gitlab.waitForJobFinished(jb.id, { timeoutMs: 60_000 });
  assert.equal(sb.status, "success", sb.trace + runner.log);
  assert.equal(sb.runnerId, b.id);
  assert.match(sb.trace, /from B/);
  assert.equal(gitlab.jobOf(long.id).status, "running", "the first job is still running");

  await Deno.writeTextFile(release, "");
  const sa = await gitlab.waitForJobFinished(long.id, { timeoutMs: 60_000 });
  assert.equal(sa.status, "success", sa.trace + runner.log);
  assert.match(sa.trace, /finished/);
  assert.equal(startCount(runner), 1, "the runner did not restart");
  await Deno.remove(marks, { recursive: true });
});

Deno.test("a broken edit is logged with config.toml:<line> and the key, the old runner keeps taking jobs, the next good edit applies", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const good = config(runnerToml(gitlab.url, a.token));
  await using runner = await startRunner({ config: good });
  await runner.waitForLog(/Runner started/);

  // An invalid value: line and key of the offending entry.
  let mark = runner.log.length;
  const badValue = config(runnerToml(gitlab.url, a.token, { limit: "abc" }));
  const limitLine = badValue.split("\n").findIndex((l) => l.includes("limit =")) + 1;
  await Deno.writeTextFile(runner.configPath, badValue);
  let line = await waitForLogAfter(runner, mark, /Configuration not reloaded/);
  assert.ok(line.includes(`config.toml:${limitLine}`), `line ${limitLine} named: ${line}`);
  assert.match(line, /runners\[0\]\.limit/);
  assert.match(line, /"abc"/);

  // Not TOML at all.
  mark = runner.log.length;
  const badSyntax = good.replace("concurrent = 1", "concurrent = = 2");
  await Deno.writeTextFile(runner.configPath, badSyntax);
  line = await waitForLogAfter(runner, mark, /Configuration not reloaded/);
  assert.match(line, /config\.toml:1\b/);
  assert.match(line, /Invalid TOML/);

  const job = gitlab.enqueueJob({ script: ["echo still here"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.equal(state.runnerId, a.id);

  mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token), { concurrent: 3 }),
  );
  line = await waitForLogAfter(runner, mark, /Configuration loaded/);
  assert.match(line, /concurrent 1 → 3/);
  assert.equal(startCount(runner), 1, "the runner did not restart");
});

Deno.test("a config.toml saved by rename is applied, again after its inode changed", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  await runner.waitForLog(/Runner started/);

  let mark = runner.log.length;
  await saveByRename(runner.configPath, config(runnerToml(gitlab.url, a.token), { concurrent: 2 }));
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /concurrent 1 → 2/);

  mark = runner.log.length;
  await saveByRename(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token), { concurrent: 2 }),
  );
  assert.match(
    await waitForLogAfter(runner, mark, /Configuration loaded/),
    new RegExp(`runner ${shortOf(b.token)} added`),
  );
  const job = gitlab.enqueueJob({ script: ["echo renamed in"], variables: NO_GIT, runnerId: b.id });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
});

Deno.test("a ConfigMap-style symlink swap (config.toml -> ..data/config.toml) is applied, swap after swap", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  // The kubelet's layout: config.toml -> ..data/config.toml, ..data -> ..<timestamp>/.
  const dir = await Deno.makeTempDir({ prefix: "runner-configmap-" });
  const version = async (name: string, text: string) => {
    await Deno.mkdir(join(dir, name));
    await Deno.writeTextFile(join(dir, name, "config.toml"), text);
  };
  await version("..v1", config(runnerToml(gitlab.url, a.token)));
  await Deno.symlink("..v1", join(dir, "..data"));
  await Deno.symlink(join("..data", "config.toml"), join(dir, "config.toml"));
  await using runner = await startRunner({
    config: "",
    args: ["--config", join(dir, "config.toml")],
  });
  await runner.waitForLog(/Runner started/);

  let mark = runner.log.length;
  await version("..v2", config(runnerToml(gitlab.url, a.token), { concurrent: 2 }));
  await swapSymlink(join(dir, "..data"), "..v2");
  await Deno.remove(join(dir, "..v1"), { recursive: true });
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /concurrent 1 → 2/);

  mark = runner.log.length;
  await version(
    "..v3",
    config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token), { concurrent: 2 }),
  );
  await swapSymlink(join(dir, "..data"), "..v3");
  await Deno.remove(join(dir, "..v2"), { recursive: true });
  assert.match(
    await waitForLogAfter(runner, mark, /Configuration loaded/),
    new RegExp(`runner ${shortOf(b.token)} added`),
  );
  const job = gitlab.enqueueJob({
    script: ["echo from configmap"],
    variables: NO_GIT,
    runnerId: b.id,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SIGHUP reloads a change the file watcher cannot see", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  // config/config.toml -> links/current.toml -> v1/config.toml. The watcher
  // watches config/ and v1/; retargeting links/current.toml happens in neither,
  // so no file event reaches it: SIGHUP picks the change up at once (the
  // watcher's metadata poll would only within 3 s).
  const root = await Deno.makeTempDir({ prefix: "runner-sighup-" });
  for (const d of ["config", "links", "v1", "v2"]) await Deno.mkdir(join(root, d));
  await Deno.writeTextFile(
    join(root, "v1", "config.toml"),
    config(runnerToml(gitlab.url, a.token)),
  );
  await Deno.writeTextFile(
    join(root, "v2", "config.toml"),
    config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token), { concurrent: 2 }),
  );
  await Deno.symlink(join(root, "v1", "config.toml"), join(root, "links", "current.toml"));
  const path = join(root, "config", "config.toml");
  await Deno.symlink(join(root, "links", "current.toml"), path);
  await using runner = await startRunner({ config: "", args: ["--config", path] });
  await runner.waitForLog(/Runner started/);

  const mark = runner.log.length;
  await swapSymlink(join(root, "links", "current.toml"), join(root, "v2", "config.toml"));
  runner.signal("SIGHUP");
  const line = await waitForLogAfter(runner, mark, /Configuration loaded/);
  assert.match(line, /concurrent 1 → 2/);
  assert.match(line, new RegExp(`runner ${shortOf(b.token)} added`));
  assert.match(runner.log.slice(mark), /Reloading configuration \(SIGHUP\)/);
  const job = gitlab.enqueueJob({
    script: ["echo after sighup"],
    variables: NO_GIT,
    runnerId: b.id,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.equal(startCount(runner), 1, "the runner did not restart");
  await Deno.remove(root, { recursive: true });
});

Deno.test("log_level changed to debug in config.toml makes debug lines appear", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  const first = gitlab.enqueueJob({ script: ["echo one"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 })).status,
    "success",
  );
  await runner.waitForLog(/Job finished/);
  assert.doesNotMatch(runner.log, /Executor process started/, "no debug lines at info level");

  const mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token), { log_level: "debug" }),
  );
  assert.match(
    await waitForLogAfter(runner, mark, /Configuration loaded/),
    /log_level "info" → "debug"/,
  );
  const second = gitlab.enqueueJob({ script: ["echo two"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 })).status,
    "success",
  );
  await waitForLogAfter(runner, mark, /Executor process started.*pid=\d+/);
});

Deno.test("listen_address changed in config.toml moves the metrics listener", async () => {
  await using gitlab = await FakeGitLab.start();
  const a = gitlab.createRunner({ kind: "created" });
  const before = freePort();
  const after = freePort();
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, a.token), { listen_address: `127.0.0.1:${before}` }),
  });
  await runner.waitForLog(/Runner started/);
  const old = await fetch(`http://127.0.0.1:${before}/metrics`);
  assert.equal(old.status, 200);
  assert.match(await old.text(), /gitlab_runner_concurrent 1/);

  const mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token), { listen_address: `127.0.0.1:${after}` }),
  );
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /listen_address/);
  const moved = await gitlab.waitFor(async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${after}/metrics`);
      const text = await res.text();
      return res.status === 200 ? text : undefined;
    } catch {
      return undefined; // not listening yet
    }
  }, { what: "the metrics listener on the new port" });
  assert.match(moved, /gitlab_runner_version_info/);
  await assert.rejects(
    async () => await (await fetch(`http://127.0.0.1:${before}/metrics`)).text(),
    "the old port refuses connections",
  );
});

Deno.test("an edit that breaks or removes config.toml while the poller drains for new permissions keeps the running config", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const marks = await Deno.makeTempDir({ prefix: "runner-reload-" });
  // The same fake GitLab under another host name: a URL the poller holds no grant for.
  const hosts = [gitlab.url, gitlab.url.replace("127.0.0.1", "localhost")];
  await using runner = await startRunner({
    config: config(runnerToml(hosts[0]!, a.token), { concurrent: 2 }),
  });
  await runner.waitForLog(/Runner started/);

  const drainWhile = async (
    round: number,
    edit: () => Promise<void>,
    reported: RegExp,
  ): Promise<void> => {
    const release = join(marks, `release-${round}`);
    const long = gitlab.enqueueJob({
      script: ["echo started", `while [ ! -e ${release} ]; do sleep 0.1; done`, "echo finished"],
      variables: NO_GIT,
      runnerId: a.id,
    });
    await gitlab.waitFor(() => gitlab.jobOf(long.id).trace.includes("started"), {
      what: "the long job to start",
      timeoutMs: 60_000,
    });
    let mark = runner.log.length;
    const next = hosts[(round + 1) % 2]!;
    await Deno.writeTextFile(
      runner.configPath,
      config(runnerToml(next, a.token), { concurrent: 2 }),
    );
    await waitForLogAfter(runner, mark, /Configuration needs permissions/);
    await edit();
    await Deno.writeTextFile(release, "");
    const done = await gitlab.waitForJobFinished(long.id, { timeoutMs: 60_000 });
    assert.equal(done.status, "success", done.trace + runner.log);
    mark = runner.log.length;
    // The poller restarts with the config it ran, and says why the file is not used.
    await waitForLogAfter(runner, mark, /Runner started/);
    assert.match(
      await waitForLogAfter(runner, mark, /Configuration not reloaded/),
      reported,
    );
    const job = gitlab.enqueueJob({ script: ["echo still here"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(
      runner.log.slice(mark),
      new RegExp(`job_id=${job.id}.*url=${hosts[round % 2]!.replaceAll(".", "\\.")}`),
    );
  };

  await drainWhile(0, async () => {
    await Deno.writeTextFile(
      runner.configPath,
      config(runnerToml(hosts[1]!, a.token, { limit: "x" }), { concurrent: 2 }),
    );
    await waitForLogAfter(runner, 0, /must be an integer, got "x"/);
  }, /config\.toml:\d+: key runners\[0\]\.limit must be an integer, got "x"/);

  // A good edit applies again: it needs the new grant, and no job runs, so at once.
  let mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(hosts[1]!, a.token), { concurrent: 2 }),
  );
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /url/);

  mark = runner.log.length;
  await drainWhile(1, async () => {
    await Deno.remove(runner.configPath);
    await waitForLogAfter(runner, mark, /the file does not exist/);
  }, /Cannot read config file: the file does not exist/);
  await Deno.remove(marks, { recursive: true });
});

Deno.test("SIGTERM while the poller drains for new permissions aborts the running job and stops the runner", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  // The same fake GitLab under another host name: a URL the poller holds no grant for.
  const other = gitlab.url.replace("127.0.0.1", "localhost");
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  const job = gitlab.enqueueJob({ script: ["echo started", "sleep 120"], variables: NO_GIT });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "the job to start",
    timeoutMs: 60_000,
  });
  await Deno.writeTextFile(runner.configPath, config(runnerToml(other, a.token)));
  await runner.waitForLog(/Configuration needs permissions/);
  runner.signal("SIGTERM");
  const timeout = new Promise<null>((r) => setTimeout(r, 30_000, null));
  const status = await Promise.race([runner.exited(), timeout]);
  assert.ok(status !== null, `the runner did not stop within 30 s:\n${runner.log}`);
  assert.equal(status.code, 0, runner.log);
  assert.equal(gitlab.jobOf(job.id).status, "failed");
  assert.equal(startCount(runner), 1, "no poller started after the stop");
});

Deno.test("an edit that needs new permissions during a SIGQUIT drain does not restart the poller: the runner exits once the job ends", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const other = gitlab.url.replace("127.0.0.1", "localhost");
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 4", "echo finished"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "the job to start",
    timeoutMs: 60_000,
  });
  runner.signal("SIGQUIT");
  await runner.waitForLog(/waiting for running jobs to finish/);
  await Deno.writeTextFile(runner.configPath, config(runnerToml(other, a.token)));
  await runner.waitForLog(/Configuration (needs permissions|not applied)/);
  const timeout = new Promise<null>((r) => setTimeout(r, 30_000, null));
  const status = await Promise.race([runner.exited(), timeout]);
  assert.ok(status !== null, `the runner did not stop within 30 s:\n${runner.log}`);
  assert.equal(status.code, 0, runner.log);
  assert.equal(gitlab.jobOf(job.id).status, "success");
  assert.equal(startCount(runner), 1, "no poller started after the stop");
});

Deno.test("an entry whose url is no URL is warned about at start and at a reload, and the other entries keep taking jobs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  const c = gitlab.createRunner({ kind: "created" });
  // A host name without its scheme, as often typed: the runner stopped at start on a TypeError.
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, a.token) + runnerToml("gitlab.example.com", b.token)),
  });
  await runner.waitForLog(/Runner started/);
  assert.match(
    runner.log,
    /config\.toml:\d+: key runners\[1\]\.url "gitlab\.example\.com" is not an absolute http or https URL: runner "e2e-\w+" never asks for jobs/,
  );
  const first = gitlab.enqueueJob({ script: ["echo from A"], variables: NO_GIT, runnerId: a.id });
  assert.equal(
    (await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 })).status,
    "success",
  );

  // A reload adding such an entry: it was dropped without a word, half applied.
  const mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(
      runnerToml(gitlab.url, a.token) + runnerToml("gitlab.example.com", b.token) +
        runnerToml("ftp://gitlab.example.com", c.token),
      { concurrent: 2 },
    ),
  );
  assert.match(
    await waitForLogAfter(runner, mark, /runners\[2\]\.url/),
    /key runners\[2\]\.url "ftp:\/\/gitlab\.example\.com" is not an absolute http or https URL/,
  );
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /concurrent 1 → 2/);
  const second = gitlab.enqueueJob({ script: ["echo from A"], variables: NO_GIT, runnerId: a.id });
  assert.equal(
    (await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 })).status,
    "success",
  );
  assert.equal(startCount(runner), 1, "the runner did not restart");
});

Deno.test("a reload setting a user jobs cannot switch to keeps the running config, and says why", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, a.token)) });
  await runner.waitForLog(/Runner started/);

  // `user` needs su, which this poller was not granted: a new poller checks it at its start.
  let mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token), { user: "no-such-user-here" }),
  );
  assert.match(
    await waitForLogAfter(runner, mark, /Configuration not reloaded/),
    /the previous one keeps running: Cannot run jobs as user "no-such-user-here"/,
  );
  await waitForLogAfter(runner, mark, /Runner started/);
  const job = gitlab.enqueueJob({ script: ["echo still here"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.doesNotMatch(state.trace, /su:/);

  mark = runner.log.length;
  await Deno.writeTextFile(
    runner.configPath,
    config(runnerToml(gitlab.url, a.token), {
      concurrent: 2,
    }),
  );
  assert.match(await waitForLogAfter(runner, mark, /Configuration loaded/), /concurrent 1 → 2/);
});

Deno.test({
  name:
    "a reload changing user to one jobs cannot switch to is refused, and the user before it kept",
  // Jobs may switch user only when the runner is root (checked at start).
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const a = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: config(runnerToml(gitlab.url, a.token), { user: "nobody" }),
    });
    await runner.waitForLog(/Runner started/);

    // This poller holds su already: it checks the new user itself.
    let mark = runner.log.length;
    await Deno.writeTextFile(
      runner.configPath,
      config(runnerToml(gitlab.url, a.token), { user: "no-such-user-here" }),
    );
    assert.match(
      await waitForLogAfter(runner, mark, /Configuration not reloaded/),
      /the previous one keeps running: .*config\.toml: key user: Cannot run jobs as user "no-such-user-here"/,
    );
    mark = runner.log.length;
    await Deno.writeTextFile(
      runner.configPath,
      config(runnerToml(gitlab.url, a.token), { user: "nobody", concurrent: 2 }),
    );
    // Measured from the config that kept running: its user is still "nobody".
    const line = await waitForLogAfter(runner, mark, /Configuration loaded/);
    assert.match(line, /concurrent 1 → 2/);
    assert.doesNotMatch(line, /user/);
    assert.equal(startCount(runner), 1, "the runner did not restart");
  },
});

Deno.test("[session_server] listen_address changed in config.toml: the running job keeps its terminal, then the poller restarts there and the next job's session names it", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const [before, after] = [freePort(), freePort()];
  const text = (port: number) =>
    `concurrent = 1\ncheck_interval = 1\n\n[session_server]\n  listen_address = "127.0.0.1:${port}"\n\n` +
    runnerToml(gitlab.url, r.token);
  await using runner = await startRunner({ config: text(before) });
  const marks = await Deno.makeTempDir({ prefix: "runner-session-reload-" });
  const release = join(marks, "release");
  const first = gitlab.enqueueJob({
    script: [`until [ -e ${release} ]; do sleep 0.2; done`],
    variables: NO_GIT,
  });
  const session = await gitlab.waitFor(() => {
    const s = gitlab.runnerSessionOf(first.id);
    return gitlab.jobOf(first.id).status === "running" ? s : undefined;
  }, { what: "the first job to run" });
  assert.ok(session?.url.startsWith(`https://127.0.0.1:${before}/session/`), session?.url);

  const mark = runner.log.length;
  await Deno.writeTextFile(runner.configPath, text(after));
  await waitForLogAfter(runner, mark, /needs permissions this poller does not hold/);
  // The running job's session still answers on the old address (405: not a websocket).
  const client = Deno.createHttpClient({ caCerts: [session!.certificate] });
  try {
    const res = await fetch(`${session!.url}/exec`, {
      client,
      headers: { Authorization: session!.authorization },
    });
    await res.body?.cancel();
    assert.equal(res.status, 405);
  } finally {
    client.close();
  }

  await Deno.writeTextFile(release, "");
  assert.equal(
    (await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 })).status,
    "success",
  );
  await waitForLogAfter(
    runner,
    mark,
    new RegExp(`Session server listening +address=127\\.0\\.0\\.1:${after}`),
  );
  const second = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 })).status,
    "success",
  );
  assert.ok(
    gitlab.runnerSessionOf(second.id)?.url.startsWith(`https://127.0.0.1:${after}/session/`),
    gitlab.runnerSessionOf(second.id)?.url,
  );
  await assert.rejects(
    fetch(`https://127.0.0.1:${before}/`),
    "the old address is closed",
  );
  await Deno.remove(marks, { recursive: true });
});

Deno.test("a reload setting a [session_server] address the runner cannot listen on keeps the running config, naming the key", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const port = freePort();
  const text = (address: string) =>
    `concurrent = 1\ncheck_interval = 1\n\n[session_server]\n  listen_address = "${address}"\n\n` +
    runnerToml(gitlab.url, r.token);
  await using runner = await startRunner({ config: text(`127.0.0.1:${port}`) });
  await runner.waitForLog(/Runner started/);
  const mark = runner.log.length;
  await Deno.writeTextFile(runner.configPath, text("127.0.0.1"));
  const line = await waitForLogAfter(runner, mark, /Configuration not reloaded/);
  assert.match(line, /key session_server\.listen_address = "127\.0\.0\.1" cannot be used/);
  const job = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 })).status, "success");
  assert.ok(gitlab.runnerSessionOf(job.id)?.url.startsWith(`https://127.0.0.1:${port}/`));
});
