/**
 * The generated SysV init script run for real, with a stand-in for the runner
 * (a shell script that prints what it was given): the pid file, logs and
 * /etc/sysconfig file are the real ones of a uniquely named service.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defineService } from "./service_definition.ts";
import { renderSysvInitScript } from "./sysv_init_script.ts";
import { linuxRoot } from "./_service_fakes.ts";

const IGNORE = Deno.build.os !== "linux" || Deno.uid() !== 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A service named uniquely, its script in a temp dir; disposing stops it and removes every file. */
async function scriptFor(
  runner: string,
  options: { envFile?: string; workingDirectory?: string; jobUser?: string },
) {
  const dir = await Deno.makeTempDir({ prefix: "runner-sysv-" });
  await Deno.chmod(dir, 0o755);
  const name = `runner-sysv-test-${crypto.randomUUID().slice(0, 8)}`;
  const executable = join(dir, "fake-runner");
  await Deno.writeTextFile(executable, runner, { mode: 0o755 });
  const def = defineService(
    "install",
    {
      service: name,
      ...(options.jobUser === undefined ? { initUser: "nobody" } : { user: options.jobUser }),
      config: join(dir, "config.toml"),
      workingDirectory: options.workingDirectory ?? dir,
    },
    linuxRoot({ linuxInit: "sysv", command: [executable], homeOf: () => "/nonexistent" }),
  );
  const script = join(dir, name);
  await Deno.writeTextFile(script, renderSysvInitScript(def), { mode: 0o755 });
  const envFile = `/etc/sysconfig/${name}`;
  const madeSysconfig = options.envFile !== undefined && !exists("/etc/sysconfig");
  if (options.envFile !== undefined) {
    await Deno.mkdir("/etc/sysconfig", { recursive: true });
    await Deno.writeTextFile(envFile, options.envFile);
  }
  const run = async (action: string, asUser?: string): Promise<Run> => {
    const argv = asUser === undefined ? ["-i", script, action] : [
      "-i",
      "setpriv",
      `--reuid=${asUser}`,
      `--regid=${idOf(asUser, "-g")}`,
      "--clear-groups",
      script,
      action,
    ];
    // From a caller with a strict umask: the script sets systemd's.
    const out = await new Deno.Command("sh", {
      args: ["-c", 'umask 077; exec env "$@"', "sh", ...argv],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  };
  const log = () => Deno.readTextFile(`/var/log/${name}.log`).catch(() => "");
  return {
    name,
    dir,
    run,
    log,
    pidFile: `/var/run/${name}.pid`,
    async waitForLog(pattern: RegExp): Promise<string> {
      for (let i = 0; i < 100; i++) {
        const text = await log();
        if (pattern.test(text)) return text;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`log never matched ${pattern}:\n${await log()}`);
    },
    async [Symbol.asyncDispose]() {
      await run("stop");
      for (
        const path of [
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
    },
  };
}

function idOf(user: string, flag: "-u" | "-g"): string {
  const out = new Deno.Command("id", { args: [flag, user], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie. */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

const REPORTING_RUNNER = `#!/bin/sh
for arg in "$@"; do echo "arg: $arg"; done
echo "user=$(id -un) home=$HOME USER=$USER LOGNAME=$LOGNAME SHELL=$SHELL cwd=$(pwd) FOO=$FOO"
echo "PATH=$PATH umask=$(umask)"
echo "session=$(ps -o sid= -p $$ | tr -d ' ') pid=$$"
trap 'echo "got SIGTERM"; exit 0' TERM
while :; do sleep 0.1; done
`;

Deno.test(
  "the SysV script starts the runner detached, as --init-user, in the working directory, with /etc/sysconfig/<name>, and stops it with SIGTERM",
  {
    ignore: IGNORE,
  },
  async () => {
    await using svc = await scriptFor(REPORTING_RUNNER, { envFile: "FOO='from the env file'\n" });
    const started = await svc.run("start");
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const pid = Number(await Deno.readTextFile(svc.pidFile));
    const log = await svc.waitForLog(/^session=/m);
    assert.match(
      log,
      /^user=nobody home=\/nonexistent USER=nobody LOGNAME=nobody SHELL=\/usr\/sbin\/nologin cwd=\/tmp\/runner-sysv-\S+ FOO=from the env file$/m,
    );
    assert.match(
      log,
      /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin umask=0022$/m,
    );
    assert.equal((await Deno.stat(svc.pidFile)).mode! & 0o777, 0o644, "status works without root");
    assert.match(
      log,
      new RegExp(`^session=${pid} pid=${pid}$`, "m"),
      "the pid file names the runner, which leads its own session",
    );
    const args = [...log.matchAll(/^arg: (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(args, [
      "run",
      "--config",
      join(svc.dir, "config.toml"),
      "--working-directory",
      svc.dir,
      "--service",
      svc.name,
      "--syslog",
    ]);

    const status = await svc.run("status");
    assert.equal(status.code, 0);
    assert.equal(status.stdout, `${svc.name} is running (pid ${pid})\n`);
    const again = await svc.run("start");
    assert.equal(again.stdout, `${svc.name} is already running (pid ${pid})\n`);
    const statusAsNobody = await svc.run("status", "nobody");
    assert.equal(statusAsNobody.code, 0, "status needs no root");
    const asNobody = await svc.run("stop", "nobody");
    assert.equal(asNobody.code, 4, asNobody.stderr);
    assert.match(asNobody.stderr, /stop: needs root/);
    assert.ok(isAlive(pid));

    const stopped = await svc.run("stop");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(await svc.log(), /^got SIGTERM$/m);
    assert.equal(isAlive(pid), false);
    assert.equal(exists(svc.pidFile), false);
    const after = await svc.run("status");
    assert.equal(after.code, 3);
    assert.equal(after.stdout, `${svc.name} is not running\n`);
  },
);

Deno.test(
  "the SysV script kills the process group of a runner still there STOP_TIMEOUT after SIGTERM",
  {
    ignore: IGNORE,
  },
  async () => {
    const stubborn = `#!/bin/sh
trap 'echo "ignoring SIGTERM"' TERM
sleep 300 &
echo "child=$!"
while :; do sleep 0.1; done
`;
    await using svc = await scriptFor(stubborn, { envFile: "STOP_TIMEOUT=1\n" });
    assert.equal((await svc.run("start")).code, 0);
    const pid = Number(await Deno.readTextFile(svc.pidFile));
    const child = Number(/^child=(\d+)$/m.exec(await svc.waitForLog(/^child=\d+$/m))![1]);
    const stopped = await svc.run("stop");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /still runs 1 s after SIGTERM: killing its process group/);
    assert.match(await svc.log(), /^ignoring SIGTERM$/m);
    assert.equal(isAlive(pid), false);
    assert.equal(isAlive(child), false, "the runner's child went with it");
  },
);

Deno.test(
  "the SysV script's status says a runner that exited on its own failed, and a pid the kernel reused is neither running nor signalled",
  {
    ignore: IGNORE,
  },
  async () => {
    await using svc = await scriptFor("#!/bin/sh\nsleep 0.3\nexit 1\n", {});
    assert.equal((await svc.run("start")).code, 0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const exited = await svc.run("status");
    assert.equal(exited.code, 1, exited.stdout);
    assert.match(exited.stdout, /is not running: it exited without being stopped/);

    const other = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      await Deno.writeTextFile(svc.pidFile, `${other.pid}\n`);
      assert.equal((await svc.run("status")).code, 1);
      const stop = await svc.run("stop");
      assert.equal(stop.code, 0);
      assert.equal(stop.stdout, `${svc.name} is not running\n`);
      assert.ok(isAlive(other.pid), "an unrelated process is not signalled");
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
  },
);

Deno.test("the SysV script's start fails, saying why, when the runner cannot start", {
  ignore: IGNORE,
}, async () => {
  await using svc = await scriptFor(REPORTING_RUNNER, {
    workingDirectory: "/nonexistent-runner-dir",
  });
  const started = await svc.run("start");
  assert.equal(started.code, 1);
  assert.match(
    started.stderr,
    new RegExp(
      `^Cannot start ${svc.name}: .*/nonexistent-runner-dir.* \\(see /var/log/${svc.name}\\.err\\)$`,
      "m",
    ),
  );
  assert.equal(exists(svc.pidFile), false);
});

Deno.test(
  "with --user instead of --init-user the SysV script runs the runner as root, which is given --user",
  {
    ignore: IGNORE,
  },
  async () => {
    await using svc = await scriptFor(REPORTING_RUNNER, { jobUser: "nobody" });
    assert.equal((await svc.run("start")).code, 0);
    const log = await svc.waitForLog(/^session=/m);
    assert.match(log, /^user=root home= USER= LOGNAME= SHELL= cwd=/m);
    assert.deepEqual([...log.matchAll(/^arg: (.*)$/gm)].map((m) => m[1]).slice(-3), [
      "--syslog",
      "--user",
      "nobody",
    ]);
    assert.equal((await svc.run("stop")).code, 0);
  },
);

Deno.test(
  "a STOP_TIMEOUT that is no number of seconds is named and the default used, not taken as 0",
  {
    ignore: IGNORE,
  },
  async () => {
    await using svc = await scriptFor(REPORTING_RUNNER, { envFile: "STOP_TIMEOUT=soon\n" });
    assert.equal((await svc.run("start")).code, 0);
    await svc.waitForLog(/^session=/m);
    const stopped = await svc.run("stop");
    assert.equal(stopped.code, 0);
    assert.match(
      stopped.stderr,
      new RegExp(
        `^STOP_TIMEOUT="soon" in /etc/sysconfig/${svc.name} is not a number of seconds: using 90$`,
        "m",
      ),
    );
    assert.match(await svc.log(), /^got SIGTERM$/m, "stopped by SIGTERM, not killed at once");
  },
);
