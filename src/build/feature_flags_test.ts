import assert from "node:assert/strict";
import { parseJobSpec } from "../job/job_spec.ts";
import { featureFlagsForJob, unparsableFeatureFlags } from "./feature_flags.ts";

Deno.test("a flag set to a value that is not a Go boolean, or empty, is listed and keeps its default, as upstream", () => {
  const { variables } = parseJobSpec({
    id: 1,
    token: "t",
    variables: [
      { key: "FF_USE_FASTZIP", value: "maybe" },
      { key: "FF_USE_DIRECT_DOWNLOAD", value: "yes" },
      { key: "FF_SCRIPT_SECTIONS", value: "1" },
      { key: "FF_NETWORK_PER_BUILD", value: "" },
      { key: "FF_TIMESTAMPS", value: "" },
      { key: "FF_PRINT_POD_EVENTS", value: "maybe" },
    ],
  });
  const runner = { featureFlags: { FF_PRINT_POD_EVENTS: true }, environment: ["FF_USE_FASTZIP=x"] };
  assert.deepEqual(unparsableFeatureFlags(runner, variables), [
    { name: "FF_NETWORK_PER_BUILD", value: "", fallback: false },
    { name: "FF_USE_DIRECT_DOWNLOAD", value: "yes", fallback: true },
    { name: "FF_USE_FASTZIP", value: "maybe", fallback: false },
    { name: "FF_TIMESTAMPS", value: "", fallback: true },
  ]);
  const flags = featureFlagsForJob(runner, variables);
  assert.equal(flags["FF_USE_FASTZIP"], false);
  // Upstream's populateFeatureFlags keeps the default when ParseBool fails.
  assert.equal(flags["FF_USE_DIRECT_DOWNLOAD"], true, "default true: a bad value keeps it on");
  assert.equal(flags["FF_TIMESTAMPS"], true, "an empty value keeps the default too");
  assert.equal(flags["FF_NETWORK_PER_BUILD"], false);
  assert.equal(flags["FF_SCRIPT_SECTIONS"], true);
  assert.equal(flags["FF_PRINT_POD_EVENTS"], true, "[runners.feature_flags] wins");
});
