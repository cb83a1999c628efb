/**
 * docs/security.md, cell by cell: each executor process starts with the flags
 * the launcher computes, and an out-of-scope action is denied there. The probe
 * runs with exactly `permissionFlags(executorPermissions(...))`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { executorPermissions, permissionFlags } from "../../src/poller/executor_permissions.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";

const PROBE = fileURLToPath(new URL("../fixtures/permission_probe.ts", import.meta.url));
const ENV_PROBE = fileURLToPath(new URL("../fixtures/env_probe.ts", import.meta.url));

interface World {
  root: string;
  configFile: string;
  tempDir: string;
  stateDir: string;
  gitlab: Deno.Listener;
  other: Deno.Listener;
  [Symbol.asyncDispose](): Promise<void>;
}

async function world(): Promise<World> {
  const root = await Deno.makeTempDir({ prefix: "runner-perms-" });
  const configFile = join(root, "config.toml");
  await Deno.writeTextFile(configFile, 'concurrent = 1\n[[runners]]\ntoken = "glrt-secret"\n');
  const tempDir = join(root, "tmp");
  const stateDir = join(root, "state");
  await Deno.mkdir(tempDir);
  await Deno.mkdir(stateDir);
  const gitlab = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accept = async (l: Deno.Listener) => {
    try {
      for await (const conn of l) conn.close();
    } catch {
      // Listener closed.
    }
  };
  void accept(gitlab);
  void accept(other);
  return {
    root,
    configFile,
    tempDir,
    stateDir,
    gitlab,
    other,
    async [Symbol.asyncDispose]() {
      gitlab.close();
      other.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function runner(
  w: World,
  executor: string,
  edit: (r: RunnerConfig) => void = () => {},
): RunnerConfig {
  const r = defaultRunnerConfig(executor);
  r.url = `http://127.0.0.1:${(w.gitlab.addr as Deno.NetAddr).port}`;
  r.token = "glrt-secret";
  edit(r);
  return r;
}

async function probe(
  w: World,
  r: RunnerConfig,
  actions: string[],
): Promise<Record<string, string>> {
  const perms = executorPermissions({
    runner: r,
    cwd: w.root,
    tempDir: w.tempDir,
    stateDir: w.stateDir,
    env: () => undefined,
  });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...permissionFlags(perms), PROBE, ...actions],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(text, `probe printed nothing: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(text);
}

function port(l: Deno.Listener): number {
  return (l.addr as Deno.NetAddr).port;
}

Deno.test("shell executor process: own dirs, programs and GitLab only; config.toml and other hosts denied", async () => {
  await using w = await world();
  const r = runner(w, "shell");
  const res = await probe(w, r, [
    `read:${w.configFile}`,
    `write:${join(w.root, "outside.txt")}`,
    `write:${join(w.root, "builds", "x.txt")}`,
    `run:bash`,
    `net:127.0.0.1:${port(w.other)}`,
    `net:127.0.0.1:${port(w.gitlab)}`,
  ]);
  assert.equal(res[`read:${w.configFile}`], "denied");
  assert.equal(res[`write:${join(w.root, "outside.txt")}`], "denied");
  assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
  assert.equal(res[`run:bash`], "allowed");
  assert.equal(res[`net:127.0.0.1:${port(w.gitlab)}`], "allowed");
  // The builds dir does not exist yet: allowed by permission, fails on the missing folder.
  assert.notEqual(res[`write:${join(w.root, "builds", "x.txt")}`], "denied");
});

Deno.test("docker executor process: the docker socket and its state dir; no process spawning, no config.toml", async () => {
  await using w = await world();
  const r = runner(w, "docker", (r) => r.docker.host = `unix://${join(w.root, "docker.sock")}`);
  const res = await probe(w, r, [
    `read:${w.configFile}`,
    `run:bash`,
    `run:docker`,
    `net:127.0.0.1:${port(w.other)}`,
    `write:${join(w.stateDir, "lease")}`,
  ]);
  assert.equal(res[`read:${w.configFile}`], "denied");
  assert.equal(res[`run:bash`], "denied");
  assert.equal(res[`run:docker`], "denied");
  assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
  assert.equal(res[`write:${join(w.stateDir, "lease")}`], "allowed");
});

Deno.test("ssh executor process: network to its host and port only, its key file; no spawning, no config.toml", async () => {
  await using w = await world();
  const key = join(w.root, "id_ed25519");
  await Deno.writeTextFile(key, "key");
  const r = runner(w, "ssh", (r) => {
    r.ssh.host = "127.0.0.1";
    r.ssh.port = String(port(w.gitlab));
    r.ssh.identityFile = key;
  });
  const res = await probe(w, r, [
    `read:${w.configFile}`,
    `read:${key}`,
    `run:bash`,
    `net:127.0.0.1:${port(w.other)}`,
  ]);
  assert.equal(res[`read:${w.configFile}`], "denied");
  assert.equal(res[`read:${key}`], "allowed");
  assert.equal(res[`run:bash`], "denied");
  assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
});

Deno.test("custom executor process: runs only the configured driver programs", async () => {
  await using w = await world();
  const driver = join(w.root, "run.sh");
  await Deno.writeTextFile(driver, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const r = runner(w, "custom", (r) => r.custom.runExec = driver);
  const res = await probe(w, r, [`read:${w.configFile}`, `run:${driver}`, `run:bash`]);
  assert.equal(res[`read:${w.configFile}`], "denied");
  assert.equal(res[`run:${driver}`], "allowed");
  assert.equal(res[`run:bash`], "denied");
});

Deno.test("executor processes never see the runner or registration token in their environment", async () => {
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: ENV_PROBE,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      CI_SERVER_TOKEN: "glrt-runner-secret",
      REGISTRATION_TOKEN: "GR1348941secret",
      KEEP_ME: "yes",
    },
  });
  await using proc = launcher.launch({
    read: [],
    write: [],
    run: [],
    net: [],
    env: true,
    sys: false,
  });
  let env: Record<string, string> = {};
  for await (const item of proc.events()) {
    if ("trace" in item) env = JSON.parse(new TextDecoder().decode(item.trace));
  }
  assert.equal(env["KEEP_ME"], "yes");
  assert.equal(env["CI_SERVER_TOKEN"], undefined);
  assert.equal(env["REGISTRATION_TOKEN"], undefined);
});
