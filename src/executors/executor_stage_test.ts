import assert from "node:assert/strict";
import { executorStageName, type ExecutorStep } from "./executor_stage.ts";

Deno.test("executor stages carry the official runner's names", () => {
  const steps: ExecutorStep[] = ["prepare", "run", "finish", "cleanup"];
  assert.deepEqual(steps.map((s) => executorStageName("shell", s)), [
    "prepare",
    null,
    "finish",
    "cleanup",
  ]);
  assert.deepEqual(steps.map((s) => executorStageName("docker", s)), [
    "docker_prepare",
    "docker_run",
    "finish",
    "docker_cleanup",
  ]);
  assert.equal(executorStageName("docker+ssh", "run"), "docker_run");
  assert.equal(executorStageName("ssh", "prepare"), "prepare");
});
