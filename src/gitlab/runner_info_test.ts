import assert from "node:assert/strict";
import { createRunnerInfo, FEATURE_NAMES, runnerInfoBody, userAgent } from "./runner_info.ts";

Deno.test("the User-Agent has the gitlab-runner shape with our version", () => {
  const info = createRunnerInfo({
    version: "1.2.3",
    revision: "abc",
    runtime: "deno 2.0.0",
    platform: "linux",
    architecture: "amd64",
  });
  assert.equal(userAgent(info), "gitlab-runner 1.2.3 (main; deno 2.0.0; linux/amd64)");
});

Deno.test("info always carries every feature key, with the client features forced on", () => {
  const info = createRunnerInfo({
    version: "1",
    revision: "r",
    features: { variables: true, "cancelable": false },
  });
  const body = runnerInfoBody(info);
  const features = body["features"] as Record<string, boolean>;
  for (const name of FEATURE_NAMES) assert.equal(typeof features[name], "boolean", name);
  assert.equal(features["variables"], true);
  assert.equal(features["image"], false);
  assert.equal(features["cancelable"], true);
  assert.equal(features["two_phase_job_commit"], true);
  assert.equal(features["job_inputs"], false, "inputs are not interpolated, so not advertised");
  assert.deepEqual(body["config"], { gpus: "" });
  assert.equal("executor" in body, false, "empty executor is omitted");
  assert.equal("labels" in body, false, "empty labels are omitted");
});
