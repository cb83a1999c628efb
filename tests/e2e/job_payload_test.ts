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

Deno.test("a job with executor_opts GitLab's runner does not know fails naming them, as it does, before any script runs", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(gitlab.url, r.token),
    env: cleanHome(),
  });
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
