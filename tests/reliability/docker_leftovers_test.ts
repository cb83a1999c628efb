/**
 * End to end, with dockerd: what a docker job created (build and service
 * containers, the job network, temporary volumes) does not outlive its
 * executor process, however that process ends, nor the runner. An executor
 * process that never ends its job on cancel (stopped with SIGSTOP, as a hung
 * one) is killed when `shutdown_timeout` is over; one that crashes (SIGKILL)
 * mid-job dies at once. Either way the poller has a fresh process of the
 * docker permission set remove what it left.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { config, executorPid, NO_GIT } from "./_runner_setup.ts";
import { shortToken } from "../../src/config/short_token.ts";
import {
  LABEL_JOB_ID,
  LABEL_RUNNER_SHORT_TOKEN,
} from "../../src/executors/docker/docker_labels.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
// deno-lint-ignore no-console -- a skipped test says why
if (dockerReason) console.warn(`SKIP docker leftovers test: ${dockerReason}`);

async function docker(args: string[]): Promise<string[]> {
  const out = await new Deno.Command("docker", { args, stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "");
}

interface DockerObjects {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Containers, networks and volumes carrying every one of `labels`. */
async function labelled(labels: string[]): Promise<DockerObjects> {
  const filters = labels.flatMap((label) => ["--filter", `label=${label}`]);
  return {
    containers: await docker(["ps", "-aq", ...filters]),
    networks: await docker(["network", "ls", "-q", ...filters]),
    volumes: await docker(["volume", "ls", "-q", ...filters]),
  };
}

function isEmpty(objects: DockerObjects): boolean {
  return objects.containers.length + objects.networks.length + objects.volumes.length === 0;
}

/** Whether `pid` is an executor process still running (not a zombie). */
function isExecutorRunning(pid: number): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return cmdline.includes("executor-process") && !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/**
 * A docker runner with one job running: a build container that ignores
 * SIGTERM, a service container on the job's network, temporary volumes
 * (disable_cache). Disposing removes whatever this runner's token labels.
 */
async function dockerJob(shutdownTimeout = 1): Promise<
  AsyncDisposable & {
    gitlab: FakeGitLab;
    runner: Awaited<ReturnType<typeof startRunner>>;
    jobId: number;
    executor: number;
    labels: string[];
  }
> {
  const gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const runner = await startRunner({
    config: config(
      runnerToml(gitlab.url, r.token, { executor: "docker" }) +
        `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n` +
        `    disable_cache = true\n`,
      { log_level: "debug", shutdown_timeout: shutdownTimeout },
    ),
  });
  const job = gitlab.enqueueJob({
    script: ["trap '' TERM INT", "echo started", "sleep 600"],
    services: [{ name: BUSYBOX_TEST_IMAGE, alias: "svc", command: ["sleep", "600"] }],
    variables: NO_GIT,
  });
  const token = `${LABEL_RUNNER_SHORT_TOKEN}=${shortToken(r.token)}`;
  const dispose = async () => {
    await runner[Symbol.asyncDispose]();
    await gitlab[Symbol.asyncDispose]();
    // Only what this test's runner created: its token is on every object.
    const left = await labelled([token]);
    if (left.containers.length > 0) await docker(["rm", "-f", "-v", ...left.containers]);
    if (left.networks.length > 0) await docker(["network", "rm", ...left.networks]);
    if (left.volumes.length > 0) await docker(["volume", "rm", ...left.volumes]);
  };
  try {
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: `job ${job.id} started`,
      timeoutMs: 60_000,
    });
    const executor = executorPid(runner.log, job.id);
    assert.ok(executor, `executor pid of job ${job.id} in the runner log:\n${runner.log}`);
    return {
      gitlab,
      runner,
      jobId: job.id,
      executor,
      labels: [`${LABEL_JOB_ID}=${job.id}`, token],
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

for (
  const { how, shutdownTimeout, signals } of [
    { how: "SIGTERM past shutdown_timeout", shutdownTimeout: 1, signals: ["SIGTERM"] },
    { how: "a second SIGINT", shutdownTimeout: 3600, signals: ["SIGINT", "SIGINT"] },
  ] satisfies { how: string; shutdownTimeout: number; signals: Deno.Signal[] }[]
) {
  Deno.test({
    name:
      `${how}: a docker job whose executor process ignores its cancel leaves no container, network or volume once the runner has exited`,
    ignore: dockerReason !== null,
    fn: async () => {
      await using job = await dockerJob(shutdownTimeout);
      const before = await labelled(job.labels);
      assert.equal(before.containers.length, 2, "build and service containers");
      assert.equal(before.networks.length, 1, "the job network");
      assert.ok(before.volumes.length > 0, "temporary volumes");
      // A hung executor process: it never acts on the cancel the shutdown sends.
      Deno.kill(job.executor, "SIGSTOP");
      for (const signal of signals) {
        job.runner.signal(signal);
        await job.runner.waitForLog(/Stopping: aborting running jobs/);
      }
      const status = await job.runner.exited();
      assert.equal(status.code, 1, "shutdown did not finish");
      assert.deepEqual(await labelled(job.labels), { containers: [], networks: [], volumes: [] });
      assert.ok(!isExecutorRunning(job.executor), "the executor process is gone");
      assert.match(job.runner.log, /Removed what the executor process left in docker/);
    },
  });
}

Deno.test({
  name:
    "An executor process killed mid docker job: what it left in docker is removed at once, not at the next job",
  ignore: dockerReason !== null,
  fn: async () => {
    await using job = await dockerJob();
    assert.ok(!isEmpty(await labelled(job.labels)), "the job's containers run");
    Deno.kill(job.executor, "SIGKILL");
    await job.gitlab.waitForJobFinished(job.jobId, { timeoutMs: 10_000 });
    const deadline = Date.now() + 15_000;
    while (!isEmpty(await labelled(job.labels))) {
      assert.ok(Date.now() < deadline, "the job's docker objects were not removed within 15 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    await job.runner.waitForLog(/Removed what the executor process left in docker/, 10_000);
    assert.equal(job.gitlab.jobOf(job.jobId).status, "failed");
  },
});
