import assert from "node:assert/strict";
import { defineService } from "./service_definition.ts";
import { planServiceAction } from "./service_manager.ts";
import { renderSystemdUnit, systemdUnitPath } from "./systemd_unit.ts";
import { DEFAULT_CONFIG_TOML } from "./default_config.ts";
import { linuxRoot, linuxUser } from "./_service_fakes.ts";

Deno.test("the systemd unit has the official shape", () => {
  const def = defineService("install", { user: "gitlab-runner" }, linuxRoot());
  assert.equal(
    renderSystemdUnit(def),
    `[Unit]
Description=GitLab Runner
After=network.target
ConditionFileIsExecutable=/usr/bin/gitlab-runner

[Service]
StartLimitInterval=5
StartLimitBurst=10
ExecStart=/usr/bin/gitlab-runner "run" "--config" "/etc/gitlab-runner/config.toml" "--working-directory" "/home/gitlab-runner" "--service" "gitlab-runner" "--user" "gitlab-runner"
Restart=always
RestartSec=120
EnvironmentFile=-/etc/sysconfig/gitlab-runner

[Install]
WantedBy=multi-user.target
`,
  );
});

Deno.test("--init-user becomes User= and odd characters are escaped for systemd", () => {
  const def = defineService(
    "install",
    { initUser: "gitlab-runner", workingDirectory: '/srv/a "b" 100%/$HOME' },
    linuxRoot({ command: ["/opt/my runner/runner"] }),
  );
  const unit = renderSystemdUnit(def);
  assert.match(unit, /^User=gitlab-runner$/m);
  assert.match(unit, /^ConditionFileIsExecutable=\/opt\/my runner\/runner$/m);
  assert.ok(
    unit.includes(
      'ExecStart=/opt/my\\x20runner/runner "run" "--config" "/home/gitlab-runner/config.toml" ' +
        '"--working-directory" "/srv/a \\"b\\" 100%%/$$HOME"',
    ),
    unit,
  );
});

Deno.test("a user service goes to ~/.config/systemd/user and uses systemctl --user", () => {
  const def = defineService("install", { userService: true }, linuxUser());
  assert.equal(systemdUnitPath(def), "/home/alice/.config/systemd/user/gitlab-runner.service");
  assert.match(renderSystemdUnit(def), /^WantedBy=default\.target$/m);
  assert.doesNotMatch(renderSystemdUnit(def), /^User=/m);
  const runs = planServiceAction("install", def).flatMap((s) => s.kind === "run" ? [s.argv] : []);
  assert.deepEqual(runs, [
    ["systemctl", "--user", "daemon-reload"],
    ["systemctl", "--user", "enable", "gitlab-runner.service"],
  ]);
});

Deno.test("systemd install, uninstall, start, stop and restart run these steps", () => {
  const def = defineService("install", { user: "gitlab-runner", service: "ci" }, linuxRoot());
  assert.deepEqual(planServiceAction("install", def), [
    {
      kind: "require-absent",
      path: "/etc/systemd/system/ci.service",
      why: "the service is already installed; run uninstall first",
    },
    { kind: "mkdir", path: "/etc/gitlab-runner", mode: 0o700 },
    {
      kind: "write",
      path: "/etc/gitlab-runner/config.toml",
      content: DEFAULT_CONFIG_TOML,
      mode: 0o600,
      isKeptIfPresent: true,
    },
    { kind: "mkdir", path: "/etc/systemd/system", mode: 0o755 },
    {
      kind: "write",
      path: "/etc/systemd/system/ci.service",
      content: renderSystemdUnit(def),
      mode: 0o644,
    },
    { kind: "run", argv: ["systemctl", "daemon-reload"] },
    { kind: "run", argv: ["systemctl", "enable", "ci.service"] },
  ]);
  assert.deepEqual(planServiceAction("uninstall", def), [
    {
      kind: "require-present",
      path: "/etc/systemd/system/ci.service",
      why: "the service is not installed",
    },
    { kind: "run", argv: ["systemctl", "disable", "ci.service"], mayFail: true },
    { kind: "remove", path: "/etc/systemd/system/ci.service" },
    { kind: "run", argv: ["systemctl", "daemon-reload"] },
  ]);
  assert.deepEqual(planServiceAction("start", def), [
    { kind: "run", argv: ["systemctl", "start", "ci.service"] },
  ]);
  assert.deepEqual(planServiceAction("stop", def), [
    { kind: "run", argv: ["systemctl", "stop", "ci.service"] },
  ]);
  assert.deepEqual(planServiceAction("restart", def), [
    { kind: "run", argv: ["systemctl", "restart", "ci.service"] },
  ]);
});

Deno.test("the default config written on install is the official empty config", () => {
  assert.equal(
    DEFAULT_CONFIG_TOML,
    'concurrent = 1\ncheck_interval = 0\nconnection_max_age = "15m0s"\nshutdown_timeout = 0\n\n' +
      "[session_server]\n  session_timeout = 1800\n",
  );
});

Deno.test("control characters and quotes in paths are C-escaped, so ExecStart stays one line and one word per argument", () => {
  const def = defineService(
    "install",
    { user: "gitlab-runner", workingDirectory: "/srv/a\nb\rc\u0001d é" },
    linuxRoot({ command: ['/opt/it\'s "x"/runner'] }),
  );
  const unit = renderSystemdUnit(def);
  const execStart = unit.split("\n").filter((line) => line.startsWith("ExecStart="));
  assert.equal(execStart.length, 1, unit);
  assert.ok(
    execStart[0]!.startsWith(
      'ExecStart=/opt/it\\x27s\\x20\\x22x\\x22/runner "run" "--config" "/etc/gitlab-runner/config.toml" ' +
        '"--working-directory" "/srv/a\\x0ab\\x0dc\\x01d é" ',
    ),
    execStart[0],
  );
  assert.equal(
    unit.split("\n").length,
    renderSystemdUnit(defineService("install", { user: "u" }, linuxRoot())).split("\n").length,
  );
});
