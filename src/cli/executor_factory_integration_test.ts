import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { CollectedOutput } from "../executors/executor_contract.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { SilentLogger } from "../log/logger.ts";
import { executorStateDir } from "../poller/executor_paths.ts";
import { createExecutor, type ExecutorContext } from "./executor_factory.ts";

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
