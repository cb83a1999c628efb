import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const EXEC_JOB = join(dirname(fileURLToPath(import.meta.url)), "exec_job.ts");

Deno.test("the exec_job bench skips, naming git and its package, when git is not installed", async () => {
  const emptyPath = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", EXEC_JOB, "--runs", "1"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", PATH: emptyPath },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
    assert.equal(
      report,
      "Skipping exec_job benchmark: git is not installed (apt-get install git; .ci/run installs it)\n",
    );
  } finally {
    await Deno.remove(emptyPath);
  }
});
