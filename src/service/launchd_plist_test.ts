import assert from "node:assert/strict";
import { launchdPlistPath, renderLaunchdPlist } from "./launchd_plist.ts";
import { defineService } from "./service_definition.ts";
import { planServiceAction } from "./service_manager.ts";
import { macHost } from "./_service_fakes.ts";

Deno.test("a non-root install is a launch agent in ~/Library/LaunchAgents", () => {
  const def = defineService("install", {}, macHost(501));
  assert.equal(launchdPlistPath(def), "/Users/alice/Library/LaunchAgents/gitlab-runner.plist");
  assert.equal(
    renderLaunchdPlist(def),
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>gitlab-runner</string>
  <key>ProgramArguments</key>
  <array>
    <string>/usr/local/bin/gitlab-runner</string>
    <string>run</string>
    <string>--config</string>
    <string>/Users/alice/.gitlab-runner/config.toml</string>
    <string>--working-directory</string>
    <string>/Users/alice</string>
    <string>--service</string>
    <string>gitlab-runner</string>
    <string>--syslog</string>
  </array>
  <key>KeepAlive</key>
  <true/>
  <key>RunAtLoad</key>
  <true/>
  <key>Disabled</key>
  <false/>
  <key>StandardOutPath</key>
  <string>/Users/alice/Library/Logs/gitlab-runner.out.log</string>
  <key>StandardErrorPath</key>
  <string>/Users/alice/Library/Logs/gitlab-runner.err.log</string>
</dict>
</plist>
`,
  );
});

Deno.test("a root install is a launch daemon with UserName for --init-user and escaped XML", () => {
  const host = { ...macHost(0), homeOf: () => "/Users/ci" };
  const def = defineService("install", { initUser: "ci", workingDirectory: "/tmp/a&b<c>" }, host);
  assert.equal(launchdPlistPath(def), "/Library/LaunchDaemons/gitlab-runner.plist");
  const plist = renderLaunchdPlist(def);
  assert.match(plist, /<key>UserName<\/key>\n {2}<string>ci<\/string>/);
  assert.match(plist, /<string>\/tmp\/a&amp;b&lt;c&gt;<\/string>/);
  assert.match(plist, /<string>\/Library\/Logs\/gitlab-runner\.out\.log<\/string>/);
});

Deno.test("launchd actions load and unload the plist", () => {
  const def = defineService("start", {}, macHost(501));
  const plist = "/Users/alice/Library/LaunchAgents/gitlab-runner.plist";
  assert.deepEqual(planServiceAction("start", def), [
    { kind: "run", argv: ["launchctl", "load", plist] },
  ]);
  assert.deepEqual(planServiceAction("stop", def), [
    { kind: "run", argv: ["launchctl", "unload", plist] },
  ]);
  assert.deepEqual(planServiceAction("restart", def), [
    { kind: "run", argv: ["launchctl", "unload", plist], mayFail: true },
    { kind: "run", argv: ["launchctl", "load", plist] },
  ]);
  assert.deepEqual(planServiceAction("uninstall", def), [
    { kind: "require-present", path: plist, why: "the service is not installed" },
    { kind: "run", argv: ["launchctl", "unload", plist], mayFail: true },
    { kind: "remove", path: plist },
  ]);
  const install = planServiceAction("install", def);
  assert.deepEqual(install.map((s) => s.kind), [
    "require-absent",
    "mkdir",
    "write",
    "mkdir",
    "write",
  ]);
});
