import assert from "node:assert/strict";
import official from "../config/official_keys.json" with { type: "json" };
import { RUNNER_FLAGS } from "./runner_flags.ts";

function officialFlag(name: string) {
  const flag = official.registerFlags.find((f) => f.name === name);
  assert.ok(flag, `${name} is an official flag of ${official.version}`);
  return flag;
}

Deno.test("flags the official runner spells unusually are accepted as spelled, with the official environment names; our older spellings stay aliases", () => {
  for (
    const [name, alias] of [
      ["docker-services_privileged", "docker-services-privileged"],
      ["docker-allowed_users", "docker-allowed-users"],
      ["docker-userns", "docker-userns-mode"],
      ["docker-service_gpus", "docker-service-gpus"],
      ["job-status-final-update-retry-limit", null],
      ["docker-ipcmode", null],
    ] as const
  ) {
    const expected = officialFlag(name);
    const ours = RUNNER_FLAGS.find((f) => f.name === name);
    assert.ok(ours, `--${name} is accepted`);
    assert.equal(ours.env, expected.env, `--${name} reads ${expected.env}`);
    if (alias) assert.ok(ours.aliases?.includes(alias), `--${alias} still works`);
  }
  assert.equal(
    officialFlag("job-status-final-update-retry-limit").env,
    "RUNNER_job_status_final_update_retry_limit",
  );
  assert.equal(officialFlag("docker-ipcmode").env, "DOCKER_IPC_MODE");
});
