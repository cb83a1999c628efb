import { assertRefusesFlags, assertSkipsWithoutPrograms, benchPath } from "./_bench_test_run.ts";

const CACHE_S3 = benchPath("cache_s3");

Deno.test("the cache_s3 bench refuses a bad --files or --runs, naming it, before it measures", async () => {
  await assertRefusesFlags(CACHE_S3, ["--files", "20", "--runs", "1"], [
    [["--files", "abc"], '--files must be a positive integer: got "abc"'],
    [["--runs", "0"], '--runs must be a positive integer: got "0"'],
  ]);
});

Deno.test("the cache_s3 bench skips, naming its baseline's programs and their packages, when they are not installed", async () => {
  await assertSkipsWithoutPrograms(
    CACHE_S3,
    ["--files", "20", "--runs", "1"],
    "Skipping cache_s3 benchmark: zip, unzip, curl are not installed " +
      "(apt-get install zip unzip curl; .ci/run installs them)",
  );
});
