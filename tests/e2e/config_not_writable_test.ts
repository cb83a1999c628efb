/**
 * End to end: the commands that edit config.toml, when its directory cannot be
 * written (read-only mount, another user's directory): they say so naming the
 * file, exit 1 without a stack trace, and change nothing in GitLab that the
 * file could then not record.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runCli } from "../fixtures/runner_process.ts";

/**
 * Makes `dir` unwritable for this user: mode 0500, or for root (whom modes do
 * not stop) the immutable attribute. Returns the undo, or null when the file
 * system cannot do it.
 */
async function makeUnwritable(dir: string): Promise<(() => Promise<void>) | null> {
  if (Deno.uid() !== 0) {
    await Deno.chmod(dir, 0o500);
    return () => Deno.chmod(dir, 0o700);
  }
  const chattr = (flag: string) => new Deno.Command("chattr", { args: [flag, dir] }).output();
  const done = await chattr("+i").catch(() => null);
  if (!done?.success) return null;
  return async () => {
    await chattr("-i");
  };
}

Deno.test(
  "unregister, reset-token, verify --delete and register with an unwritable config directory fail naming the file and leave GitLab as it was",
  {
    ignore: Deno.build.os === "windows",
  },
  async (t) => {
    await using gitlab = await FakeGitLab.start();
    const created = gitlab.createRunner({ kind: "created" });
    const legacy = gitlab.createRunner({ kind: "registered" });
    const dir = await Deno.makeTempDir({ prefix: "runner-readonly-" });
    const config = join(dir, "config.toml");
    await Deno.writeTextFile(
      config,
      `concurrent = 1\n` +
        `[[runners]]\nname = "a"\nurl = "${gitlab.url}"\ntoken = "${created.token}"\nid = ${created.id}\nexecutor = "shell"\n` +
        `[[runners]]\nname = "b"\nurl = "${gitlab.url}"\ntoken = "${legacy.token}"\nexecutor = "shell"\n` +
        `[[runners]]\nname = "gone"\nurl = "${gitlab.url}"\ntoken = "glrt-doesnotexist123"\nexecutor = "shell"\n`,
    );
    const before = await Deno.readTextFile(config);
    // The system ID is made now: the commands would otherwise try (and warn) to save it.
    assert.equal((await runCli(["list", "-c", config])).code, 0);
    await runCli(["verify", "-n", "a", "-c", config]);
    const undo = await makeUnwritable(dir);
    if (undo === null) {
      t.step({ name: "skipped: chattr +i is not available here", ignore: true, fn() {} });
      await Deno.remove(dir, { recursive: true });
      return;
    }
    try {
      const cases: [string, string[], RegExp][] = [
        ["unregister", ["unregister", "--name", "b"], /: nothing was unregistered$/m],
        ["reset-token", ["reset-token", "--name", "a"], /: nothing was reset$/m],
        ["verify --delete", ["verify", "--delete"], /^ERROR: Cannot save config file/m],
        [
          "register",
          [
            "register",
            "-n",
            "-u",
            gitlab.url,
            "-r",
            "GR1348941fake-registration",
            "--executor",
            "shell",
          ],
          /: nothing was registered$/m,
        ],
      ];
      const runnersBefore = gitlab.runners().length;
      for (const [label, args, message] of cases) {
        await t.step(label, async () => {
          const res = await runCli([...args, "-c", config]);
          assert.equal(res.code, 1, res.stderr);
          assert.match(res.stderr, new RegExp(`ERROR: Cannot save config file "${config}"`));
          assert.match(res.stderr, message);
          assert.doesNotMatch(res.stderr, /FATAL|\n +at /, "no stack trace");
        });
      }
      assert.notEqual(
        gitlab.runnerOf(legacy.id),
        undefined,
        "the legacy runner is still in GitLab",
      );
      assert.equal(gitlab.requestsTo("unregister_runner").length, 0);
      assert.equal(gitlab.requestsTo("reset_token").length, 0, "no token was reset");
      assert.equal(gitlab.runners().length, runnersBefore, "no runner was registered");
      assert.equal(await Deno.readTextFile(config), before);
    } finally {
      await undo();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("register with --config naming a device (as /dev/null) refuses to replace it", {
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
}, async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-device-" });
  try {
    // A null device of our own: the test must not risk the host's /dev/null.
    const device = join(dir, "config.toml");
    const made = await new Deno.Command("mknod", { args: [device, "c", "1", "3"] }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const res = await runCli([
      "register",
      "-n",
      "-u",
      gitlab.url,
      "-t",
      fake.token,
      "--executor",
      "shell",
      "-c",
      device,
    ]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(
      res.stderr,
      new RegExp(`ERROR: Cannot save config file "${device}": it is a character device`),
    );
    assert.ok((await Deno.stat(device)).isCharDevice, "the device is still there");
    assert.equal(gitlab.requestsTo("verify_runner").length, 0, "GitLab was not asked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
