/**
 * docs/security.md, cell by cell, in both ways an executor process is scoped:
 * from source (`deno run` with exactly `permissionFlags(...)`), and as the
 * compiled binary runs it (`deno run` with the binary's global grants,
 * COMPILED_GRANT_FLAGS, and the work in a Worker scoped by
 * `workerPermissions(...)`, whose creating thread then holds nothing). The
 * out-of-scope actions (reading config.toml, writing outside the executor's
 * directories or into the job journal, connecting to another port, running
 * other programs) are denied, the in-scope ones allowed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import {
  executorPermissions,
  executorStateDir,
  permissionFlags,
} from "../../src/poller/executor_permissions.ts";
import { COMPILED_GRANT_FLAGS } from "../../src/poller/compiled_grants.ts";

const PROBE = fileURLToPath(new URL("../fixtures/permission_probe.ts", import.meta.url));
const SCOPED_PROBE = fileURLToPath(
  new URL("../fixtures/scoped_permission_probe.ts", import.meta.url),
);

type Mode = "source" | "compiled";
const MODES: Mode[] = ["source", "compiled"];

interface World {
  root: string;
  configFile: string;
  journal: string;
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
  const stateDir = join(root, ".runner");
  const journal = join(stateDir, "journal");
  await Deno.mkdir(tempDir);
  await Deno.mkdir(journal, { recursive: true });
  await Deno.mkdir(executorStateDir(stateDir), { recursive: true });
  await Deno.writeTextFile(join(journal, "jobs.log"), "job token glcbt-other-job\n");
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
    journal: join(journal, "jobs.log"),
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
  mode: Mode,
  w: World,
  r: RunnerConfig,
  actions: string[],
  context: {
    env?: Record<string, string>;
    dockerAuthConfigs?: string[];
    /** Prepended to the probe's PATH (programs it runs by name). */
    bin?: string;
  } = {},
): Promise<Record<string, string>> {
  const perms = executorPermissions({
    runner: r,
    cwd: w.root,
    tempDir: w.tempDir,
    stateDir: w.stateDir,
    env: (name) => context.env?.[name],
    ...(context.dockerAuthConfigs ? { dockerAuthConfigs: context.dockerAuthConfigs } : {}),
  });
  const args = mode === "source"
    ? ["run", "--quiet", ...permissionFlags(perms), PROBE, ...actions]
    : ["run", "--quiet", ...COMPILED_GRANT_FLAGS, SCOPED_PROBE, JSON.stringify(perms), ...actions];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: {
      DENO_NO_UPDATE_CHECK: "1",
      PATH: [context.bin, Deno.env.get("PATH") ?? ""].filter(Boolean).join(":"),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(text, `probe printed nothing: ${new TextDecoder().decode(out.stderr)}`);
  const parsed = JSON.parse(text);
  if (mode === "source") return parsed;
  // The process's own thread holds the binary's grants until it revokes them: after, nothing.
  for (const [action, result] of Object.entries(parsed.main as Record<string, string>)) {
    assert.equal(result, "denied", `the executor process's own thread could ${action}`);
  }
  return parsed.worker;
}

function port(l: Deno.Listener): number {
  return (l.addr as Deno.NetAddr).port;
}

for (const mode of MODES) {
  Deno.test(`${mode}: shell executor process: own dirs, programs and GitLab only; config.toml, the journal and other hosts denied`, async () => {
    await using w = await world();
    const r = runner(w, "shell");
    const res = await probe(mode, w, r, [
      `read:${w.configFile}`,
      `read:${w.journal}`,
      `write:${join(w.root, "outside.txt")}`,
      `write:${join(w.root, "builds", "x.txt")}`,
      `run:bash`,
      `net:127.0.0.1:${port(w.other)}`,
      `net:127.0.0.1:${port(w.gitlab)}`,
    ]);
    assert.equal(res[`read:${w.configFile}`], "denied");
    assert.equal(res[`read:${w.journal}`], "denied");
    assert.equal(res[`write:${join(w.root, "outside.txt")}`], "denied");
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
    assert.equal(res[`run:bash`], "allowed");
    assert.equal(res[`net:127.0.0.1:${port(w.gitlab)}`], "allowed");
    // The builds dir does not exist yet: allowed by permission, fails on the missing folder.
    assert.notEqual(res[`write:${join(w.root, "builds", "x.txt")}`], "denied");
  });

  Deno.test(`${mode}: docker executor process: the docker socket and its own state dir; no journal, no spawning, no config.toml`, async () => {
    await using w = await world();
    const socket = join(w.root, "docker.sock");
    const daemon = Deno.listen({ transport: "unix", path: socket });
    const r = runner(w, "docker", (r) => r.docker.host = `unix://${socket}`);
    const lease = join(executorStateDir(w.stateDir), "lease");
    const res = await probe(mode, w, r, [
      `read:${w.configFile}`,
      `read:${w.journal}`,
      `write:${w.journal}`,
      `run:bash`,
      `run:docker`,
      `net:127.0.0.1:${port(w.other)}`,
      `write:${lease}`,
      `unix:${socket}`,
    ]);
    daemon.close();
    assert.equal(res[`read:${w.configFile}`], "denied");
    assert.equal(res[`read:${w.journal}`], "denied");
    assert.equal(res[`write:${w.journal}`], "denied");
    assert.equal(res[`run:bash`], "denied");
    assert.equal(res[`run:docker`], "denied");
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
    assert.equal(res[`write:${lease}`], "allowed");
    assert.equal(res[`unix:${socket}`], "allowed");
  });

  Deno.test(`${mode}: ssh executor process: network to its host and port only, its key file; no spawning, no config.toml`, async () => {
    await using w = await world();
    const key = join(w.root, "id_ed25519");
    await Deno.writeTextFile(key, "key");
    const sshd = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const r = runner(w, "ssh", (r) => {
      r.ssh.host = "127.0.0.1";
      r.ssh.port = String(port(sshd));
      r.ssh.identityFile = key;
    });
    const res = await probe(mode, w, r, [
      `read:${w.configFile}`,
      `read:${key}`,
      `write:${join(w.root, "outside.txt")}`,
      `run:bash`,
      `net:127.0.0.1:${port(w.other)}`,
      `net:127.0.0.1:${port(sshd)}`,
    ]);
    sshd.close();
    assert.equal(res[`read:${w.configFile}`], "denied");
    assert.equal(res[`read:${key}`], "allowed");
    assert.equal(res[`write:${join(w.root, "outside.txt")}`], "denied");
    assert.equal(res[`run:bash`], "denied");
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
    assert.notEqual(res[`net:127.0.0.1:${port(sshd)}`], "denied");
  });

  Deno.test(`${mode}: docker+ssh executor process: any address, but no config.toml, no journal, no spawning`, async () => {
    await using w = await world();
    const r = runner(w, "docker+ssh", (r) => {
      r.docker.host = `unix://${join(w.root, "docker.sock")}`;
      r.ssh.user = "root";
    });
    const res = await probe(mode, w, r, [
      `read:${w.configFile}`,
      `read:${w.journal}`,
      `write:${join(w.root, "outside.txt")}`,
      `run:bash`,
      `run:ssh`,
      `net:127.0.0.1:${port(w.other)}`,
    ]);
    assert.equal(res[`read:${w.configFile}`], "denied");
    assert.equal(res[`read:${w.journal}`], "denied");
    assert.equal(res[`write:${join(w.root, "outside.txt")}`], "denied");
    assert.equal(res[`run:bash`], "denied");
    assert.equal(res[`run:ssh`], "denied");
    // The job container's sshd sits on a bridge address known only once it runs.
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "allowed");
  });

  Deno.test(`${mode}: custom executor process: runs only the configured driver programs`, async () => {
    await using w = await world();
    const driver = join(w.root, "run.sh");
    await Deno.writeTextFile(driver, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const sibling = join(w.root, "secret.txt");
    await Deno.writeTextFile(sibling, "not the driver's\n");
    const r = runner(w, "custom", (r) => r.custom.runExec = driver);
    const res = await probe(mode, w, r, [
      `read:${w.configFile}`,
      `read:${driver}`,
      `read:${sibling}`,
      `write:${join(w.root, "outside.txt")}`,
      `run:${driver}`,
      `run:bash`,
      `net:127.0.0.1:${port(w.other)}`,
    ]);
    assert.equal(res[`read:${w.configFile}`], "denied");
    assert.equal(res[`write:${join(w.root, "outside.txt")}`], "denied");
    // The driver file itself, to say why it cannot start; nothing beside it.
    assert.equal(res[`read:${driver}`], "allowed");
    assert.equal(res[`read:${sibling}`], "denied");
    assert.equal(res[`run:${driver}`], "allowed");
    assert.equal(res[`run:bash`], "denied");
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
  });

  Deno.test(`${mode}: docker executor process: its docker config, the credential helpers named there and the cache endpoint; no other helper or host`, async () => {
    await using w = await world();
    const home = join(w.root, "home");
    const dockerConfig = join(home, ".docker", "config.json");
    const configText = JSON.stringify({ credsStore: "runnertest" });
    await Deno.mkdir(join(home, ".docker"), { recursive: true });
    await Deno.writeTextFile(dockerConfig, configText);
    // Deno resolves a program name in PATH before it checks the permission: both must exist.
    const bin = join(w.root, "bin");
    await Deno.mkdir(bin);
    for (const helper of ["docker-credential-runnertest", "docker-credential-other"]) {
      await Deno.writeTextFile(join(bin, helper), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    const cache = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const socket = join(w.root, "docker.sock");
    const r = runner(w, "docker", (r) => {
      r.docker.host = `unix://${socket}`;
      r.cache.type = "s3";
      r.cache.s3.serverAddress = `127.0.0.1:${port(cache)}`;
      r.cache.s3.bucketName = "runner-cache";
    });
    const res = await probe(mode, w, r, [
      `read:${dockerConfig}`,
      `read:${join(home, ".ssh", "id_rsa")}`,
      `run:docker-credential-runnertest`,
      `run:docker-credential-other`,
      `net:127.0.0.1:${port(cache)}`,
      `net:127.0.0.1:${port(w.other)}`,
    ], {
      env: { HOME: home },
      // The poller passes the job's DOCKER_AUTH_CONFIG, the runner's and its docker config file.
      dockerAuthConfigs: ["", "", configText],
      bin,
    });
    cache.close();
    assert.equal(res[`read:${dockerConfig}`], "allowed");
    assert.equal(res[`read:${join(home, ".ssh", "id_rsa")}`], "denied");
    assert.equal(res[`run:docker-credential-runnertest`], "allowed");
    assert.equal(res[`run:docker-credential-other`], "denied");
    assert.equal(res[`net:127.0.0.1:${port(cache)}`], "allowed");
    assert.equal(res[`net:127.0.0.1:${port(w.other)}`], "denied");
  });
}
