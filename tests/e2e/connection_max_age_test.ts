/**
 * `connection_max_age`: the runner's requests to GitLab move to new
 * connections once theirs are that old, as the official runner's do (a load
 * balancer in front of GitLab then spreads a fleet's runners again); without
 * the key (15m) one connection serves them all.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";

/** The connections the runner's first `count` job requests came over. */
async function jobRequestConnections(maxAge: string | null, count: number): Promise<number> {
  // No long poll: GitLab answers each job request at once, the runner asks every second.
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n${
      maxAge === null ? "" : `connection_max_age = "${maxAge}"\n`
    }${runnerToml(gitlab.url, r.token)}`,
  });
  await gitlab.waitFor(() => gitlab.requestsTo("request_job").length >= count, {
    what: `${count} job requests`,
    timeoutMs: 30_000,
  });
  assert.doesNotMatch(runner.log, /connection_max_age is accepted but not supported/);
  const ports = gitlab.requestsTo("request_job").slice(0, count).map((q) => q.remotePort);
  return new Set(ports).size;
}

Deno.test("connection_max_age moves the runner's requests to new connections once theirs are that old", async () => {
  // 5 requests about a second apart: at least two connections of at most 1.5 s each.
  assert.ok(
    await jobRequestConnections("1500ms", 5) >= 2,
    "the requests moved to a new connection",
  );
});

Deno.test("without connection_max_age (15m) one connection serves the runner's requests", async () => {
  assert.equal(await jobRequestConnections(null, 5), 1);
});
