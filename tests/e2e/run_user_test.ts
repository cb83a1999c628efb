/**
 * End to end: `runner run --user <name>` and the global `user` key run shell
 * jobs as that user (su, as the official runner), in builds and cache
 * directories the runner hands to that user; a runner that cannot switch user
 * refuses to start. Needs root and useradd; the test creates its own user and
 * removes it afterwards.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runCli, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { denoDir } from "../fixtures/test_env.ts";

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const skipReason = Deno.uid() !== 0
  ? "needs root to create a user and switch to it"
  : !(await succeeds("useradd", ["--help"]))
  ? "useradd is missing"
  : null;
// deno-lint-ignore no-console -- a skipped test says why
if (skipReason) console.warn(`SKIP --user e2e tests: ${skipReason}`);

/** A fresh local user with its home under `root`; removed on dispose. */
async function createUser(root: string): Promise<{ name: string; uid: number } & AsyncDisposable> {
  const name = `rt${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const home = join(root, "home");
  const add = await new Deno.Command("useradd", {
    args: ["--no-create-home", "--home-dir", home, "--shell", "/bin/bash", name],
    stderr: "piped",
  }).output();
  assert.ok(add.success, new TextDecoder().decode(add.stderr));
  const id = await new Deno.Command("id", { args: ["-u", name], stdout: "piped" }).output();
  const uid = Number(new TextDecoder().decode(id.stdout).trim());
  await Deno.mkdir(home);
  await Deno.chown(home, uid, uid);
  return {
    name,
    uid,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("userdel", { args: [name], stderr: "null" }).output();
    },
  };
}

function cleanEnv(home: string): Record<string, string> {
  return {
    HOME: home,
    DENO_DIR: denoDir(),
  };
}

for (const how of ["the global user key", "run --user"] as const) {
  Deno.test({
    name: `${how}: a shell job runs as that user in builds and cache dirs it owns`,
    ignore: skipReason !== null,
    fn: async () => {
      const root = await Deno.makeTempDir({ prefix: "runner-user-" });
      // Other users must be able to reach the builds dir below it.
      await Deno.chmod(root, 0o755);
      try {
        await using user = await createUser(root);
        await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
        const r = gitlab.createRunner({ kind: "created" });
        const builds = join(root, "builds");
        const cache = join(root, "cache");
        const head = `concurrent = 1\ncheck_interval = 1\n` +
          (how === "the global user key" ? `user = "${user.name}"\n` : "");
        await using runner = await startRunner({
          config: `${head}\n${
            runnerToml(gitlab.url, r.token, { builds_dir: builds, cache_dir: cache })
          }`,
          args: how === "run --user" ? ["--user", user.name] : [],
          env: cleanEnv(join(root, "runner-home")),
        });
        const job = gitlab.enqueueJob({
          script: [
            "id",
            'echo "home=$HOME"',
            "touch made-by-job && stat -c 'owner=%U' made-by-job",
            `touch ${cache}/written-by-job`,
          ],
          variables: NO_GIT,
        });
        const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 });
        assert.equal(state.status, "success", state.trace + runner.log.slice(-2000));
        assert.match(state.trace, new RegExp(`uid=${user.uid}\\(${user.name}\\)`));
        assert.match(state.trace, new RegExp(`home=${join(root, "home")}\\n`));
        assert.match(state.trace, new RegExp(`owner=${user.name}\\n`));
        // The job user cannot open the runner's pipe as /dev/stdin: its shell reads the script on.
        assert.doesNotMatch(state.trace, /dev\/stdin/);
        for (const dir of [builds, cache]) assert.equal((await Deno.stat(dir)).uid, user.uid, dir);
      } finally {
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "run --user with a user that does not exist refuses to start, naming the user",
  ignore: skipReason !== null,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-user-" });
    try {
      const config = join(root, "config.toml");
      await Deno.writeTextFile(config, "concurrent = 1\n");
      const missing = `rtmissing${crypto.randomUUID().slice(0, 8)}`;
      const result = await runCli(["run", "--config", config, "--user", missing], {
        cwd: root,
        env: cleanEnv(root),
      });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, new RegExp(`Cannot run jobs as user "${missing}": su exited`));
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "user: a restored cache belongs to the job user, who can change it",
  ignore: skipReason !== null,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-user-" });
    await Deno.chmod(root, 0o755);
    try {
      await using user = await createUser(root);
      await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
      const r = gitlab.createRunner({ kind: "created" });
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\nuser = "${user.name}"\n\n${
          runnerToml(gitlab.url, r.token, {
            builds_dir: join(root, "builds"),
            cache_dir: join(root, "cache"),
          })
        }`,
        env: cleanEnv(join(root, "runner-home")),
      });
      const cache = [{
        key: "deps",
        paths: ["vendor/"],
        policy: "pull-push",
        when: "on_success",
        "fallback_keys": [],
      }];
      const first = gitlab.enqueueJob({
        script: ["mkdir -p vendor", "echo lib > vendor/lib.txt"],
        cache,
        variables: NO_GIT,
      });
      const s1 = await gitlab.waitForJobFinished(first.id, { timeoutMs: 90_000 });
      assert.equal(s1.status, "success", s1.trace + runner.log.slice(-2000));
      const second = gitlab.enqueueJob({
        script: [
          "stat -c 'owner=%U' vendor vendor/lib.txt",
          "echo more >> vendor/lib.txt",
          "cat vendor/lib.txt",
        ],
        cache,
        variables: NO_GIT,
      });
      const s2 = await gitlab.waitForJobFinished(second.id, { timeoutMs: 90_000 });
      assert.equal(s2.status, "success", s2.trace + runner.log.slice(-2000));
      assert.match(s2.trace, /Successfully extracted cache/);
      assert.match(s2.trace, new RegExp(`owner=${user.name}\\nowner=${user.name}\\n`));
      assert.match(s2.trace, /\nlib\nmore\n/);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "run --user: a job cannot read config.toml, the job journal or the runner's environ, and never sees the runner token",
  ignore: skipReason !== null,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-user-" });
    await Deno.chmod(root, 0o755);
    try {
      await using user = await createUser(root);
      await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
      const r = gitlab.createRunner({ kind: "created" });
      const toml = runnerToml(gitlab.url, "$GL_TOKEN", {
        builds_dir: join(root, "builds"),
        cache_dir: join(root, "cache"),
      });
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\n\n${toml}`,
        args: ["--user", user.name],
        env: { ...cleanEnv(join(root, "runner-home")), GL_TOKEN: r.token },
      });
      // The config directory as an operator has it (/etc/gitlab-runner is 0755): only
      // the runner's own file modes stand between the job and its files.
      await Deno.chmod(runner.dir, 0o755);
      const journal = join(runner.dir, ".runner", "journal", "jobs.jsonl");
      const job = gitlab.enqueueJob({
        script: [
          // Prints what it could read, so a leak reaches the trace.
          `try() { if out=$(cat "$1" 2>&1); then echo "READABLE $1: $out"; ` +
          `else echo "refused $1 ($(tr '\\0' ' ' < "\${1%/environ}/cmdline" 2>/dev/null | ` +
          `grep -o 'executor-process\\|/su \\|main.ts run' | head -1)): $out"; fi; }`,
          'try "$CONFIG_PATH"',
          'try "$JOURNAL_PATH"',
          // The poller is a Worker thread of the runner process: its tasks.
          'for f in /proc/$RUNNER_PID/environ /proc/$RUNNER_PID/task/*/environ; do try "$f"; done',
          // Every ancestor of the job up to the runner not run as the job user: su, the
          // executor process, the runner.
          "p=$$; while :; do p=$(awk '/^PPid:/{print $2}' /proc/$p/status); " +
          '[ "$p" -gt 1 ] || break; [ "$(stat -c %u /proc/$p)" = "$(id -u)" ] || try /proc/$p/environ; ' +
          '[ "$p" != "$RUNNER_PID" ] || break; done',
          "echo checks-done",
        ],
        variables: [
          ...NO_GIT,
          { key: "CONFIG_PATH", value: runner.configPath },
          { key: "JOURNAL_PATH", value: journal },
          { key: "RUNNER_PID", value: String(runner.pid) },
        ],
      });
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 });
      assert.equal(state.status, "success", state.trace + runner.log.slice(-2000));
      const trace = state.trace;
      assert.match(trace, /checks-done/);
      // The journal exists while the job runs: refused for its mode, not its absence.
      assert.ok((await Deno.stat(journal)).isFile);
      assert.doesNotMatch(trace, /(^|\n)READABLE /, trace);
      const refused = (path: string) =>
        new RegExp(
          `refused ${path.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")} \\(.*\\): ` +
            `cat: ${path.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: Permission denied`,
        );
      assert.match(trace, refused(runner.configPath), trace);
      assert.match(trace, refused(journal), trace);
      assert.match(trace, refused(`/proc/${runner.pid}/environ`), trace);
      assert.match(trace, new RegExp(`refused /proc/${runner.pid}/task/\\d+/environ`), trace);
      // The executor process among the ancestors, refused too.
      assert.match(
        trace,
        /refused \/proc\/\d+\/environ \(executor-process\): .*Permission denied/,
      );
      // Neither the token nor a masked form of it reached the trace.
      assert.ok(!trace.includes(r.token), "the runner token is in the trace");
      assert.ok(!trace.includes(r.token.slice(-12)), "part of the runner token is in the trace");
      assert.doesNotMatch(trace, /\[MASKED\]/, trace);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "run --user warns at start when config.toml is readable by other users",
  ignore: skipReason !== null,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-user-" });
    try {
      await using user = await createUser(root);
      const config = join(root, "config.toml");
      await Deno.writeTextFile(config, "concurrent = 1\n");
      await Deno.chmod(config, 0o644);
      // Our own config.toml: the last --config wins over the one startRunner writes (0600).
      await using readable = await startRunner({
        config: "concurrent = 1\n",
        args: ["--config", config, "--user", user.name],
        env: cleanEnv(root),
      });
      await readable.waitForLog(/No runners in/, 60_000);
      assert.match(
        readable.log,
        new RegExp(`is readable by other users \\(mode 0644\\): jobs running as "${user.name}"`),
      );
      await Deno.chmod(config, 0o600);
      await using private_ = await startRunner({
        config: "concurrent = 1\n",
        args: ["--config", config, "--user", user.name],
        env: cleanEnv(root),
      });
      await private_.waitForLog(/No runners in/, 60_000);
      assert.doesNotMatch(private_.log, /readable by other users/);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
