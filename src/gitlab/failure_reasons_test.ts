import assert from "node:assert/strict";
import { mapFailureReason } from "./failure_reasons.ts";

const OLD_GITLAB = ["unknown_failure", "script_failure", "runner_system_failure"];

Deno.test("an empty reason is sent as script_failure", () => {
  assert.equal(mapFailureReason("", []), "script_failure");
});

Deno.test("supported reasons go out unchanged, including the always-supported ones", () => {
  assert.equal(mapFailureReason("job_execution_timeout", []), "job_execution_timeout");
  assert.equal(
    mapFailureReason("image_pull_failure", ["image_pull_failure"]),
    "image_pull_failure",
  );
});

Deno.test("unsupported reasons follow the compatibility map", () => {
  assert.equal(mapFailureReason("image_pull_failure", OLD_GITLAB), "runner_system_failure");
  assert.equal(mapFailureReason("runner_configuration_error", OLD_GITLAB), "script_failure");
  assert.equal(
    mapFailureReason("runner_external_dependency_failure", OLD_GITLAB),
    "runner_system_failure",
  );
});

Deno.test("job_canceled and runner_interrupted become unknown_failure unless listed", () => {
  assert.equal(mapFailureReason("job_canceled", OLD_GITLAB), "unknown_failure");
  assert.equal(mapFailureReason("runner_interrupted", OLD_GITLAB), "unknown_failure");
  assert.equal(mapFailureReason("job_canceled", [...OLD_GITLAB, "job_canceled"]), "job_canceled");
});
