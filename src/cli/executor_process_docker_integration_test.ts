/**
 * A docker job through the executor process, against the machine's dockerd
 * and the local test images (tests/fixtures/docker_images.ts). Skipped, with
 * the reason printed, when no daemon answers.
 */
import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { LABEL_JOB_ID } from "../executors/docker/docker_labels.ts";
import { clearCacheVolumes } from "../executors/docker/docker_resources.ts";
import {
  encodeMessage,
  executorSettings,
  FRAME_MESSAGE,
  FrameDecoder,
  type FromExecutor,
} from "../executors/process_protocol.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  ensureTestImages,
} from "../../tests/fixtures/docker_images.ts";
import { SilentLogger } from "../log/logger.ts";
import { runExecutorProcess } from "./executor_process.ts";

const skip = await dockerSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping executor process docker tests: ${skip}`);
} else {
  await ensureTestImages();
}
const docker = new Docker({ socketPath: "/var/run/docker.sock" });

async function jobContainers(jobId: number): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL_JOB_ID}=${jobId}`] }),
  });
  return list.map((c) => c.Names[0] ?? c.Id);
}

Deno.test({
  name:
    "A docker job's result leaves the executor process before its container is removed; the process exits only once it is",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "runner-process-docker-" });
    const shortToken = `p${crypto.randomUUID().slice(0, 7)}`;
    const jobId = Math.floor(Math.random() * 1e6) * 100 + 1;
    const runner = defaultRunnerConfig("docker");
    runner.docker = {
      ...runner.docker,
      image: BUSYBOX_TEST_IMAGE,
      pullPolicy: ["if-not-present"],
      allowedPullPolicies: [],
      helperImage: DEBIAN_TEST_IMAGE,
    };
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const input = writable.getWriter();
    const seen: { atResult: string[] | null } = { atResult: null };
    const events: FromExecutor[] = [];
    const decoder = new FrameDecoder();
    // Each write is awaited by the process: the containers are listed while the
    // result frame is on its way, before the process may go on.
    const stdout = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        for (const frame of decoder.push(chunk)) {
          if (frame.type !== FRAME_MESSAGE) continue;
          const event = JSON.parse(new TextDecoder().decode(frame.payload)) as FromExecutor;
          events.push(event);
          if (event.type === "result") seen.atResult = await jobContainers(jobId);
        }
      },
    });
    try {
      void input.write(encodeMessage({
        type: "start",
        job: parseJobSpec({
          id: jobId,
          token: "job-token",
          steps: [{ name: "script", script: ["echo hello"], when: "on_success", timeout: 600 }],
          variables: [{ key: "GIT_STRATEGY", value: "none" }],
          job_info: { name: "hello", stage: "test", project_id: jobId, project_full_path: "g/p" },
          git_info: { repo_url: "http://127.0.0.1:9/g/p.git", ref: "main", sha: "0".repeat(40) },
          runner_info: { timeout: 600 },
        }),
        runner: executorSettings(runner),
        shortToken,
        systemId: "s_test",
        concurrentId: 0,
        concurrentProjectId: 0,
        cwd: root,
        stateDir: `${root}/state`,
        tempDir: root,
      }));
      const code = await runExecutorProcess({
        stdin: readable,
        stdout,
        env: {},
        log: new SilentLogger(),
        version: { name: "gitlab-runner", version: "0", revision: "x", os: "linux", arch: "amd64" },
      });
      assert.equal(code, 0);
      const result = events.find((e) => e.type === "result");
      assert.deepEqual(result, { type: "result", state: "success" });
      assert.equal(seen.atResult?.length, 1, "the build container is there at the result");
      assert.deepEqual(await jobContainers(jobId), [], "no container once the process exited");
    } finally {
      await input.close().catch(() => {});
      for (const name of await jobContainers(jobId)) {
        await docker.getContainer(name.replace(/^\//, "")).remove({ force: true }).catch(() => {});
      }
      await clearCacheVolumes(docker, { shortToken });
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
