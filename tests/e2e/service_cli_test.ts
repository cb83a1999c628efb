/**
 * End to end: `runner install | start | stop | … ` refuse what they would
 * otherwise ignore or install broken, before touching the service manager.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runCli, runnerToml } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";

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
      assert.equal(existsSync(`/etc/init.d/${name}`), false, "no init script written");
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
      assert.equal(existsSync(`/etc/init.d/${name}`), false, "no init script written");
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
      assert.equal(existsSync(`/etc/init.d/${name}`), false, "no init script written");
    } finally {
      await Deno.remove(unit).catch(() => {});
      await Deno.remove(`/home/${user}`, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "on a Linux host where systemd does not run, install writes a SysV init script enabled at boot; start runs a job, status, stop and uninstall leave nothing running",
  {
    // The case of this project's CI containers; where systemd runs, the unit is used instead.
    ignore: Deno.build.os !== "linux" || Deno.uid() !== 0 ||
      existsSync("/run/systemd/system") || existsSync("/run/openrc"),
  },
  async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const registered = gitlab.createRunner();
    const dir = await Deno.makeTempDir({ prefix: "runner-sysv-e2e-" });
    const name = `runner-sysv-e2e-${crypto.randomUUID().slice(0, 8)}`;
    const script = `/etc/init.d/${name}`;
    const envFile = `/etc/sysconfig/${name}`;
    const madeSysconfig = !existsSync("/etc/sysconfig");
    const hasUpdateRcd = existsSync("/usr/sbin/update-rc.d") || existsSync("/sbin/update-rc.d");
    try {
      const config = join(dir, "config.toml");
      await Deno.writeTextFile(
        config,
        `concurrent = 1\ncheck_interval = 1\n${runnerToml(gitlab.url, registered.token)}`,
        { mode: 0o600 },
      );
      // Jobs' login shells get a clean HOME, and the runner from source its Deno cache.
      await Deno.mkdir("/etc/sysconfig", { recursive: true });
      const { HOME, DENO_DIR } = cleanHome();
      await Deno.writeTextFile(envFile, `HOME='${HOME}'\nDENO_DIR='${DENO_DIR}'\n`);

      const install = await runCli(["install", "-n", name, "-i", "root", "-c", config, "-d", dir]);
      assert.equal(install.code, 0, install.stderr);

      assert.equal((await Deno.stat(script)).mode! & 0o777, 0o755);
      if (hasUpdateRcd) {
        assert.ok(
          [...Deno.readDirSync("/etc/rc2.d")].some((e) =>
            new RegExp(`^S\\d\\d${name}$`).test(e.name)
          ),
          "update-rc.d linked it for runlevel 2",
        );
      }
      const again = await runCli(["install", "-n", name, "-i", "root", "-c", config, "-d", dir]);
      assert.equal(again.code, 1);
      assert.match(
        again.stderr,
        new RegExp(`"${script}" exists: the service is already installed`),
      );

      const stopped = await runCli(["status", "-n", name]);
      assert.equal(stopped.code, 1);
      assert.equal(stopped.stderr.trim().split("\n").at(-1), `${name}: Service has stopped`);

      const start = await runCli(["start", "-n", name]);
      assert.equal(start.code, 0, start.stderr);
      const running = await runCli(["status", "-n", name]);
      assert.equal(running.code, 0, running.stderr);
      assert.equal(running.stdout, `${name}: Service is running\n`);
      const job = gitlab.enqueueJob({
        script: ["echo served by the init script"],
        variables: NO_GIT,
      });
      const done = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 }).catch(
        async (error) => {
          throw new Error(`${error}\n${await serviceLog(name)}`);
        },
      );
      assert.equal(done.status, "success", done.trace + await serviceLog(name));
      assert.match(done.trace, /served by the init script/);
      assert.ok(runnersOf(name).length > 0);

      const before = runnersOf(name);
      const restart = await runCli(["restart", "-n", name]);
      assert.equal(restart.code, 0, restart.stderr);
      const after = runnersOf(name);
      assert.equal(after.length, 1, "one runner after restart");
      assert.ok(!before.includes(after[0]!), "restart started a new runner");
      assert.equal((await runCli(["status", "-n", name])).code, 0);

      const session = after[0]!;
      // The runner starts a spare executor process at start.
      for (let i = 0; i < 150 && inSession(session).length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(inSession(session).length > 1, "the runner's executor processes share its session");
      const stop = await runCli(["stop", "-n", name]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.deepEqual(runnersOf(name), [], "stop left no runner process");
      assert.deepEqual(inSession(session), [], "nor any process of its session");
      const afterStop = await runCli(["status", "-n", name]);
      assert.equal(afterStop.code, 1);
      assert.match(afterStop.stderr, new RegExp(`${name}: Service has stopped`));

      // Uninstall stops a running service before it removes the script.
      assert.equal((await runCli(["start", "-n", name])).code, 0);
      assert.ok(runnersOf(name).length > 0);
      const uninstall = await runCli(["uninstall", "-n", name]);
      assert.equal(uninstall.code, 0, uninstall.stderr);
      assert.deepEqual(runnersOf(name), [], "uninstall left no runner process");
      assert.equal(existsSync(script), false);
      assert.ok(existsSync(`/var/log/${name}.err`), "the log files stay");
      assert.deepEqual(
        [0, 1, 2, 3, 4, 5, 6].flatMap((level) =>
          [...Deno.readDirSync(`/etc/rc${level}.d`)].filter((e) => e.name.endsWith(name))
        ),
        [],
        "no rc links left",
      );
      const gone = await runCli(["status", "-n", name]);
      assert.match(gone.stderr, new RegExp(`${name}: the service is not installed`));
    } finally {
      if (existsSync(script)) {
        await new Deno.Command(script, { args: ["stop"] }).output().catch(() => {});
        await new Deno.Command("update-rc.d", { args: ["-f", name, "remove"] }).output()
          .catch(() => {});
      }
      for (const pid of runnersOf(name)) Deno.kill(pid, "SIGKILL");
      for (
        const path of [
          script,
          envFile,
          `/var/log/${name}.log`,
          `/var/log/${name}.err`,
          `/var/run/${name}.pid`,
        ]
      ) {
        await Deno.remove(path).catch(() => {});
      }
      if (madeSysconfig) await Deno.remove("/etc/sysconfig").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The runner's log files of a SysV service, for a failure message. */
async function serviceLog(name: string): Promise<string> {
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  return `--- /var/log/${name}.log\n${await read(
    `/var/log/${name}.log`,
  )}--- /var/log/${name}.err\n${await read(`/var/log/${name}.err`)}`;
}

/** Pids of the processes of session `sid` (field 6 of /proc/<pid>/stat). */
function inSession(sid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[3]) === sid) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Pids of processes whose arguments hold `--service <name>`. */
function runnersOf(name: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (args.some((arg, i) => arg === "--service" && args[i + 1] === name)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

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
      assert.equal(existsSync(`/etc/init.d/${name}`), false, "no init script written");
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
