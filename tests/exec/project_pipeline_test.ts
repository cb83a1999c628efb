/**
 * Runner's own .gitlab-ci.yml runs locally with `runner exec`: the lint job and
 * the test job (with TEST_TASK=unit, so the suite does not run itself).
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../fixtures/runner_process.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

Deno.test("runner exec --list plans this project's pipeline: lint, test, then the compile matrix", async () => {
  const res = await runCli(["exec", "--list"], { cwd: ROOT });
  assert.equal(res.code, 0, res.stderr);
  const lint = res.stdout.search(/\blint\b/);
  const test = res.stdout.search(/\btest\b/);
  const compile = res.stdout.search(/compile: \[x86_64-unknown-linux-gnu\]/);
  assert.ok(lint >= 0 && test > lint && compile > test, res.stdout);
  assert.match(res.stdout, /container-image/, "the manual image job is listed as not run");
});

Deno.test("runner exec runs this project's lint and test jobs on the working tree", async () => {
  const res = await runCli(["exec", "--variable", "TEST_TASK=unit", "lint", "test"], {
    cwd: ROOT,
  });
  assert.equal(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /lint\s+lint\s+passed/);
  assert.match(res.stdout, /test\s+test\s+passed/);
  assert.match(res.stdout, /\d+ passed \| 0 failed/, "the unit tests ran inside the job");
});
