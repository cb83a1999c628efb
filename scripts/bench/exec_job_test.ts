import assert from "node:assert/strict";
import { assertSkipsWithoutPrograms, benchPath, runBench } from "./_bench_test_run.ts";

Deno.test("the exec_job bench skips, naming git and its package, when git is not installed", async () => {
  await assertSkipsWithoutPrograms(
    benchPath("exec_job"),
    ["--runs", "1"],
    "Skipping exec_job benchmark: git is not installed (apt-get install git; .ci/run installs it)",
  );
});

Deno.test("the exec_job bench prints the design's floor, an executor subprocess and two login-shell stages with no runner code, against bash and against runner exec", async () => {
  const { success, report, errors } = await runBench(benchPath("exec_job"), ["--runs", "1"]);
  assert.ok(success, `${report}\n${errors}`);
  assert.match(report, /^ {2}floor, no runner code +\d+ ms +\+-?\d+ ms/m);
  assert.match(
    report,
    /^ {2}floor - bash: -?\d+ ms \(an executor subprocess and two login-shell stages, no runner code(: above the goal)?\); runner exec - floor: -?\d+ ms$/m,
  );
});
