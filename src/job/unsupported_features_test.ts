import assert from "node:assert/strict";
import { parseJobSpec } from "./job_spec.ts";
import { unknownWhenWarnings, unsupportedFeatureError } from "./unsupported_features.ts";

function errorFor(payload: Record<string, unknown>) {
  return unsupportedFeatureError(parseJobSpec({ id: 1, token: "t", ...payload }));
}

Deno.test("a job with only known executor_opts, empty secrets, run and inputs is supported", () => {
  assert.equal(errorFor({}), null);
  assert.equal(
    errorFor({
      image: { name: "a", executor_opts: { docker: { platform: "linux/amd64", user: 1000 } } },
      services: [{ name: "b", executor_opts: { kubernetes: { user: "1" } } }],
      secrets: {},
      run: "",
      inputs: [],
    }),
    null,
  );
});

Deno.test("unknown executor_opts fail the job as GitLab's runner does, naming each option", () => {
  const error = errorFor({
    image: { name: "a", executor_opts: { docker: { platform: "", bogus: 1 } } },
    services: [{ name: "b" }, { name: "c", executor_opts: { podman: {}, kubernetes: { uid: 1 } } }],
  });
  assert.equal(error?.reason, "runner_system_failure");
  assert.equal(error?.exitCode, 3);
  assert.equal(
    error?.message,
    'Unsupported "image" options [bogus] for "docker executor"; supported options are [platform user]; ' +
      'Unsupported "services[1]" options [podman] for "executor_opts"; supported options are [docker kubernetes]; ' +
      'Unsupported "services[1]" options [uid] for "kubernetes executor"; supported options are [user]',
  );
});

Deno.test("secrets, run and inputs fail the job as a configuration error naming the payload field", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ secrets: { DB: { vault: { path: "p" } }, API: {} } }, /secrets \(DB, API\).*"secrets"/],
    [{ run: '[{"name":"s","script":"true"}]' }, /"run" steps.*payload field "run"/],
    [{ inputs: [{ key: "x", value: { type: "string", content: "v" } }] }, /inputs \(x\).*"inputs"/],
  ];
  for (const [payload, message] of cases) {
    const error = errorFor(payload);
    assert.equal(error?.reason, "runner_configuration_error", JSON.stringify(payload));
    assert.match(error?.message ?? "", message);
  }
});

Deno.test("an artifacts or cache when this runner does not know is kept and warned about; a step's is accepted", () => {
  const job = parseJobSpec({
    id: 1,
    token: "t",
    steps: [{ name: "script", script: ["true"], when: "delayed" }],
    artifacts: [{ paths: ["a"], when: "" }, { paths: ["b"], when: "manual" }],
    cache: [{ key: "k", when: "always" }, { key: "k2", when: "bogus" }],
  });
  assert.equal(job.artifacts[0]?.when, "on_success");
  assert.equal(job.artifacts[1]?.when, "manual");
  assert.deepEqual(unknownWhenWarnings(job), [
    'artifacts[1].when "manual" is not on_success, on_failure or always: these artifacts are never uploaded',
    'cache[1].when "bogus" is not on_success, on_failure or always: this cache is never saved',
  ]);
});
