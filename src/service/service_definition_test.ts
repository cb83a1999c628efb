import assert from "node:assert/strict";
import { defineService } from "./service_definition.ts";
import { linuxRoot, linuxUser, macHost, windowsHost } from "./_service_fakes.ts";

Deno.test("root install on systemd runs `run` with config, working directory, service and --user", () => {
  const def = defineService("install", { user: "gitlab-runner" }, linuxRoot());
  assert.equal(def.kind, "systemd-system");
  assert.equal(def.name, "gitlab-runner");
  assert.equal(def.executable, "/usr/bin/gitlab-runner");
  assert.deepEqual(def.arguments, [
    "run",
    "--config",
    "/etc/gitlab-runner/config.toml",
    "--working-directory",
    "/home/gitlab-runner",
    "--service",
    "gitlab-runner",
    "--user",
    "gitlab-runner",
  ]);
  assert.equal(def.runAs, "");
});

Deno.test("--init-user runs the unit as that user with the config in their home", () => {
  const def = defineService("install", { initUser: "gitlab-runner", service: "ci" }, linuxRoot());
  assert.equal(def.runAs, "gitlab-runner");
  assert.equal(def.configFile, "/home/gitlab-runner/config.toml");
  assert.ok(!def.arguments.includes("--user"));
  assert.deepEqual(def.arguments.slice(-2), ["--service", "ci"]);
});

Deno.test("relative paths are resolved against the current directory and launcher args come first", () => {
  const def = defineService(
    "install",
    { user: "u", config: "conf/config.toml", workingDirectory: "work", syslog: true },
    linuxRoot({
      cwd: "/srv",
      command: ["/usr/bin/deno", "run", "--allow-all", "/opt/runner/main.ts"],
    }),
  );
  assert.deepEqual(def.arguments, [
    "run",
    "--allow-all",
    "/opt/runner/main.ts",
    "run",
    "--config",
    "/srv/conf/config.toml",
    "--working-directory",
    "/srv/work",
    "--service",
    "gitlab-runner",
    "--syslog",
    "--user",
    "u",
  ]);
});

Deno.test("syslog is on by default outside systemd and can be turned off", () => {
  assert.ok(defineService("install", {}, macHost(501)).arguments.includes("--syslog"));
  assert.ok(
    !defineService("install", { syslog: false }, macHost(501)).arguments.includes("--syslog"),
  );
  assert.ok(defineService("install", {}, windowsHost()).arguments.includes("--syslog"));
  assert.ok(
    !defineService("install", { userService: true }, linuxUser()).arguments.includes("--syslog"),
  );
});

Deno.test("the service kind follows OS, uid and --user-service", () => {
  assert.equal(defineService("install", { userService: true }, linuxUser()).kind, "systemd-user");
  assert.equal(defineService("status", {}, linuxUser()).kind, "systemd-system");
  assert.equal(defineService("install", { user: "u" }, macHost(0)).kind, "launchd-daemon");
  assert.equal(defineService("install", {}, macHost(501)).kind, "launchd-agent");
  assert.equal(defineService("install", {}, windowsHost()).kind, "windows");
});

Deno.test("flag combinations the official runner refuses are refused with the flag named", () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [
      () => defineService("install", {}, linuxRoot()),
      /Please specify user .*--user or --init-user/,
    ],
    [
      () => defineService("install", { user: "a", initUser: "b" }, linuxRoot()),
      /Only one of --user or --init-user/,
    ],
    [
      () => defineService("install", { user: "a" }, linuxUser()),
      /--user flag is not supported for non-root/,
    ],
    [
      () => defineService("install", {}, linuxUser()),
      /without root: run as root or pass --user-service/,
    ],
    [
      () => defineService("install", { userService: true, user: "u" }, linuxRoot()),
      /--user-service flag is for non-root/,
    ],
    [
      () => defineService("install", { user: "DOMAIN\\ci" }, windowsHost()),
      /--password flag is required with --user "DOMAIN\\ci"/,
    ],
    [
      () => defineService("install", { initUser: "x" }, windowsHost()),
      /--init-user flag is not supported on Windows/,
    ],
    [
      () => defineService("install", { initUser: "ghost" }, linuxRoot()),
      /home directory of --init-user "ghost"/,
    ],
    [
      () => defineService("install", { user: "u", service: "../evil" }, linuxRoot()),
      /Invalid service name "..\/evil"/,
    ],
    [
      () => defineService("install", { user: "u" }, linuxRoot({ command: ["gitlab-runner"] })),
      /must be an absolute path/,
    ],
  ];
  for (const [call, message] of cases) assert.throws(call, message);
});

Deno.test("--password is refused off Windows rather than ignored", () => {
  for (const host of [linuxRoot(), macHost(0)]) {
    assert.throws(
      () => defineService("install", { user: "gitlab-runner", password: "secret" }, host),
      /The --password flag is for a Windows service account/,
    );
  }
  const def = defineService("install", { user: "ci", password: "secret" }, windowsHost());
  assert.equal(def.password, "secret");
});

Deno.test("--user-service as root is refused naming it on Linux and macOS, before asking for --user", () => {
  for (const action of ["install", "start", "status"] as const) {
    for (const host of [linuxRoot(), macHost(0)]) {
      assert.throws(
        () => defineService(action, { userService: true }, host),
        /The --user-service flag is for non-root users; root installs a system service/,
        `${host.os} ${action}`,
      );
    }
  }
  // Not root on macOS: a launch agent is a user service already.
  assert.equal(defineService("install", { userService: true }, macHost(501)).kind, "launchd-agent");
});

Deno.test("service names systemd would take for a template, or not take at all, are refused naming --service", () => {
  for (const name of ["runner@", "a@b@c", "x".repeat(248)]) {
    assert.throws(
      () => defineService("install", { user: "u", service: name }, linuxRoot()),
      (error: unknown) =>
        error instanceof Error &&
        error.message.startsWith(`Invalid service name "${name}" (--service)`),
      name,
    );
  }
  for (const name of ["runner@ci", "gitlab-runner.2", "x".repeat(247)]) {
    assert.equal(defineService("install", { user: "u", service: name }, linuxRoot()).name, name);
  }
});

Deno.test("a user service without a home directory (HOME unset) is refused naming HOME, not put under the current directory", () => {
  const cases = [
    () => defineService("install", { userService: true }, linuxUser({ home: "" })),
    () => defineService("start", {}, { ...macHost(501), home: "" }),
  ];
  for (const call of cases) {
    assert.throws(call, /HOME is not set: a user service is found under the home directory/);
  }
  // A system service does not need it.
  assert.equal(
    defineService("install", { user: "u" }, linuxRoot({ home: "" })).kind,
    "systemd-system",
  );
});
