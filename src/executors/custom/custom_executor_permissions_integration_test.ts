/**
 * The executor process runs with only the permissions the custom executor
 * needs (docs/security.md): run its driver programs and `kill` (Deno.kill
 * needs --allow-run for everything, so process groups are signalled through
 * kill(1)), read and write its own temp dir, read the environment.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const DRIVER = fileURLToPath(new URL("./testdata/driver.sh", import.meta.url));
const JOB = fileURLToPath(new URL("./testdata/restricted_job.ts", import.meta.url));

async function runRestricted(
  dir: string,
  extra: string[] = [],
  runnable: string[] = [],
): Promise<Record<string, unknown>> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-run=${[DRIVER, "kill", ...runnable].join(",")}`,
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-env",
      JOB,
      DRIVER,
      dir,
      ...extra,
    ],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assert.ok(result.success, `restricted job failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

async function isGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

Deno.test("CustomExecutor runs and cancels a job with only its drivers, kill and its own dir allowed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "custom-executor-perms-" });
  try {
    const summary = await runRestricted(dir);
    assert.equal(summary["error"], undefined);
    assert.notEqual(summary["cancelledCode"], 0);
    const pid = Number((await Deno.readTextFile(`${dir}/run-sleep.pid`)).trim());
    assert.ok(await isGone(pid), "the driver's sleep child survived the cancel");
    const calls = (await Deno.readTextFile(`${dir}/calls.log`))
      .split("\n").filter((l) => l.startsWith("CALL ")).map((l) => l.split(" ")[1]);
    assert.deepEqual(calls, ["config", "prepare", "run", "cleanup"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CustomExecutor cannot start a program that is not a configured driver", async () => {
  const dir = await Deno.makeTempDir({ prefix: "custom-executor-perms-" });
  try {
    const summary = await runRestricted(dir, ["/usr/bin/env"]);
    assert.match(
      String(summary["error"]),
      /Cannot start prepare_exec "\/usr\/bin\/env": not allowed/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CustomExecutor does not call a driver it may not read 'no such file' when exec(2) says ENOENT", async () => {
  const dir = await Deno.makeTempDir({ prefix: "custom-executor-perms-" });
  // Outside the readable dir: its missing interpreter cannot be looked at.
  const other = await Deno.makeTempDir({ prefix: "custom-executor-driver-" });
  const driver = `${other}/crlf.sh`;
  await Deno.writeTextFile(driver, "#!/bin/sh\r\nexit 0\r\n", { mode: 0o755 });
  try {
    const summary = await runRestricted(dir, [driver], [driver]);
    assert.match(
      String(summary["error"]),
      /Cannot start prepare_exec ".*crlf\.sh": Failed to spawn .*No such file or directory/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});
