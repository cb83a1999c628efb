import assert from "node:assert/strict";
import { DEFAULT_CONFIG_TOML } from "./default_config.ts";
import { defineService } from "./service_definition.ts";
import { ServiceError } from "./service_error.ts";
import { ServiceManager } from "./service_manager.ts";
import {
  linuxRoot,
  linuxUser,
  macHost,
  MemoryFiles,
  ok,
  ScriptedCommands,
  SilentLogger,
  windowsHost,
} from "./_service_fakes.ts";

/** A host where systemd runs: sd_booted()'s directory exists. */
function systemdFiles(): MemoryFiles {
  const files = new MemoryFiles();
  files.dirs.set("/run/systemd/system", 0o755);
  return files;
}

function manager(commands = new ScriptedCommands(), files = systemdFiles()) {
  return {
    commands,
    files,
    manager: new ServiceManager({ commands, files, log: new SilentLogger() }),
  };
}

Deno.test("install writes the default config when none exists, then the unit, then enables it", async () => {
  const { manager: m, files, commands } = manager();
  await m.run("install", defineService("install", { user: "gitlab-runner" }, linuxRoot()));
  assert.deepEqual(files.files.get("/etc/gitlab-runner/config.toml"), {
    content: DEFAULT_CONFIG_TOML,
    mode: 0o600,
  });
  assert.equal(files.dirs.get("/etc/gitlab-runner"), 0o700);
  assert.match(
    files.files.get("/etc/systemd/system/gitlab-runner.service")?.content ?? "",
    /^ExecStart=/m,
  );
  assert.deepEqual(commands.ran, [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "gitlab-runner.service"],
  ]);
});

Deno.test("install keeps an existing config file", async () => {
  const { manager: m, files } = manager();
  files.files.set("/etc/gitlab-runner/config.toml", { content: "concurrent = 8\n", mode: 0o600 });
  await m.run("install", defineService("install", { user: "u" }, linuxRoot()));
  assert.equal(files.files.get("/etc/gitlab-runner/config.toml")?.content, "concurrent = 8\n");
});

Deno.test("install refuses to overwrite an installed service", async () => {
  const { manager: m, files, commands } = manager();
  files.files.set("/etc/systemd/system/gitlab-runner.service", { content: "old", mode: 0o644 });
  await assert.rejects(
    m.run("install", defineService("install", { user: "u" }, linuxRoot())),
    (error: unknown) =>
      error instanceof ServiceError &&
      /Cannot install service "gitlab-runner": "\/etc\/systemd\/system\/gitlab-runner\.service" exists/
        .test(error.message),
  );
  assert.equal(files.files.get("/etc/systemd/system/gitlab-runner.service")?.content, "old");
  assert.deepEqual(commands.ran, []);
});

Deno.test("a failing service command stops the plan and its output is in the error", async () => {
  const commands = new ScriptedCommands((argv) =>
    argv[1] === "start"
      ? { code: 5, stdout: "", stderr: "Failed to start ci.service: Unit ci.service not found.\n" }
      : ok("")
  );
  const { manager: m } = manager(commands);
  await assert.rejects(
    m.run("start", defineService("start", { service: "ci" }, linuxRoot())),
    /Cannot start service "ci": "systemctl start ci.service" exited with 5: Failed to start ci.service: Unit ci.service not found\./,
  );
});

Deno.test("uninstall goes on when disable fails, and a missing runner binary is reported", async () => {
  const commands = new ScriptedCommands((argv) =>
    argv[1] === "disable" ? { code: 1, stdout: "", stderr: "x" } : ok("")
  );
  const { manager: m, files } = manager(commands);
  files.files.set("/etc/systemd/system/gitlab-runner.service", { content: "u", mode: 0o644 });
  await m.run("uninstall", defineService("uninstall", {}, linuxRoot()));
  assert.equal(files.files.has("/etc/systemd/system/gitlab-runner.service"), false);
  assert.deepEqual(commands.ran.at(-1), ["systemctl", "daemon-reload"]);

  const missing = new ScriptedCommands(() => {
    throw new Deno.errors.NotFound("systemctl: not found");
  });
  await assert.rejects(
    manager(missing).manager.run("stop", defineService("stop", {}, linuxRoot())),
    /Cannot stop service "gitlab-runner": run "systemctl stop gitlab-runner.service" failed: systemctl: not found/,
  );
});

Deno.test("status on systemd: running exits 0, stopped and not installed exit 1", async () => {
  const def = defineService("status", {}, linuxRoot());
  const unit = "/etc/systemd/system/gitlab-runner.service";

  const running = manager(new ScriptedCommands(() => ok("active\n")));
  running.files.files.set(unit, { content: "", mode: 0o644 });
  assert.deepEqual(await running.manager.status(def), {
    state: "running",
    isRunning: true,
    message: "gitlab-runner: Service is running",
    exitCode: 0,
  });
  assert.deepEqual(running.commands.ran, [["systemctl", "is-active", "gitlab-runner.service"]]);

  const stopped = manager(
    new ScriptedCommands(() => ({ code: 3, stdout: "inactive\n", stderr: "" })),
  );
  stopped.files.files.set(unit, { content: "", mode: 0o644 });
  const report = await stopped.manager.status(def);
  assert.equal(report.message, "gitlab-runner: Service has stopped");
  assert.equal(report.exitCode, 1);

  const absent = manager(
    new ScriptedCommands(() => ({ code: 4, stdout: "inactive\n", stderr: "" })),
  );
  assert.equal(
    (await absent.manager.status(def)).message,
    "gitlab-runner: the service is not installed",
  );
});

Deno.test("status on launchd reads the PID from launchctl list", async () => {
  const def = defineService("status", {}, macHost(501));
  const plist = "/Users/alice/Library/LaunchAgents/gitlab-runner.plist";
  const running = manager(
    new ScriptedCommands(() =>
      ok('{\n\t"LimitLoadToSessionType" = "Aqua";\n\t"PID" = 4242;\n};\n')
    ),
  );
  running.files.files.set(plist, { content: "", mode: 0o644 });
  assert.equal((await running.manager.status(def)).state, "running");
  assert.deepEqual(running.commands.ran, [["launchctl", "list", "gitlab-runner"]]);

  const loadedIdle = manager(new ScriptedCommands(() => ok('{\n\t"LastExitStatus" = 256;\n};\n')));
  loadedIdle.files.files.set(plist, { content: "", mode: 0o644 });
  assert.equal((await loadedIdle.manager.status(def)).state, "stopped");

  const absent = manager(
    new ScriptedCommands(() => ({ code: 113, stdout: "", stderr: "Could not find service" })),
  );
  assert.equal((await absent.manager.status(def)).state, "not-installed");
});

Deno.test("status on Windows parses sc.exe query", async () => {
  const def = defineService("status", {}, windowsHost());
  const query = (state: string) =>
    ok(
      `SERVICE_NAME: gitlab-runner\n        TYPE               : 10  WIN32_OWN_PROCESS\n        STATE              : ${state}\n`,
    );
  assert.equal(
    (await manager(new ScriptedCommands(() => query("4  RUNNING"))).manager.status(def)).exitCode,
    0,
  );
  assert.equal(
    (await manager(new ScriptedCommands(() => query("1  STOPPED"))).manager.status(def)).message,
    "gitlab-runner: Service has stopped",
  );
  assert.equal(
    (await manager(new ScriptedCommands(() => query("2  START_PENDING"))).manager.status(def))
      .message,
    "gitlab-runner: Service status unknown",
  );
  const absent = new ScriptedCommands(() => ({
    code: 1060,
    stdout:
      "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\n\nThe specified service does not exist as an installed service.\n",
    stderr: "",
  }));
  assert.equal((await manager(absent).manager.status(def)).state, "not-installed");
});

Deno.test("without a running systemd every action is refused saying so, before anything is written or run", async () => {
  for (const action of ["install", "uninstall", "start", "stop", "restart"] as const) {
    const { manager: m, files, commands } = manager(new ScriptedCommands(), new MemoryFiles());
    files.files.set("/etc/systemd/system/gitlab-runner.service", { content: "u", mode: 0o644 });
    await assert.rejects(
      m.run(action, defineService(action, { user: "u" }, linuxRoot())),
      new RegExp(
        `^ServiceError: Cannot ${action} service "gitlab-runner": systemd is not running on this host \\(no /run/systemd/system\\)`,
      ),
    );
    assert.deepEqual(files.log, [], action);
    assert.deepEqual(commands.ran, [], action);
  }
  const { manager: m, commands } = manager(new ScriptedCommands(), new MemoryFiles());
  await assert.rejects(
    m.status(defineService("status", {}, linuxRoot())),
    /Cannot read the status of service "gitlab-runner": systemd is not running on this host/,
  );
  assert.deepEqual(commands.ran, []);
});

Deno.test("uninstall of a service that is not installed fails saying so, as the official one, instead of exiting 0", async () => {
  const cases = [
    [linuxRoot(), "/etc/systemd/system/ci.service"],
    [macHost(501), "/Users/alice/Library/LaunchAgents/ci.plist"],
  ] as const;
  for (const [host, path] of cases) {
    const { manager: m, commands } = manager();
    await assert.rejects(
      m.run("uninstall", defineService("uninstall", { service: "ci" }, host)),
      new RegExp(
        `^ServiceError: Cannot uninstall service "ci": "${path}" does not exist: the service is not installed`,
      ),
    );
    assert.deepEqual(commands.ran, [], path);
  }
});

Deno.test("install on Windows is refused, saying why, before anything is written or run", async () => {
  const { manager: m, files, commands } = manager();
  await assert.rejects(
    m.run("install", defineService("install", {}, windowsHost())),
    /^ServiceError: Cannot install service "gitlab-runner": Runner cannot run as a Windows service: .*StartServiceCtrlDispatcher/,
  );
  assert.deepEqual(files.log, []);
  assert.deepEqual(commands.ran, []);
  // A service installed otherwise (a wrapper) is still driven by name.
  await m.run("start", defineService("start", {}, windowsHost()));
  assert.deepEqual(commands.ran, [["net.exe", "start", "gitlab-runner"]]);
});

Deno.test("with --init-user the config install creates, and the directories it creates for it, belong to that user", async () => {
  const { manager: m, files } = manager();
  files.dirs.set("/etc", 0o755);
  const def = defineService(
    "install",
    { initUser: "gitlab-runner", config: "/etc/gitlab-runner/ci/config.toml" },
    linuxRoot(),
  );
  await m.run("install", def);
  assert.deepEqual(files.log.filter((line) => !line.includes("systemd")), [
    "mkdir /etc/gitlab-runner/ci 700",
    "chown /etc/gitlab-runner gitlab-runner",
    "chown /etc/gitlab-runner/ci gitlab-runner",
    "write /etc/gitlab-runner/ci/config.toml 600",
    "chown /etc/gitlab-runner/ci/config.toml gitlab-runner",
  ]);

  // An existing config (and directory) is left as it is; with --user root owns it.
  const kept = manager();
  kept.files.dirs.set("/home/gitlab-runner", 0o750);
  kept.files.files.set("/home/gitlab-runner/config.toml", { content: "", mode: 0o600 });
  await kept.manager.run(
    "install",
    defineService("install", { initUser: "gitlab-runner" }, linuxRoot()),
  );
  assert.deepEqual(kept.files.log.filter((line) => line.startsWith("chown")), []);
  const asRoot = manager();
  await asRoot.manager.run(
    "install",
    defineService("install", { user: "gitlab-runner" }, linuxRoot()),
  );
  assert.deepEqual(asRoot.files.log.filter((line) => line.startsWith("chown")), []);
});

Deno.test("status unknown says why: the query's error, or the program that could not run", async () => {
  const def = defineService("status", { userService: true }, linuxUser());
  const unit = "/home/alice/.config/systemd/user/gitlab-runner.service";
  const noBus = manager(
    new ScriptedCommands(() => ({
      code: 1,
      stdout: "",
      stderr: "Failed to connect to bus: No medium found\n",
    })),
  );
  noBus.files.files.set(unit, { content: "", mode: 0o644 });
  assert.equal(
    (await noBus.manager.status(def)).message,
    "gitlab-runner: Service status unknown: Failed to connect to bus: No medium found",
  );
  const missing = manager(
    new ScriptedCommands(() => {
      throw new Deno.errors.NotFound("Failed to spawn 'systemctl': entity not found");
    }),
  );
  missing.files.files.set(unit, { content: "", mode: 0o644 });
  assert.equal(
    (await missing.manager.status(def)).message,
    "gitlab-runner: Service status unknown: systemctl --user is-active gitlab-runner.service: Failed to spawn 'systemctl': entity not found",
  );
});

Deno.test("status of a systemd unit in the failed state says so, as the official one, not that it stopped", async () => {
  const failed = manager(new ScriptedCommands(() => ({ code: 3, stdout: "failed\n", stderr: "" })));
  failed.files.files.set("/etc/systemd/system/gitlab-runner.service", { content: "", mode: 0o644 });
  const report = await failed.manager.status(defineService("status", {}, linuxRoot()));
  assert.equal(report.message, "gitlab-runner: service in failed state");
  assert.equal(report.exitCode, 1);
});
