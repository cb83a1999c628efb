/**
 * End to end: dockerd restarted, killed or frozen while a docker job runs. The job's dockerd is
 * one of the test's own (tests/fixtures/own_dockerd.ts, `[runners.docker]
 * host`), so restarting it disturbs no other docker test running meanwhile.
 */
import assert from "node:assert/strict";
import {
  BUSYBOX_TEST_IMAGE,
  dockerSkipReason,
  ensureBusyboxImage,
} from "../fixtures/docker_images.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { OwnDockerd } from "../fixtures/own_dockerd.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { config, NO_GIT } from "./_runner_setup.ts";

const skipReason = (await dockerSkipReason()) ?? (await OwnDockerd.skipReason());
if (skipReason) {
  // deno-lint-ignore no-console -- a skipped test says why (team rule)
  console.log(`SKIP dockerd restart test: ${skipReason}`);
}

Deno.test({
  name:
    "dockerd restarted mid-job: the job fails with a clear reason and the runner runs the next docker job",
  ignore: skipReason !== null,
  async fn() {
    await ensureBusyboxImage();
    await using dockerd = await OwnDockerd.start([BUSYBOX_TEST_IMAGE]);
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const docker =
      `  [runners.docker]\n    host = "${dockerd.host}"\n    image = "${BUSYBOX_TEST_IMAGE}"\n` +
      `    pull_policy = "if-not-present"\n`;
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
    await dockerd.restart();
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 180_000 });
    assert.equal(state.status, "failed", runner.log.slice(-3000));
    assert.equal(state.failureReason, "runner_system_failure", state.trace);
    assert.match(state.trace, /ERROR: Job failed/);
    assert.doesNotMatch(state.trace, /not-reached/);
    const next = gitlab.enqueueJob({ script: ["echo docker-again"], variables: NO_GIT });
    const ok = await gitlab.waitForJobFinished(next.id, { timeoutMs: 180_000 });
    assert.equal(ok.status, "success", ok.trace + runner.log.slice(-3000));
  },
});

Deno.test({
  name:
    "dockerd frozen mid-job: the job still times out and is reported, naming the daemon that did not answer",
  ignore: skipReason !== null,
  async fn() {
    await ensureBusyboxImage();
    await using dockerd = await OwnDockerd.start([BUSYBOX_TEST_IMAGE]);
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const docker =
      `  [runners.docker]\n    host = "${dockerd.host}"\n    image = "${BUSYBOX_TEST_IMAGE}"\n` +
      `    pull_policy = "if-not-present"\n`;
    await using runner = await startRunner({
      config: config(runnerToml(gitlab.url, r.token, { executor: "docker" }) + docker),
    });
    const job = gitlab.enqueueJob({
      script: ["echo started", "sleep 120", "echo not-reached"],
      variables: NO_GIT,
      timeoutSeconds: 5,
    });
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: "docker job started",
      timeoutMs: 120_000,
    });
    // Its socket stays open and nothing answers: the timeout's kill of the stage
    // waited for ever, and the job stayed running in GitLab.
    dockerd.freeze();
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 });
    assert.equal(state.status, "failed", runner.log.slice(-3000));
    assert.equal(state.failureReason, "job_execution_timeout", state.trace);
    assert.match(
      state.trace,
      /WARNING: The Docker daemon did not answer within 10s after the step_script stage was stopped; the job's containers are left to the cleanup/,
    );
    assert.doesNotMatch(state.trace, /not-reached/);
    dockerd.freeze(false);
  },
});

Deno.test({
  name: "dockerd killed mid-job: the job fails naming the lost daemon",
  ignore: skipReason !== null,
  async fn() {
    await ensureBusyboxImage();
    await using dockerd = await OwnDockerd.start([BUSYBOX_TEST_IMAGE]);
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const docker =
      `  [runners.docker]\n    host = "${dockerd.host}"\n    image = "${BUSYBOX_TEST_IMAGE}"\n` +
      `    pull_policy = "if-not-present"\n`;
    await using _runner = await startRunner({
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
    await dockerd.kill();
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.failureReason, "runner_system_failure", state.trace);
    // It read 'stage "step_script": connect ECONNREFUSED …/docker.sock', naming no daemon.
    assert.match(
      state.trace,
      /Job failed \(system failure\): stage "step_script": Lost the connection to the Docker daemon: /,
    );
  },
});
