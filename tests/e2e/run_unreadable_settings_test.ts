/**
 * A runner setting the poller cannot turn into the executor's permissions
 * (a clone_url or a Docker host that is no address) fails the job, naming the
 * setting, in the job log GitLab shows: the job was taken, marked running and
 * then left so ("Job handler failed: TypeError: Invalid URL"), its result lost.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";

const HEAD = "concurrent = 1\ncheck_interval = 1\n\n";

for (
  const [what, body, named] of [
    [
      "a clone_url that is not a URL",
      (url: string, token: string) => runnerToml(url, token, { clone_url: "not a url" }),
      /ERROR: Job failed \(system failure\): .*\[\[runners\]\] clone_url "not a url" is not an absolute URL such as https:\/\/gitlab\.example\.com/,
    ],
    [
      "a [runners.docker] host that is no Docker endpoint",
      (url: string, token: string) =>
        runnerToml(url, token, { executor: "docker" }) +
        `  [runners.docker]\n    image = "alpine"\n    host = "bogus"\n`,
      /ERROR: Job failed \(system failure\): .*Invalid \[runners\.docker\] host "bogus": expected unix:\/\/\/path or tcp:\/\/host:port/,
    ],
  ] as const
) {
  Deno.test(`${what} fails the job naming it, instead of leaving it running`, async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({ config: HEAD + body(gitlab.url, r.token) });
    const job = gitlab.enqueueJob({ script: ["echo hi"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 30_000 });
    assert.equal(state.status, "failed", runner.log);
    assert.equal(state.failureReason, "runner_system_failure");
    assert.match(state.trace, named);
  });
}
