import assert from "node:assert/strict";
import { serviceRunnerCommand } from "./service.ts";

Deno.test("a service from source starts deno run with the compiled grants, V8 flags, no code cache and lazy imports of the runner task; a compiled binary starts itself", () => {
  assert.deepEqual(serviceRunnerCommand("/usr/bin/deno", "/opt/runner/src/cli/main.ts"), [
    "/usr/bin/deno",
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    "--unstable-worker-options",
    "--no-prompt",
    "--v8-flags=--max-semi-space-size=1,--expose-gc-as=runnerGc,--invocation-count-for-maglev=1200,--invocation-count-for-maglev-osr=300",
    "--no-code-cache",
    "--unstable-lazy-dynamic-imports",
    "/opt/runner/src/cli/main.ts",
  ]);
  assert.deepEqual(serviceRunnerCommand("/usr/local/bin/runner", "/x/main.ts"), [
    "/usr/local/bin/runner",
  ]);
});
