import assert from "node:assert/strict";
import { defineService } from "./service_definition.ts";
import { planServiceAction } from "./service_manager.ts";
import { quoteWindowsArg, windowsCommandLine, WindowsPlatform } from "./windows_service.ts";
import { windowsHost } from "./_service_fakes.ts";

Deno.test("Windows install creates the service with sc.exe and a quoted binPath", () => {
  const host = {
    ...windowsHost(),
    command: ["C:\\Program Files\\GitLab Runner\\gitlab-runner.exe"],
  };
  const def = defineService("install", { user: ".\\ci", password: 'p"w d' }, host);
  const runs = planServiceAction("install", def).flatMap((s) => s.kind === "run" ? [s.argv] : []);
  const binPath = '"C:\\Program Files\\GitLab Runner\\gitlab-runner.exe" run --config ' +
    "C:\\GitLab-Runner\\config.toml --working-directory C:\\GitLab-Runner --service gitlab-runner --syslog";
  assert.equal(new WindowsPlatform(def).binaryPath(), binPath);
  assert.deepEqual(runs, [
    [
      "sc.exe",
      "create",
      "gitlab-runner",
      "binPath=",
      binPath,
      "start=",
      "auto",
      "DisplayName=",
      "gitlab-runner",
      "obj=",
      ".\\ci",
      "password=",
      'p"w d',
    ],
    ["sc.exe", "description", "gitlab-runner", "GitLab Runner"],
    [
      "sc.exe",
      "failure",
      "gitlab-runner",
      "reset=",
      "86400",
      "actions=",
      "restart/120000/restart/120000/restart/120000",
    ],
  ]);
  assert.equal(
    windowsCommandLine(runs[0] ?? []),
    'sc.exe create gitlab-runner binPath= "\\"C:\\Program Files\\GitLab Runner\\gitlab-runner.exe\\" run --config ' +
      'C:\\GitLab-Runner\\config.toml --working-directory C:\\GitLab-Runner --service gitlab-runner --syslog" ' +
      'start= auto DisplayName= gitlab-runner obj= .\\ci password= "p\\"w d"',
  );
  const config = planServiceAction("install", def).find((s) => s.kind === "write");
  assert.equal(config?.kind === "write" ? config.path : "", "C:\\GitLab-Runner\\config.toml");
});

Deno.test("Windows install without --user runs as LocalSystem and quotes paths with spaces", () => {
  const def = defineService("install", { workingDirectory: "D:\\ci runner\\" }, windowsHost());
  const create = planServiceAction("install", def).find((s) => s.kind === "run");
  const argv = create?.kind === "run" ? create.argv : [];
  assert.ok(!argv.includes("obj="));
  assert.equal(
    argv[4],
    '"C:\\GitLab-Runner\\gitlab-runner.exe" run --config C:\\GitLab-Runner\\config.toml ' +
      '--working-directory "D:\\ci runner" --service gitlab-runner --syslog',
  );
});

Deno.test("Windows start, stop, restart and uninstall commands", () => {
  const def = defineService("start", { service: "ci" }, windowsHost());
  assert.deepEqual(planServiceAction("start", def), [{
    kind: "run",
    argv: ["net.exe", "start", "ci"],
  }]);
  assert.deepEqual(planServiceAction("stop", def), [{
    kind: "run",
    argv: ["net.exe", "stop", "ci"],
  }]);
  assert.deepEqual(planServiceAction("restart", def), [
    { kind: "run", argv: ["net.exe", "stop", "ci"], mayFail: true },
    { kind: "run", argv: ["net.exe", "start", "ci"] },
  ]);
  assert.deepEqual(planServiceAction("uninstall", def), [
    { kind: "run", argv: ["sc.exe", "delete", "ci"] },
  ]);
});

Deno.test("Windows arguments are quoted so the C runtime reads them back unchanged", () => {
  assert.equal(quoteWindowsArg("plain"), "plain");
  assert.equal(quoteWindowsArg(""), '""');
  assert.equal(quoteWindowsArg("a b"), '"a b"');
  assert.equal(quoteWindowsArg('say "hi"'), '"say \\"hi\\""');
  assert.equal(quoteWindowsArg("C:\\dir with space\\"), '"C:\\dir with space\\\\"');
  assert.equal(quoteWindowsArg('a\\"b c'), '"a\\\\\\"b c"');
  assert.equal(quoteWindowsArg("C:\\no\\space"), "C:\\no\\space");
});
