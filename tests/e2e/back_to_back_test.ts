/**
 * End to end: a slot that frees asks GitLab at once. With `check_interval =
 * 60` a runner that waited for its next poll tick would start the next job
 * about 60 s after the previous one ended; these tests see it start within a
 * few hundred milliseconds (the bound allows for a loaded machine), as GitLab (and so a user on the job page) records
 * it: the acceptance PUT (`state=running`) of the next job against the final
 * PUT of the previous one.
 */
import assert from "node:assert/strict";
import { FakeGitLab, type FakeRequest } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { denoDir } from "../fixtures/test_env.ts";

/** Far below check_interval (60 s), far above a loaded machine's request round trip. */
const PROMPT_MS = 15_000;

/** A runner whose login shells read no profile (root's runs a slow pyenv init). */
async function start(config: string) {
  const home = await Deno.makeTempDir({ prefix: "runner-b2b-home-" });
  // Deno's module cache stays where it was (it defaults to a path under HOME).
  const cache = denoDir();
  const runner = await startRunner({ config, env: { HOME: home, DENO_DIR: cache } });
  return {
    runner,
    async [Symbol.asyncDispose]() {
      await runner[Symbol.asyncDispose]();
      await Deno.remove(home, { recursive: true });
    },
  };
}

function config(body: string, concurrent = 1): string {
  return `concurrent = ${concurrent}\ncheck_interval = 60\n\n${body}`;
}

function update(gitlab: FakeGitLab, jobId: number, state: string): FakeRequest {
  const found = gitlab.requestsTo("update_job").find((r) =>
    r.url.pathname.endsWith(`/jobs/${jobId}`) &&
    (r.json as Record<string, unknown> | undefined)?.["state"] === state
  );
  assert.ok(found, `no update state=${state} for job ${jobId}`);
  return found;
}

/** Waits for job `id` to end, looking every millisecond so the caller reacts at once. */
function finished(gitlab: FakeGitLab, id: number) {
  return gitlab.waitFor(() => {
    const s = gitlab.jobOf(id);
    return s.status === "success" || s.status === "failed" ? s : undefined;
  }, { what: `job ${id} to finish`, timeoutMs: 180_000, intervalMs: 1 });
}

Deno.test("a job queued as the previous one ends starts at once, not after check_interval", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 120_000 });
  const r = gitlab.createRunner({ kind: "created" });
  await using started = await start(config(runnerToml(gitlab.url, r.token)));
  const runner = started.runner;
  await runner.waitForLog(/Runner started/);
  const first = gitlab.enqueueJob({ script: ["echo first"], variables: NO_GIT });
  const firstState = await finished(gitlab, first.id);
  assert.equal(firstState.status, "success", firstState.trace + runner.log);
  // Queued right after GitLab answered the runner's first request after the
  // job ended ("nothing for you"): the race a busy queue runs into all the time.
  const ended = update(gitlab, first.id, "success").receivedAt;
  await gitlab.waitFor(
    () => gitlab.requestsTo("request_job").some((q) => q.receivedAt > ended && q.status !== 0),
    { what: "the runner's next job request to be answered", timeoutMs: 60_000, intervalMs: 1 },
  );
  const second = gitlab.enqueueJob({ script: ["echo second"], variables: NO_GIT });
  const secondState = await finished(gitlab, second.id);
  assert.equal(secondState.status, "success", secondState.trace + runner.log);
  assert.match(secondState.trace, /second/);
  const gap = update(gitlab, second.id, "running").receivedAt -
    update(gitlab, first.id, "success").receivedAt;
  assert.ok(gap < PROMPT_MS, `the second job started ${gap.toFixed(0)} ms after the first ended`);
});

Deno.test("two [[runners]] sharing concurrent = 1: the other runner's queued job starts as the slot frees", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 120_000 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "created" });
  await using started = await start(
    config(runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token)),
  );
  const runner = started.runner;
  await runner.waitForLog(/Runner started/);
  const forA = gitlab.enqueueJob({
    script: ["echo on a", "sleep 1"],
    variables: NO_GIT,
    runnerId: a.id,
  });
  await gitlab.waitFor(() => gitlab.jobOf(forA.id).status === "running", {
    what: "runner a's job to start",
    timeoutMs: 60_000,
  });
  // Queued while the only slot runs runner a's job.
  const forB = gitlab.enqueueJob({ script: ["echo on b"], variables: NO_GIT, runnerId: b.id });
  const aState = await finished(gitlab, forA.id);
  assert.equal(aState.status, "success", aState.trace + runner.log);
  const bState = await finished(gitlab, forB.id);
  assert.equal(bState.status, "success", bState.trace + runner.log);
  const gap = update(gitlab, forB.id, "running").receivedAt -
    update(gitlab, forA.id, "success").receivedAt;
  assert.ok(gap >= 0, "concurrent = 1: runner b's job waited for the slot");
  assert.ok(gap < PROMPT_MS, `runner b's job started ${gap.toFixed(0)} ms after a's ended`);
});

Deno.test("with no jobs, an idle runner does not hammer GitLab", async () => {
  // No long polling: every request is answered at once, the case where a spin would show.
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const r = gitlab.createRunner({ kind: "created" });
  await using started = await start(
    `concurrent = 4\ncheck_interval = 1\n\n${runnerToml(gitlab.url, r.token)}`,
  );
  const runner = started.runner;
  await runner.waitForLog(/Runner started/);
  const from = gitlab.requestsTo("request_job").length;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const asked = gitlab.requestsTo("request_job").length - from;
  // One loop (request_concurrency = 1), one request per check_interval: about 3.
  assert.ok(asked <= 5, `${asked} job requests in 3 s with check_interval = 1`);
});

Deno.test("a check_interval longer than one timer holds (30 days) waits, not spins", async () => {
  // A timer given more than 2^31-1 ms (24.8 days) fires after 1 ms: such a
  // check_interval had the runner ask GitLab for jobs without pause.
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const r = gitlab.createRunner({ kind: "created" });
  await using started = await start(
    `concurrent = 1\ncheck_interval = ${30 * 24 * 3600}\n\n${runnerToml(gitlab.url, r.token)}`,
  );
  await started.runner.waitForLog(/Runner started/);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const asked = gitlab.requestsTo("request_job").length;
  assert.ok(asked <= 2, `${asked} job requests in 2 s with a 30-day check_interval`);
});
