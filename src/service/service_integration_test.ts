import assert from "node:assert/strict";
import { join } from "node:path";
import { DenoCommandRunner, DenoServiceFiles, pathClosedTo } from "./deno_service_io.ts";
import { configSteps } from "./default_config.ts";
import { renderLaunchdPlist } from "./launchd_plist.ts";
import { defineService } from "./service_definition.ts";
import { renderSystemdUnit } from "./systemd_unit.ts";
import { linuxRoot, macHost } from "./_service_fakes.ts";

async function hasProgram(name: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test("systemd-analyze verify accepts the generated unit", async (t) => {
  if (!(await hasProgram("systemd-analyze"))) {
    // deno-lint-ignore no-console -- the skip reason must reach whoever runs the tests
    console.log("skipped: systemd-analyze is not installed (apt-get install systemd)");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "runner unit " });
  try {
    // verify checks that ExecStart's program exists and is executable.
    const binary = join(dir, "gitlab-runner");
    await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const cases = {
      "user": { user: "gitlab-runner", workingDirectory: "/srv/100% runner" },
      "init-user": { initUser: "root", config: "/etc/gitlab-runner/config.toml" },
      "odd-path": { user: "root", workingDirectory: "/srv/a\nb 'c' \"d\" ; \\ é\t$x" },
    };
    for (const [label, flags] of Object.entries(cases)) {
      await t.step(label, async () => {
        const def = defineService(
          "install",
          { ...flags, service: `runner-${label}` },
          linuxRoot({ command: [binary], homeOf: () => "/root" }),
        );
        const unitPath = join(dir, `runner-${label}.service`);
        await Deno.writeTextFile(unitPath, renderSystemdUnit(def));
        const out = await new Deno.Command("systemd-analyze", {
          args: ["verify", unitPath],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        const aboutUs = text.split("\n").filter((line) => line.includes(`runner-${label}.service`));
        assert.equal(out.code, 0, text);
        assert.deepEqual(aboutUs, [], text);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a plist parser reads back label, arguments and flags of the launchd plist", async () => {
  if (!(await hasProgram("python3"))) {
    // deno-lint-ignore no-console -- the skip reason must reach whoever runs the tests
    console.log("skipped: python3 (for plistlib) is not installed");
    return;
  }
  const host = { ...macHost(0), homeOf: () => "/Users/ci" };
  const def = defineService("install", { initUser: "ci", workingDirectory: "/tmp/a&b <c>" }, host);
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(renderLaunchdPlist(def)));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const parsed = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(parsed.Label, "gitlab-runner");
  assert.deepEqual(parsed.ProgramArguments, [
    "/usr/local/bin/gitlab-runner",
    "run",
    "--config",
    "/Users/ci/config.toml",
    "--working-directory",
    "/tmp/a&b <c>",
    "--service",
    "gitlab-runner",
    "--syslog",
  ]);
  assert.equal(parsed.KeepAlive, true);
  assert.equal(parsed.RunAtLoad, true);
  assert.equal(parsed.UserName, "ci");
});

Deno.test("the real file backend writes the config 0600 in a 0700 directory", async () => {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.makeTempDir();
  try {
    const files = new DenoServiceFiles();
    const configDir = join(dir, "etc", "gitlab-runner");
    const def = defineService(
      "install",
      { user: "u", config: join(configDir, "config.toml") },
      linuxRoot(),
    );
    // Only the config steps: the unit itself would go to /etc/systemd/system.
    for (const step of configSteps(def)) {
      if (step.kind === "mkdir") await files.mkdir(step.path, step.mode);
      if (step.kind === "write") await files.writeFile(step.path, step.content, step.mode);
    }
    assert.equal((await Deno.stat(configDir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(def.configFile)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(def.configFile), /^concurrent = 1$/m);
    assert.equal(await files.exists(def.configFile), true);
    await files.remove(def.configFile);
    await files.remove(def.configFile);
    assert.equal(await files.exists(def.configFile), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the real command runner reports exit code and output", async () => {
  if (Deno.build.os === "windows") return;
  const result = await new DenoCommandRunner().run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
  assert.deepEqual(result, { code: 3, stdout: "out\n", stderr: "err\n" });
  await assert.rejects(
    new DenoCommandRunner().run(["/nonexistent/systemctl"]),
    Deno.errors.NotFound,
  );
});

Deno.test("the real file backend gives a path to a user and that user's group", {
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, "");
    const id = (flag: string) =>
      Number(
        new TextDecoder().decode(
          new Deno.Command("id", { args: [flag, "nobody"], stdout: "piped" }).outputSync().stdout,
        ),
      );
    await new DenoServiceFiles().chown(path, "nobody");
    const info = await Deno.stat(path);
    assert.equal(info.uid, id("-u"));
    assert.equal(info.gid, id("-g"));
    await assert.rejects(
      new DenoServiceFiles().chown(path, "no-such-user-4f1c"),
      /No user "no-such-user-4f1c" on this host/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pathClosedTo checks the mode bits of each directory and of the path for that user", {
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    const file = join(dir, "config.toml");
    await Deno.writeTextFile(file, "");
    await Deno.chmod(file, 0o600);
    assert.equal(pathClosedTo("nobody", file, "read"), file);
    assert.equal(pathClosedTo("root", file, "read"), undefined, "root reads everything");
    await Deno.chmod(file, 0o644);
    assert.equal(pathClosedTo("nobody", file, "read"), undefined);
    await Deno.chmod(dir, 0o700);
    assert.equal(pathClosedTo("nobody", file, "read"), dir);
    assert.equal(pathClosedTo("nobody", dir, "enter"), dir);
    // What does not exist yet, install creates for the user.
    await Deno.chmod(dir, 0o755);
    assert.equal(pathClosedTo("nobody", join(dir, "new", "config.toml"), "read"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
