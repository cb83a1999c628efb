import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SSH_JOB = join(dirname(fileURLToPath(import.meta.url)), "ssh_job.ts");

Deno.test("the ssh_job bench refuses a bad --runs or --mb, naming it, before it measures", async () => {
  for (
    const [flags, message] of [
      [["--runs", "0"], '--runs must be a positive integer: got "0"'],
      [["--mb", "abc"], '--mb must be a multiple of 10 (10, 20, …): got "abc"'],
      // The tree goes by 10 MB: --mb 5 made 10 MB and reported MB/s for 5.
      [["--mb", "5"], '--mb must be a multiple of 10 (10, 20, …): got "5"'],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", SSH_JOB, "--runs", "1", ...flags],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.equal(out.success, false, `${flags.join(" ")} was taken:\n${report}`);
    assert.ok(new TextDecoder().decode(out.stderr).includes(message), flags.join(" "));
    assert.equal(report, "", "nothing measured");
  }
});

Deno.test("the ssh_job bench takes a --runs and --mb given with --quick", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SSH_JOB, "--quick", "--runs", "1", "--mb", "10"],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).output();
  const report = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
  if (report.startsWith("Skipping")) return; // no sshd here: nothing to count
  // --quick alone times 3 runs of a 20 MB tree.
  assert.match(report, /^tree {5}10 MB: /m);
});
