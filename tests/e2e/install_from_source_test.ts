/**
 * The README's set-up command, then a user's first `runner` command, on a
 * machine whose Deno cache is empty: each prints only what it is asked for.
 * ssh2, cpu-features and protobufjs declare install scripts that the runner
 * does not need (ssh2 falls back to its JavaScript crypto, cpu-features is an
 * optional tuning aid of ssh2, protobufjs's script is a version check), so
 * deno.json denies them rather than leaving Deno to print a boxed warning
 * about ignored build scripts on the first run.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** The README line that starts with `start` (of its "Set up and run" block), as words. */
async function readmeCommand(start: string): Promise<string[]> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const line = readme.split("\n").find((l) => l.startsWith(start));
  assert.ok(line, `README.md has a \`${start.trim()}\` line`);
  return line.trim().split(/\s+/).slice(1);
}

function passThrough(names: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

async function npmRegistryReason(): Promise<string | null> {
  try {
    const res = await fetch("https://registry.npmjs.org/smol-toml", {
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    return res.ok ? null : `the npm registry answered ${res.status}`;
  } catch (err) {
    return `the npm registry is unreachable: ${(err as Error).message}`;
  }
}

const skip = await npmRegistryReason();
// deno-lint-ignore no-console -- a skipped test says why
if (skip) console.warn(`SKIP install-from-source test: ${skip}`);

Deno.test({
  name:
    "README set-up on an empty Deno cache, `runner --version` prints only the version, the README's register and run lines serve a job",
  ignore: skip !== null,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "runner-install-home-" });
    try {
      const env = {
        HOME: home,
        DENO_DIR: join(home, "deno-cache"),
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
        PATH: `${dirname(Deno.execPath())}:/usr/bin:/bin`,
        // How this machine reaches the npm registry (a proxy and its CA), as a user's shell has it.
        ...passThrough([
          "SSL_CERT_FILE",
          "NODE_EXTRA_CA_CERTS",
          "SSL_CERT_DIR",
          "DENO_CERT",
          "DENO_TLS_CA_STORE",
          "HTTPS_PROXY",
          "https_proxy",
          "HTTP_PROXY",
          "http_proxy",
          "NO_PROXY",
          "no_proxy",
          "NPM_CONFIG_REGISTRY",
        ]),
      };
      const dec = new TextDecoder();
      // deno.json itself settles the build scripts: a plain, non-quiet cache
      // of the entry point has nothing to warn about.
      const cache = await new Deno.Command(Deno.execPath(), {
        args: ["cache", "--config", "deno.json", "src/cli/main.ts"],
        cwd: ROOT,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const cacheOut = dec.decode(cache.stdout) + dec.decode(cache.stderr);
      assert.equal(cache.code, 0, cacheOut);
      assert.doesNotMatch(cacheOut, /Ignored build scripts|Warning/, cacheOut);

      const install = await new Deno.Command(Deno.execPath(), {
        args: await readmeCommand("deno install "),
        cwd: ROOT,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const installOut = dec.decode(install.stdout) + dec.decode(install.stderr);
      assert.equal(install.code, 0, installOut);
      assert.doesNotMatch(installOut, /Ignored build scripts|Warning/, installOut);

      const first = await new Deno.Command(join(home, ".deno/bin/runner"), {
        args: ["--version"],
        cwd: home,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(first.code, 0, dec.decode(first.stderr));
      assert.equal(dec.decode(first.stderr), "");
      assert.match(dec.decode(first.stdout), /^Version:\s+\S+\nGit revision:/);

      // The README's register and run lines, as written, with a GitLab of our own.
      await using gitlab = await FakeGitLab.start();
      const token = gitlab.createRunner({ kind: "created" }).token;
      const register = (await readmeCommand("runner register ")).map((word, i, words) =>
        words[i - 1] === "--url" ? gitlab.url : words[i - 1] === "--token" ? token : word
      );
      const runner = join(home, ".deno/bin/runner");
      const registered = await new Deno.Command(runner, {
        args: register,
        cwd: home,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const registerOut = dec.decode(registered.stdout) + dec.decode(registered.stderr);
      assert.equal(registered.code, 0, registerOut);
      const serving = new Deno.Command(runner, {
        args: await readmeCommand("runner run "),
        cwd: home,
        env,
        clearEnv: true,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      try {
        const job = gitlab.enqueueJob({
          script: ["echo served-by-the-readme-runner"],
          variables: [{ key: "GIT_STRATEGY", value: "none" }],
        });
        const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
        assert.equal(state.status, "success", state.trace);
        assert.match(state.trace, /served-by-the-readme-runner/);
      } finally {
        serving.kill("SIGTERM");
        await serving.output();
      }
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
