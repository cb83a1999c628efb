import assert from "node:assert/strict";
import { checkUserSwitch, suArgs } from "./user_switch.ts";

Deno.test("checkUserSwitch refuses when the runner is not root, without trying su", async () => {
  await assert.rejects(
    checkUserSwitch("gitlab-runner", { env: {}, uid: 1000 }),
    {
      message:
        'Cannot run jobs as user "gitlab-runner": switching user needs root, and the runner runs as uid 1000',
    },
  );
});

Deno.test("suArgs is the official su form: a login shell of the job user", () => {
  assert.deepEqual(suArgs("ci", "bash", "bash -l"), ["-s", "/bin/bash", "ci", "-c", "bash -l"]);
});
