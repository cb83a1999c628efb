/**
 * `runner run` loads config.toml on its supervising thread to compute the
 * poller's permissions, and the poller runs with that load
 * (cli/poller_supervisor.ts, PollerScope.loaded): the file's warnings are
 * logged once, by the poller, as when it loaded the file itself.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerTaskFlags, runnerToml, startRunner } from "../fixtures/runner_process.ts";

Deno.test({
  name: "runner run logs config.toml's warnings once, then serves jobs",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ longPollHoldMs: 60_000 });
    const r = gitlab.createRunner();
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\nsentry_dsn = "https://sentry.invalid/1"\n${
        runnerToml(gitlab.url, r.token)
      }`,
      grants: runnerTaskFlags(),
    });
    await runner.waitForLog(/Runner started/);
    const job = gitlab.enqueueJob({ script: ["echo configured"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    const warnings = runner.log.split("\n").filter((l) =>
      /key sentry_dsn is accepted but not supported/.test(l)
    );
    assert.equal(warnings.length, 1, runner.log);
  },
});
