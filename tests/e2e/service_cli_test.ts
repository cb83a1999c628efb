/**
 * End to end: `runner install | start | stop | … ` refuse what they would
 * otherwise ignore or install broken, before touching the service manager.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../fixtures/runner_process.ts";

Deno.test("start, stop, restart, uninstall and status refuse the flags only install reads, naming them", async () => {
  const cases: [string[], string][] = [
    [["start", "--working-directory", "/srv/runner"], "working-directory"],
    [["stop", "-c", "/etc/other/config.toml"], "config"],
    [["restart", "--syslog"], "syslog"],
    [["uninstall", "--user", "gitlab-runner"], "user"],
    [["status", "-i", "gitlab-runner"], "init-user"],
  ];
  for (const [args, flag] of cases) {
    const res = await runCli([...args, "-n", "runner-flags-test-none"]);
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(
      res.stderr,
      new RegExp(`ERROR: Flag --${flag} is read by install only: ${args[0]} acts on the service`),
    );
  }
});

Deno.test(
  "install refuses a config.toml the service could not start with, naming its line, and installs nothing",
  {
    ignore: Deno.build.os !== "linux",
  },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "runner-install-" });
    const name = `runner-install-test-${crypto.randomUUID().slice(0, 8)}`;
    const isRoot = Deno.uid() === 0;
    const unit = isRoot
      ? `/etc/systemd/system/${name}.service`
      : join(dir, ".config", "systemd", "user", `${name}.service`);
    try {
      const config = join(dir, "config.toml");
      await Deno.writeTextFile(config, `concurrent = 1\n[[runners]\nname = "x"\n`);
      const res = await runCli(
        [
          "install",
          "-n",
          name,
          "-c",
          config,
          ...(isRoot ? ["--user", "nobody"] : ["--user-service"]),
        ],
        { env: { HOME: dir } },
      );
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, new RegExp(`ERROR: ${config}:2: `));
      assert.equal(await Deno.stat(unit).then(() => true, () => false), false, "no unit written");
    } finally {
      await Deno.remove(unit).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "install --init-user or --user of a user that does not exist, or a working directory that does not, is refused naming it, and installs nothing",
  {
    ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  },
  async () => {
    const user = `no-such-user-${crypto.randomUUID().slice(0, 8)}`;
    const name = `runner-init-user-test-${crypto.randomUUID().slice(0, 8)}`;
    const unit = `/etc/systemd/system/${name}.service`;
    const dir = await Deno.makeTempDir({ prefix: "runner-install-" });
    try {
      const res = await runCli(["install", "-n", name, "--init-user", user]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(
        res.stderr,
        new RegExp(`Cannot find the home directory of --init-user "${user}"`),
      );
      assert.equal(await Deno.stat(unit).then(() => true, () => false), false, "no unit written");
      assert.equal(await Deno.stat(`/home/${user}`).then(() => true, () => false), false);
      const withUser = await runCli([
        "install",
        "-n",
        name,
        "--user",
        user,
        "-c",
        `${dir}/config.toml`,
      ]);
      assert.equal(withUser.code, 1, withUser.stderr);
      assert.match(
        withUser.stderr,
        new RegExp(`ERROR: No user "${user}" on this host \\(--user\\)`),
      );
      // With --config the home is not looked up; the user must still exist (User= of the unit).
      const withConfig = await runCli([
        "install",
        "-n",
        name,
        "--init-user",
        user,
        "-c",
        `${dir}/config.toml`,
      ]);
      assert.equal(withConfig.code, 1, withConfig.stderr);
      assert.match(
        withConfig.stderr,
        new RegExp(`ERROR: No user "${user}" on this host \\(--init-user\\)`),
      );
      const missing = `/nonexistent-${user}`;
      const withDir = await runCli([
        "install",
        "-n",
        name,
        "--user",
        "root",
        "-d",
        missing,
        "-c",
        `${dir}/config.toml`,
      ]);
      assert.equal(withDir.code, 1, withDir.stderr);
      assert.match(
        withDir.stderr,
        new RegExp(
          `ERROR: Working directory "${missing}" \\(--working-directory\\) is not a directory`,
        ),
      );
      assert.equal(await Deno.stat(unit).then(() => true, () => false), false, "no unit written");
    } finally {
      await Deno.remove(unit).catch(() => {});
      await Deno.remove(`/home/${user}`, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "install on a Linux host where systemd does not run is refused saying so, and writes neither unit nor config",
  {
    // The case of this project's CI containers; where systemd runs there is nothing to see.
    ignore: Deno.build.os !== "linux" || Deno.uid() !== 0 ||
      existsSync("/run/systemd/system"),
  },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "runner-install-" });
    const name = `runner-no-systemd-test-${crypto.randomUUID().slice(0, 8)}`;
    const unit = `/etc/systemd/system/${name}.service`;
    try {
      const config = join(dir, "config.toml");
      const res = await runCli(["install", "-n", name, "--user", "root", "-c", config]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(
        res.stderr,
        new RegExp(
          `ERROR: Cannot install service "${name}": systemd is not running on this host \\(no /run/systemd/system\\)`,
        ),
      );
      assert.equal(existsSync(unit), false, "no unit written");
      assert.equal(existsSync(config), false, "no config written");
      const status = await runCli(["status", "-n", name]);
      assert.equal(status.code, 1, status.stderr);
      assert.match(status.stderr, /systemd is not running on this host/);
    } finally {
      await Deno.remove(unit).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("an empty --service, --config, --working-directory, --user or --init-user is refused naming it, not taken as the default", async () => {
  // `runner uninstall -n "$NAME"` with NAME unset must not uninstall gitlab-runner.
  const cases: [string[], string][] = [
    [["uninstall", "-n", ""], "service"],
    [["stop", "--service="], "service"],
    [["install", "--user", "root", "-c", ""], "config"],
    [["install", "--user", "root", "-d", ""], "working-directory"],
    [["install", "--user", ""], "user"],
    [["install", "--init-user", ""], "init-user"],
  ];
  for (const [args, flag] of cases) {
    const res = await runCli(args);
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, new RegExp(`ERROR: Flag --${flag} is empty`), args.join(" "));
  }
});

Deno.test(
  "install --init-user refuses a working directory or config.toml that user cannot reach, naming both, and installs nothing",
  { ignore: Deno.build.os !== "linux" || Deno.uid() !== 0 },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "runner-install-" });
    const name = `runner-access-test-${crypto.randomUUID().slice(0, 8)}`;
    const unit = `/etc/systemd/system/${name}.service`;
    try {
      await Deno.chmod(dir, 0o755);
      const closed = join(dir, "closed");
      await Deno.mkdir(join(closed, "work"), { recursive: true });
      await Deno.chmod(closed, 0o700);
      const config = join(dir, "config.toml");
      await Deno.writeTextFile(config, "concurrent = 1\n", { mode: 0o600 });
      await Deno.chmod(config, 0o600);
      const work = join(closed, "work");
      const res = await runCli(["install", "-n", name, "-i", "nobody", "-d", work, "-c", config]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(
        res.stderr,
        new RegExp(
          `ERROR: User "nobody" \\(--init-user\\) cannot enter "${work}" \\(--working-directory\\): "${closed}" is closed to it`,
        ),
      );
      const open = join(dir, "open");
      await Deno.mkdir(open, { mode: 0o755 });
      await Deno.chmod(open, 0o755);
      const res2 = await runCli(["install", "-n", name, "-i", "nobody", "-d", open, "-c", config]);
      assert.equal(res2.code, 1, res2.stderr);
      assert.match(
        res2.stderr,
        new RegExp(
          `ERROR: User "nobody" \\(--init-user\\) cannot read "${config}" \\(--config\\): "${config}" is closed to it`,
        ),
      );
      assert.equal(existsSync(unit), false, "no unit written");
    } finally {
      await Deno.remove(unit).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("help of start, stop, restart, uninstall and status lists only the flags they take", async () => {
  for (const action of ["start", "stop", "restart", "uninstall", "status"]) {
    const res = await runCli([action, "--help"]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /--service, -n value/, action);
    assert.match(res.stdout, /--user-service/, action);
    for (
      const flag of ["working-directory", "config", "user,", "init-user", "password", "syslog"]
    ) {
      assert.ok(
        !res.stdout.includes(`--${flag}`),
        `${action} --help lists --${flag}:\n${res.stdout}`,
      );
    }
  }
  const install = await runCli(["install", "--help"]);
  for (const flag of ["working-directory", "config", "user,", "init-user", "syslog"]) {
    assert.ok(install.stdout.includes(`--${flag}`), flag);
  }
});
