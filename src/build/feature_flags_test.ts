import assert from "node:assert/strict";
import { parseJobSpec } from "../job/job_spec.ts";
import { featureFlagsForJob, unparsableFeatureFlags } from "./feature_flags.ts";

Deno.test("a flag set to a value that is not a Go boolean is listed and counts as false", () => {
  const { variables } = parseJobSpec({
    id: 1,
    token: "t",
    variables: [
      { key: "FF_USE_FASTZIP", value: "maybe" },
      { key: "FF_USE_DIRECT_DOWNLOAD", value: "yes" },
      { key: "FF_SCRIPT_SECTIONS", value: "1" },
      { key: "FF_NETWORK_PER_BUILD", value: "" },
      { key: "FF_PRINT_POD_EVENTS", value: "maybe" },
    ],
  });
  const runner = { featureFlags: { FF_PRINT_POD_EVENTS: true }, environment: ["FF_USE_FASTZIP=x"] };
  assert.deepEqual(unparsableFeatureFlags(runner, variables), [
    { name: "FF_USE_DIRECT_DOWNLOAD", value: "yes" },
    { name: "FF_USE_FASTZIP", value: "maybe" },
  ]);
  const flags = featureFlagsForJob(runner, variables);
  assert.equal(flags["FF_USE_FASTZIP"], false);
  assert.equal(flags["FF_USE_DIRECT_DOWNLOAD"], false, "default true, but a bad value is false");
  assert.equal(flags["FF_SCRIPT_SECTIONS"], true);
});
