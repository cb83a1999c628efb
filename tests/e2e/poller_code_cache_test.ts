/**
 * The runner started as `deno task runner` does uses no V8 code cache
 * (poller/v8_flags.ts, RUNNER_NO_CODE_CACHE_FLAG): Deno's cache database in
 * DENO_DIR is neither read nor created by it, which an idle runner's RSS shows
 * (scripts/bench/job_latency.ts figure (c)). Executor processes start per job
 * and keep the cache. A DENO_DIR of the test's own, sharing the npm packages of
 * the usual one, tells whose process made the database.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerTaskFlags, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { denoDir } from "../fixtures/test_env.ts";

const CODE_CACHE = "v8_code_cache_v2";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test({
  name:
    "the runner started as `deno task runner` does creates no V8 code cache while idle; its executor processes do",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-code-cache-" });
    try {
      const home = join(root, "home");
      const cache = join(root, "deno");
      await Deno.mkdir(home);
      await Deno.mkdir(cache);
      await Deno.symlink(join(denoDir(), "npm"), join(cache, "npm"));
      await using gitlab = await FakeGitLab.start({ longPollHoldMs: 60_000 });
      const r = gitlab.createRunner();
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\n${runnerToml(gitlab.url, r.token)}`,
        grants: runnerTaskFlags(),
        env: { HOME: home, DENO_DIR: cache },
      });
      await runner.waitForLog(/Runner started/);
      // The poller's lazy imports are done once its first job request waits.
      await gitlab.waitFor(() => gitlab.requestsTo("request_job").length > 0, {
        what: "a job request",
        timeoutMs: 30_000,
      });
      assert.equal(
        await exists(join(cache, CODE_CACHE)),
        false,
        "the idle runner made a code cache",
      );

      const job = gitlab.enqueueJob({ script: ["echo cached"], variables: NO_GIT });
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
      assert.equal(state.status, "success", state.trace + runner.log);
      assert.ok(await exists(join(cache, CODE_CACHE)), "the executor process used no code cache");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
