import assert from "node:assert/strict";
import { assertRefusesFlags, benchPath, runBench } from "./_bench_test_run.ts";

const SSH_JOB = benchPath("ssh_job");

Deno.test("the ssh_job bench refuses a bad --runs or --mb, naming it, before it measures", async () => {
  await assertRefusesFlags(SSH_JOB, ["--runs", "1"], [
    [["--runs", "0"], '--runs must be a positive integer: got "0"'],
    [["--mb", "abc"], '--mb must be a multiple of 10 (10, 20, …): got "abc"'],
    // The tree goes by 10 MB: --mb 5 made 10 MB and reported MB/s for 5.
    [["--mb", "5"], '--mb must be a multiple of 10 (10, 20, …): got "5"'],
  ]);
});

Deno.test("the ssh_job bench takes a --runs and --mb given with --quick", async () => {
  const { success, report, errors } = await runBench(SSH_JOB, [
    "--quick",
    "--runs",
    "1",
    "--mb",
    "10",
  ]);
  assert.ok(success, `${report}\n${errors}`);
  if (report.startsWith("Skipping")) return; // no sshd here: nothing to count
  // --quick alone times 3 runs of a 20 MB tree.
  assert.match(report, /^tree {5}10 MB: /m);
});
