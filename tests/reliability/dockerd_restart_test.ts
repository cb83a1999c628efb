/**
 * End to end: dockerd restarted while a docker job runs. Restarting the
 * machine's dockerd breaks every other docker test running at the same time,
 * so this test runs only with RUNNER_TEST_DOCKERD_RESTART=1 (CI sets it on a
 * dedicated machine). The restart command is RUNNER_TEST_DOCKERD_RESTART_CMD
 * (run with sh -c), default `service docker restart`.
 */
import assert from "node:assert/strict";
import {
  BUSYBOX_TEST_IMAGE,
  dockerSkipReason,
  ensureBusyboxImage,
} from "../fixtures/docker_images.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { config, NO_GIT } from "./_runner_setup.ts";

async function skipReason(): Promise<string | null> {
  if (Deno.env.get("RUNNER_TEST_DOCKERD_RESTART") !== "1") {
    return "restarting dockerd disturbs other tests: set RUNNER_TEST_DOCKERD_RESTART=1 to run it";
  }
  return await dockerSkipReason();
}

async function restartDockerd(): Promise<void> {
  const command = Deno.env.get("RUNNER_TEST_DOCKERD_RESTART_CMD") ?? "service docker restart";
  const out = await new Deno.Command("sh", {
    args: ["-c", command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`"${command}" failed: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test("dockerd restarted mid-job: the job fails with a clear reason and the runner runs the next docker job", async () => {
  const reason = await skipReason();
  if (reason) {
    // deno-lint-ignore no-console -- a skipped test says why (team rule)
    console.log(`SKIPPED: ${reason}`);
    return;
  }
  await ensureBusyboxImage();
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const docker =
    `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "if-not-present"\n`;
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { executor: "docker" }) + docker),
  });
  const job = gitlab.enqueueJob({
    script: ["echo started", "sleep 120", "echo not-reached"],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
    what: "docker job started",
    timeoutMs: 120_000,
  });
  await restartDockerd();
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 180_000 });
  assert.equal(state.status, "failed", runner.log.slice(-3000));
  assert.equal(state.failureReason, "runner_system_failure", state.trace);
  assert.match(state.trace, /ERROR: Job failed/);
  assert.doesNotMatch(state.trace, /not-reached/);
  await gitlab.waitFor(async () => (await dockerSkipReason()) === null, {
    what: "dockerd to answer again",
    timeoutMs: 120_000,
    intervalMs: 1000,
  });
  const next = gitlab.enqueueJob({ script: ["echo docker-again"], variables: NO_GIT });
  const ok = await gitlab.waitForJobFinished(next.id, { timeoutMs: 180_000 });
  assert.equal(ok.status, "success", ok.trace + runner.log.slice(-3000));
});
