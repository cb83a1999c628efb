import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { CollectedOutput } from "../executors/executor_contract.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { SilentLogger } from "../log/logger.ts";
import { executorStateDir } from "../poller/executor_paths.ts";
import { createExecutor, type ExecutorContext } from "./executor_factory.ts";
import Docker from "dockerode";
import { LABEL_JOB_ID, LABEL_TYPE } from "../executors/docker/docker_labels.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  ensureTestImages,
} from "../../tests/fixtures/docker_images.ts";

function context(root: string, executor: string, jobId: number): ExecutorContext {
  return {
    runner: defaultRunnerConfig(executor),
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      steps: [{ name: "script", script: ["true"], when: "on_success", timeout: 60 }],
      job_info: { name: "j", stage: "test", project_id: 1, project_full_path: "g/p" },
      git_info: { repo_url: "http://127.0.0.1:9/g/p.git", ref: "main", sha: "0".repeat(40) },
    }),
    output: new CollectedOutput(),
    cwd: root,
    env: {},
    shortToken: "abcd1234",
    concurrentId: 0,
    concurrentProjectId: 0,
    stateDir: join(root, "state"),
    tempDir: root,
    log: new SilentLogger(),
  };
}

async function ownerLockFiles(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(executorStateDir(join(root, "state")), "owners"))) {
    if (entry.name.endsWith(".lock")) names.push(entry.name);
  }
  return names;
}

for (const executor of ["docker", "docker+ssh"]) {
  Deno.test(`an executor process's ${executor} jobs share one owner lease: one lock file, not one per job`, async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-factory-" });
    try {
      // No daemon is needed: building an executor sends nothing to docker.
      for (const jobId of [1, 2, 3]) await createExecutor(context(root, executor, jobId));
      assert.equal((await ownerLockFiles(root)).length, 1);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

const dockerSkip = await dockerSkipReason();
if (dockerSkip === null) await ensureTestImages();

Deno.test({
  name:
    "FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR in [[runners]] environment reaches the docker executor, as a job variable does",
  ignore: dockerSkip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-factory-" });
    try {
      const ctx = context(root, "docker", 1);
      ctx.runner = {
        ...ctx.runner,
        environment: ["FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR=true"],
        docker: {
          ...ctx.runner.docker,
          image: BUSYBOX_TEST_IMAGE,
          helperImage: DEBIAN_TEST_IMAGE,
          pullPolicy: ["if-not-present"],
          allowedPullPolicies: [],
        },
      };
      const signal = new AbortController().signal;
      await using executor = await createExecutor(ctx);
      await executor.prepare(signal);
      // get_sources runs in the helper container, under `umask 0000` unless the flag is on.
      assert.equal(await executor.run({ stage: "get_sources", script: "umask" }, signal), 0);
      assert.match((ctx.output as CollectedOutput).text(), /^0022$/m);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "FF_USE_INIT_WITH_DOCKER_EXECUTOR runs the docker build and service containers with docker-init as PID 1, not the helper",
  ignore: dockerSkip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-factory-" });
    const jobId = 900_000 + Math.floor(Math.random() * 99_999);
    try {
      const ctx = context(root, "docker", jobId);
      ctx.job = parseJobSpec({
        id: jobId,
        token: "job-token",
        job_info: { name: "j", stage: "test", project_id: 1, project_full_path: "g/p" },
        git_info: { repo_url: "http://127.0.0.1:9/g/p.git", ref: "main", sha: "0".repeat(40) },
        variables: [{ key: "FF_USE_INIT_WITH_DOCKER_EXECUTOR", value: "1" }],
        services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "300"] }],
      });
      ctx.runner = {
        ...ctx.runner,
        docker: {
          ...ctx.runner.docker,
          image: BUSYBOX_TEST_IMAGE,
          helperImage: DEBIAN_TEST_IMAGE,
          pullPolicy: ["if-not-present"],
          allowedPullPolicies: [],
        },
      };
      const signal = new AbortController().signal;
      await using executor = await createExecutor(ctx);
      await executor.prepare(signal);
      const script = "cat /proc/1/comm";
      assert.equal(await executor.run({ stage: "get_sources", script }, signal), 0);
      assert.equal(await executor.run({ stage: "step_script", script }, signal), 0);
      const text = (ctx.output as CollectedOutput).text();
      // The helper's PID 1 is its own shell; the build container's is docker-init.
      assert.match(text, /^sh\ndocker-init$/m, text);
      const docker = new Docker({ socketPath: "/var/run/docker.sock" });
      const containers = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${LABEL_JOB_ID}=${jobId}`] }),
      });
      const inits = await Promise.all(containers.map(async (c) => {
        const info = await docker.getContainer(c.Id).inspect();
        return [info.Config.Labels[LABEL_TYPE], info.HostConfig.Init === true] as const;
      }));
      assert.deepEqual(
        inits.filter(([type]) => type === "build" || type === "service").sort(),
        [["build", true], ["service", true]],
      );
      assert.deepEqual(inits.filter(([type]) => type === "helper"), [["helper", false]]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
