import assert from "node:assert/strict";
import { linuxInitSystem } from "./deno_service_io.ts";
import { DEFAULT_CONFIG_TOML } from "./default_config.ts";
import { defineService } from "./service_definition.ts";
import { ServiceManager } from "./service_manager.ts";
import type { CommandResult } from "./service_plan.ts";
import { renderSysvInitScript } from "./sysv_init_script.ts";
import type { LogFields, Logger } from "../log/logger.ts";
import { linuxRoot, linuxUser, MemoryFiles, ok, ScriptedCommands } from "./_service_fakes.ts";

const sysvRoot = () => linuxRoot({ linuxInit: "sysv" });
const SCRIPT = "/etc/init.d/gitlab-runner";

class WarningLog implements Logger {
  readonly warnings: string[] = [];
  debug(_msg: string, _fields?: LogFields): void {}
  info(_msg: string, _fields?: LogFields): void {}
  warn(msg: string, _fields?: LogFields): void {
    this.warnings.push(msg);
  }
  error(_msg: string, _fields?: LogFields): void {}
  child(_fields: LogFields): Logger {
    return this;
  }
}

/** A host with /etc/init.d; `missing` programs reject as Deno.Command does. */
function sysvManager(
  options: { missing?: string[]; answer?: (argv: readonly string[]) => CommandResult } = {},
) {
  const files = new MemoryFiles();
  files.dirs.set("/etc/init.d", 0o755);
  const commands = new ScriptedCommands((argv) => {
    if (options.missing?.includes(argv[0]!)) {
      throw new Deno.errors.NotFound(`Failed to spawn '${argv[0]}': entity not found`);
    }
    return options.answer?.(argv) ?? ok("");
  });
  const log = new WarningLog();
  return { files, commands, log, manager: new ServiceManager({ commands, files, log }) };
}

Deno.test("without systemd running, Linux services are SysV init scripts that run `run` with the unit's arguments and --syslog, as upstream's", () => {
  const def = defineService("install", { user: "gitlab-runner" }, sysvRoot());
  assert.equal(def.kind, "sysv");
  assert.deepEqual(def.arguments, [
    "run",
    "--config",
    "/etc/gitlab-runner/config.toml",
    "--working-directory",
    "/home/gitlab-runner",
    "--service",
    "gitlab-runner",
    "--syslog",
    "--user",
    "gitlab-runner",
  ]);
  const script = renderSysvInitScript(def);
  assert.match(
    script,
    /set -- '\/usr\/bin\/gitlab-runner' \\\n {6}'run' \\\n {6}'--config' \\\n {6}'\/etc\/gitlab-runner\/config.toml' \\/,
  );
  assert.match(script, /^# Provides: {10}gitlab-runner$/m);
  assert.match(script, /^user=''$/m);
  assert.ok(
    !defineService("install", { user: "u", syslog: false }, sysvRoot()).arguments.includes(
      "--syslog",
    ),
  );
  assert.match(
    renderSysvInitScript(defineService("install", { initUser: "gitlab-runner" }, sysvRoot())),
    /^user='gitlab-runner'$/m,
  );
});

Deno.test("an argument with quotes, spaces, $ and a newline reaches the script as one literal word", () => {
  const def = defineService(
    "install",
    { user: "u", workingDirectory: "/srv/it's $HOME\nx" },
    sysvRoot(),
  );
  const script = renderSysvInitScript(def);
  assert.match(script, /^directory='\/srv\/it'\\''s \$HOME\nx'$/m);
});

Deno.test("a SysV host refuses --user-service, OpenRC refuses every action, naming why", () => {
  assert.throws(
    () => defineService("install", { userService: true }, linuxUser({ linuxInit: "sysv" })),
    /The --user-service flag needs systemd, which is not running on this host: SysV init has no user services/,
  );
  for (const action of ["install", "start", "status"] as const) {
    assert.throws(
      () => defineService(action, { user: "u" }, linuxRoot({ linuxInit: "openrc" })),
      new RegExp(
        `Cannot ${action} service "gitlab-runner": this host runs OpenRC \\(/run/openrc\\), for which Runner writes no service`,
      ),
    );
  }
  assert.throws(
    () => defineService("install", {}, linuxUser({ linuxInit: "sysv" })),
    /^ServiceError: Cannot install a system service without root: run as root$/,
  );
});

Deno.test("linuxInitSystem: systemd by /run/systemd/system, OpenRC by /run/openrc, else SysV", () => {
  assert.equal(linuxInitSystem((path) => path === "/run/systemd/system"), "systemd");
  assert.equal(linuxInitSystem((path) => path === "/run/openrc"), "openrc");
  assert.equal(linuxInitSystem(() => false), "sysv");
});

Deno.test("SysV install writes the config, an executable /etc/init.d script, and enables it with update-rc.d", async () => {
  const { manager, files, commands, log } = sysvManager();
  await manager.run("install", defineService("install", { user: "gitlab-runner" }, sysvRoot()));
  assert.equal(files.files.get("/etc/gitlab-runner/config.toml")?.content, DEFAULT_CONFIG_TOML);
  assert.equal(files.files.get(SCRIPT)?.mode, 0o755);
  assert.match(files.files.get(SCRIPT)?.content ?? "", /^#!\/bin\/sh\n/);
  assert.deepEqual(commands.ran, [["update-rc.d", "gitlab-runner", "defaults"]]);
  assert.deepEqual(log.warnings, []);
});

Deno.test("SysV install enables with chkconfig where update-rc.d is missing, and says so where both are", async () => {
  const redhat = sysvManager({ missing: ["update-rc.d"] });
  await redhat.manager.run("install", defineService("install", { user: "u" }, sysvRoot()));
  assert.deepEqual(redhat.commands.ran.at(-1), ["chkconfig", "--add", "gitlab-runner"]);
  assert.deepEqual(redhat.log.warnings, []);

  const neither = sysvManager({ missing: ["update-rc.d", "chkconfig"] });
  await neither.manager.run("install", defineService("install", { user: "u" }, sysvRoot()));
  assert.ok(neither.files.files.has(SCRIPT));
  assert.deepEqual(neither.log.warnings, [
    'Service "gitlab-runner" is installed but does not start at boot: neither update-rc.d nor chkconfig is on this host; link /etc/init.d/gitlab-runner into the rc directories of your init',
  ]);

  const failing = sysvManager({
    answer: (argv) =>
      argv[0] === "update-rc.d"
        ? { code: 1, stdout: "", stderr: "update-rc.d: error: bad LSB header\n" }
        : ok(""),
  });
  await assert.rejects(
    failing.manager.run("install", defineService("install", { user: "u" }, sysvRoot())),
    /Cannot install service "gitlab-runner": "update-rc.d gitlab-runner defaults" exited with 1: update-rc.d: error: bad LSB header/,
  );
});

Deno.test("SysV install refuses an installed script, and a host without /etc/init.d, before writing", async () => {
  const installed = sysvManager();
  installed.files.files.set(SCRIPT, { content: "old", mode: 0o755 });
  await assert.rejects(
    installed.manager.run("install", defineService("install", { user: "u" }, sysvRoot())),
    /Cannot install service "gitlab-runner": "\/etc\/init.d\/gitlab-runner" exists: the service is already installed/,
  );
  assert.equal(installed.files.files.get(SCRIPT)?.content, "old");

  const bare = sysvManager();
  bare.files.dirs.delete("/etc/init.d");
  await assert.rejects(
    bare.manager.run("install", defineService("install", { user: "u" }, sysvRoot())),
    /Cannot install service "gitlab-runner": neither systemd nor SysV init runs on this host \(no \/run\/systemd\/system, no \/etc\/init.d\)/,
  );
  assert.deepEqual(bare.files.log, []);
  assert.deepEqual(bare.commands.ran, []);
});

Deno.test("SysV start, stop and restart run the script with an empty environment, as `service` does", async () => {
  for (const action of ["start", "stop", "restart"] as const) {
    const { manager, commands, files } = sysvManager();
    files.files.set(SCRIPT, { content: "x", mode: 0o755 });
    await manager.run(action, defineService(action, {}, sysvRoot()));
    assert.deepEqual(commands.ran, [["env", "-i", SCRIPT, action]]);

    const absent = sysvManager();
    await assert.rejects(
      absent.manager.run(action, defineService(action, {}, sysvRoot())),
      new RegExp(
        `^ServiceError: Cannot ${action} service "gitlab-runner": "/etc/init.d/gitlab-runner" does not exist: the service is not installed$`,
      ),
    );
    assert.deepEqual(absent.commands.ran, []);
  }
  const refused = sysvManager({
    answer: () => ({ code: 4, stdout: "", stderr: `${SCRIPT} start: needs root\n` }),
  });
  refused.files.files.set(SCRIPT, { content: "x", mode: 0o755 });
  await assert.rejects(
    refused.manager.run("start", defineService("start", {}, sysvRoot())),
    /Cannot start service "gitlab-runner": "env -i \/etc\/init.d\/gitlab-runner start" exited with 4: \/etc\/init.d\/gitlab-runner start: needs root/,
  );
});

Deno.test("SysV uninstall stops the runner, disables and removes the script; a runner that does not stop keeps it", async () => {
  const { manager, files, commands } = sysvManager();
  files.files.set(SCRIPT, { content: "x", mode: 0o755 });
  await manager.run("uninstall", defineService("uninstall", {}, sysvRoot()));
  assert.deepEqual(commands.ran, [
    ["env", "-i", SCRIPT, "stop"],
    ["update-rc.d", "-f", "gitlab-runner", "remove"],
  ]);
  assert.equal(files.files.has(SCRIPT), false);

  const stuck = sysvManager({
    answer: (argv) =>
      argv[3] === "stop" ? { code: 1, stdout: "", stderr: "Cannot stop gitlab-runner" } : ok(""),
  });
  stuck.files.files.set(SCRIPT, { content: "x", mode: 0o755 });
  await assert.rejects(
    stuck.manager.run("uninstall", defineService("uninstall", {}, sysvRoot())),
    /Cannot uninstall service "gitlab-runner": "env -i \/etc\/init.d\/gitlab-runner stop" exited with 1: Cannot stop gitlab-runner/,
  );
  assert.ok(stuck.files.files.has(SCRIPT));

  const absent = sysvManager();
  await assert.rejects(
    absent.manager.run("uninstall", defineService("uninstall", {}, sysvRoot())),
    /"\/etc\/init.d\/gitlab-runner" does not exist: the service is not installed/,
  );
});

Deno.test("SysV status reads the script's LSB exit code", async () => {
  const cases: [number, string, 0 | 1][] = [
    [0, "gitlab-runner: Service is running", 0],
    [3, "gitlab-runner: Service has stopped", 1],
    [1, "gitlab-runner: service in failed state", 1],
    [4, "gitlab-runner: Service status unknown: x", 1],
  ];
  for (const [code, message, exitCode] of cases) {
    const { manager, files, commands } = sysvManager({
      answer: () => ({ code, stdout: "", stderr: "x\n" }),
    });
    files.files.set(SCRIPT, { content: "x", mode: 0o755 });
    const status = await manager.status(defineService("status", {}, sysvRoot()));
    assert.deepEqual([status.message, status.exitCode], [message, exitCode], `code ${code}`);
    assert.deepEqual(commands.ran, [["env", "-i", SCRIPT, "status"]]);
  }
  const absent = sysvManager({ answer: () => ({ code: 127, stdout: "", stderr: "" }) });
  assert.equal(
    (await absent.manager.status(defineService("status", {}, sysvRoot()))).message,
    "gitlab-runner: the service is not installed",
  );
});
