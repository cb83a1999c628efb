import { assertSkipsWithoutPrograms, benchPath } from "./_bench_test_run.ts";

Deno.test("the exec_job bench skips, naming git and its package, when git is not installed", async () => {
  await assertSkipsWithoutPrograms(
    benchPath("exec_job"),
    ["--runs", "1"],
    "Skipping exec_job benchmark: git is not installed (apt-get install git; .ci/run installs it)",
  );
});
