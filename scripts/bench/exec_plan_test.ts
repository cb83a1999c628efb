import assert from "node:assert/strict";
import {
  assertRefusesFlags,
  assertSkipsWithoutPrograms,
  benchPath,
  runBench,
} from "./_bench_test_run.ts";

const EXEC_PLAN = benchPath("exec_plan");

Deno.test("the exec_plan bench lists both sizes against the one-job baseline and prints the per-job ratios", async () => {
  const { success, report, errors } = await runBench(EXEC_PLAN, ["--jobs", "10", "--runs", "1"]);
  assert.ok(success, `${report}\n${errors}`);
  assert.match(report, /^ {2}1 job +\d+ ms {2}peak RSS +\d+ MiB {2}\(baseline\)$/m);
  assert.match(
    report,
    /^ {2}20 jobs +\d+ ms {2}peak RSS +\d+ MiB {2}per job \+-?[\d.]+ ms, \+-?[\d.]+ KiB$/m,
  );
  assert.match(report, /^ {2}80 jobs +\d+ ms /m);
  assert.match(
    report,
    /per-job time, 80 jobs over 20 jobs: ratio -?[\d.]+x; per-job memory: ratio -?[\d.]+x \(goal: about 1/,
  );
});

Deno.test("the exec_plan bench refuses a size or run count that is not a positive integer", async () => {
  await assertRefusesFlags(EXEC_PLAN, [], [
    [["--jobs", "0"], '--jobs must be a positive integer: got "0"'],
    [["--runs", "two"], '--runs must be a positive integer: got "two"'],
  ]);
});

Deno.test("the exec_plan bench skips, naming git and its package, when git is not installed", async () => {
  await assertSkipsWithoutPrograms(
    EXEC_PLAN,
    ["--runs", "1"],
    "Skipping exec_plan benchmark: git is not installed (apt-get install git; .ci/run installs it)",
  );
});
