import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CACHE_S3 = join(dirname(fileURLToPath(import.meta.url)), "cache_s3.ts");

Deno.test("the cache_s3 bench refuses a bad --files or --runs, naming it, before it measures", async () => {
  for (
    const [flags, message] of [
      [["--files", "abc"], '--files must be a positive integer: got "abc"'],
      [["--runs", "0"], '--runs must be a positive integer: got "0"'],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", CACHE_S3, "--files", "20", "--runs", "1", ...flags],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.equal(out.success, false, `${flags.join(" ")} was taken:\n${report}`);
    assert.ok(new TextDecoder().decode(out.stderr).includes(message), flags.join(" "));
    assert.equal(report, "", "nothing measured");
  }
});

Deno.test("the cache_s3 bench skips, naming its baseline's programs and their packages, when they are not installed", async () => {
  const emptyPath = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", CACHE_S3, "--files", "20", "--runs", "1"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", PATH: emptyPath },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
    assert.equal(
      report,
      "Skipping cache_s3 benchmark: zip, unzip, curl are not installed " +
        "(apt-get install zip unzip curl; .ci/run installs them)\n",
    );
  } finally {
    await Deno.remove(emptyPath);
  }
});
