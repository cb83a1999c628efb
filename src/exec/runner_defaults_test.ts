import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { execRunnerDefaults } from "./runner_defaults.ts";

Deno.test("exec's written-out runner defaults are the config schema's (else: deno run -A scripts/gen_exec_runner_defaults.ts)", () => {
  for (const executor of ["shell", "docker"] as const) {
    assert.deepStrictEqual(execRunnerDefaults(executor), defaultRunnerConfig(executor), executor);
  }
});

Deno.test("exec's runner defaults are a fresh copy each time", () => {
  const first = execRunnerDefaults("shell");
  first.docker.volumes.push("/x:/x");
  first.name = "changed";
  assert.deepStrictEqual(execRunnerDefaults("shell"), defaultRunnerConfig("shell"));
});
