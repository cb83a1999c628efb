/**
 * The poller runs scoped, from source and compiled alike: `runner run` started
 * with the compiled binary's global grants (COMPILED_GRANT_FLAGS, as the README
 * and docs/install.md start it) runs the poller in a Worker holding only its
 * set (poller/poller_permissions.ts): the config directory, builds/cache
 * dirs, its temp dir, the GitLab hosts, the metrics listener and its own
 * executable. The cells are probed with the same worker code; end to end, a
 * config reload that adds a GitLab URL still gets that GitLab's jobs run.
 * Started as `deno task runner` does (lazy dynamic imports), the poller loads
 * what an idle poller does not need at first use, from the runner's `src/`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultConfig, defaultRunnerConfig } from "../../src/config/default_config.ts";
import { COMPILED_GRANT_FLAGS } from "../../src/poller/compiled_grants.ts";
import { pollerPermissions } from "../../src/poller/poller_permissions.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerTaskFlags, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { denoDir } from "../fixtures/test_env.ts";

const SCOPED_PROBE = fileURLToPath(
  new URL("../fixtures/scoped_permission_probe.ts", import.meta.url),
);

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("scoped poller: config dir, GitLab, metrics and session listeners and its own executable only", async () => {
  const root = await Deno.makeTempDir({ prefix: "runner-poller-perms-" });
  const configDir = join(root, "etc");
  const tempDir = join(root, "tmp");
  await Deno.mkdir(configDir);
  await Deno.mkdir(tempDir);
  const configPath = join(configDir, "config.toml");
  await Deno.writeTextFile(configPath, "concurrent = 1\n");
  const outside = join(root, "outside.txt");
  await Deno.writeTextFile(outside, "not the poller's");
  const gitlab = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const gitlabPort = (gitlab.addr as Deno.NetAddr).port;
  const otherPort = (other.addr as Deno.NetAddr).port;
  const metricsPort = freePort();
  const sessionPort = freePort();
  const config = defaultConfig();
  config.sessionServer.listenAddress = `127.0.0.1:${sessionPort}`;
  const r = defaultRunnerConfig("shell");
  r.url = `http://127.0.0.1:${gitlabPort}`;
  r.buildsDir = join(root, "builds");
  config.runners = [r];
  const perms = pollerPermissions({
    config,
    configPath,
    configTarget: null,
    cwd: root,
    tempDir,
    execPath: Deno.execPath(),
    listenAddress: `127.0.0.1:${metricsPort}`,
    user: "",
    sourceDir: null,
  });
  const actions = [
    `read:${configPath}`,
    `write:${join(configDir, ".runner_system_id")}`,
    `write:${join(root, "builds", "x")}`,
    `read:${outside}`,
    `write:${outside}`,
    `read:/etc/passwd`,
    `net:127.0.0.1:${gitlabPort}`,
    `net:127.0.0.1:${otherPort}`,
    `listen:127.0.0.1:${metricsPort}`,
    `listen:127.0.0.1:${sessionPort}`,
    `listen:127.0.0.1:${freePort()}`,
    `run:${Deno.execPath()}`,
    `run:kill`,
    `run:bash`,
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...COMPILED_GRANT_FLAGS,
      SCOPED_PROBE,
      "--poller",
      JSON.stringify(perms),
      ...actions,
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", PATH: Deno.env.get("PATH") ?? "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  gitlab.close();
  other.close();
  await Deno.remove(root, { recursive: true });
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(text, new TextDecoder().decode(out.stderr));
  const res = JSON.parse(text).worker as Record<string, string>;
  assert.equal(res[`read:${configPath}`], "allowed");
  assert.equal(res[`write:${join(configDir, ".runner_system_id")}`], "allowed");
  assert.notEqual(res[`write:${join(root, "builds", "x")}`], "denied");
  assert.equal(res[`read:${outside}`], "denied");
  assert.equal(res[`write:${outside}`], "denied");
  assert.equal(res[`read:/etc/passwd`], "denied");
  assert.equal(res[`net:127.0.0.1:${gitlabPort}`], "allowed");
  assert.equal(res[`net:127.0.0.1:${otherPort}`], "denied");
  assert.equal(res[`listen:127.0.0.1:${metricsPort}`], "allowed");
  assert.equal(res[`listen:127.0.0.1:${sessionPort}`], "allowed", "the web terminal's server");
  assert.equal(
    Object.entries(res).filter(([k, v]) => k.startsWith("listen:") && v === "denied").length,
    1,
  );
  assert.notEqual(res[`run:${Deno.execPath()}`], "denied");
  assert.notEqual(res[`run:kill`], "denied", "kill(1), for the groups of a dead executor process");
  assert.equal(res[`run:bash`], "denied");
});

for (
  const [how, grants] of [
    ["compiled grants", COMPILED_GRANT_FLAGS],
    ["as `deno task runner` (lazy dynamic imports)", runnerTaskFlags()],
  ] as const
) {
  Deno.test({
    name:
      `scoped poller, ${how}: a config reload that adds a GitLab URL gets that GitLab's jobs run`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using first = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
      await using second = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
      const a = first.createRunner();
      const b = second.createRunner();
      const head = "concurrent = 2\ncheck_interval = 1\n";
      // Login shells get an empty HOME (root's profile is slow); deno keeps its module cache.
      const home = await Deno.makeTempDir({ prefix: "runner-home-" });
      await using runner = await startRunner({
        config: head + runnerToml(first.url, a.token),
        grants,
        env: { HOME: home, DENO_DIR: denoDir() },
      });
      const finished = (gitlab: FakeGitLab, id: number, what: string) =>
        gitlab.waitForJobFinished(id, { timeoutMs: 120_000 }).catch((err) => {
          throw new Error(`${what}: ${(err as Error).message}\n${runner.log}`);
        });
      const one = first.enqueueJob({ script: ["echo from the first"], variables: NO_GIT });
      const state1 = await finished(first, one.id, "first job");
      assert.equal(state1.status, "success", state1.trace + runner.log);

      await Deno.writeTextFile(
        runner.configPath,
        head + runnerToml(first.url, a.token) + runnerToml(second.url, b.token),
      );
      await runner.waitForLog(/permissions this poller does not hold/, 60_000);
      const two = second.enqueueJob({ script: ["echo from the second"], variables: NO_GIT });
      const state2 = await finished(second, two.id, "job of the added GitLab");
      assert.equal(state2.status, "success", state2.trace + runner.log);
      assert.match(state2.trace, /from the second/);
      // And the first GitLab still gets its jobs run by the new poller.
      const three = first.enqueueJob({ script: ["echo again"], variables: NO_GIT });
      const state3 = await finished(first, three.id, "first GitLab after the restart");
      assert.equal(state3.status, "success", state3.trace + runner.log);
      await Deno.remove(home, { recursive: true });
    },
  });
}

Deno.test({
  name:
    "scoped poller started as `deno task runner` (lazy dynamic imports) loads the trace pipeline and metrics at first use: a job runs and /metrics answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const flags = runnerTaskFlags();
    assert.ok(flags.includes("--unstable-lazy-dynamic-imports"), flags.join(" "));
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner();
    const port = freePort();
    const home = await Deno.makeTempDir({ prefix: "runner-home-" });
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\nlisten_address = "127.0.0.1:${port}"\n` +
        runnerToml(gitlab.url, r.token),
      grants: flags,
      env: { HOME: home, DENO_DIR: denoDir() },
    });
    const job = gitlab.enqueueJob({ script: ["echo lazily loaded"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 }).catch((err) => {
      throw new Error(`${(err as Error).message}\n${runner.log}`);
    });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /lazily loaded/);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(text, /gitlab_runner_jobs_total\{[^}]*\} 1/);
    assert.doesNotMatch(runner.log, /Requires read access/);
    await Deno.remove(home, { recursive: true });
  },
});
