/**
 * The runner started as `deno task runner` does uses no V8 code cache
 * (poller/v8_flags.ts, RUNNER_NO_CODE_CACHE_FLAG): Deno's cache database in
 * DENO_DIR is never opened by it, which an idle runner's RSS shows
 * (scripts/bench/job_latency.ts figure (c)). Executor processes (the first
 * one started with the runner, see JobSupervisor.prestart) keep the cache.
 * The runner process's open files (/proc/<pid>/fd) tell whether it opened the
 * database; a DENO_DIR of the test's own, sharing the npm packages of the
 * usual one, whether an executor process made it.
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

/** The files of `pid` that are open and lie in `dir`. */
function openFilesIn(pid: number, dir: string): string[] {
  const open: string[] = [];
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return open;
}

Deno.test({
  name:
    "the runner started as `deno task runner` does opens no V8 code cache; its executor processes make one",
  ignore: Deno.build.os !== "linux",
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
      const job = gitlab.enqueueJob({ script: ["echo cached"], variables: NO_GIT });
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
      assert.equal(state.status, "success", state.trace + runner.log);
      assert.ok(await exists(join(cache, CODE_CACHE)), "the executor process used no code cache");
      const open = openFilesIn(runner.pid, cache);
      assert.ok(open.length > 0, "the runner opened none of Deno's caches: this test sees nothing");
      assert.deepEqual(open.filter((f) => f.includes(CODE_CACHE)), [], "the runner opened it");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
