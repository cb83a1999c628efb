/**
 * End to end: `runner register` with the official flags added for issue 14
 * point 3 (map-type docker flags, feature flags, custom build dir, azure
 * cache, keys we accept without acting on them) and their environment
 * variables, against the fake GitLab; config.toml is read back as TOML.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "smol-toml";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runCli } from "../fixtures/runner_process.ts";

type Table = Record<string, unknown>;

async function register(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ runner: Table; stderr: string; dir: string }> {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-flags-" });
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--config",
    config,
    ...args,
  ], { env });
  assert.equal(res.code, 0, res.stderr);
  // Plain objects (smol-toml's tables have no prototype) for deepEqual.
  const document = JSON.parse(JSON.stringify(parse(await Deno.readTextFile(config)))) as {
    runners: Table[];
  };
  assert.equal(document.runners.length, 1);
  return { runner: document.runners[0]!, stderr: res.stderr, dir };
}

Deno.test("register writes the map-type docker flags as TOML tables, from key:value items and their variables", async () => {
  const { runner, dir } = await register([
    "--executor",
    "docker",
    "--docker-image",
    "alpine:3.20",
    "--docker-tmpfs",
    "/scratch:rw,noexec,size=64m",
    "--docker-services-tmpfs",
    "/var/lib/mysql:rw,size=128m",
    "--docker-sysctls",
    "net.ipv4.ip_forward:1",
    "--docker-sysctls",
    "net.core.somaxconn:1024",
    "--docker-ulimit",
    "nofile:1024:2048",
    "--docker-log-options",
    "max-size:10m",
    "--docker-container-labels",
    "team:ci",
    "--docker-services_devices",
    "mysql:*:/dev/fuse",
    "--docker-volume-driver-ops",
    "size:10G",
  ], {
    DOCKER_SYSCTLS: "kernel.msgmax:65536",
    DOCKER_LOG_OPTIONS: "max-file:3",
    DOCKER_VOLUMES: "/data:/data:ro",
  });
  const docker = runner["docker"] as Table;
  assert.equal(docker["image"], "alpine:3.20");
  assert.deepEqual(docker["tmpfs"], { "/scratch": "rw,noexec,size=64m" });
  assert.deepEqual(docker["services_tmpfs"], { "/var/lib/mysql": "rw,size=128m" });
  assert.deepEqual(docker["sysctls"], {
    "kernel.msgmax": "65536",
    "net.ipv4.ip_forward": "1",
    "net.core.somaxconn": "1024",
  });
  assert.deepEqual(docker["ulimit"], { nofile: "1024:2048" });
  assert.deepEqual(docker["log_options"], { "max-file": "3", "max-size": "10m" });
  assert.deepEqual(docker["container_labels"], { team: "ci" });
  assert.deepEqual(docker["services_devices"], { mysql: ["*:/dev/fuse"] });
  assert.deepEqual(docker["volume_driver_ops"], { size: "10G" });
  // A variable is one item, as upstream; register adds the /cache volume to docker runners.
  assert.deepEqual(docker["volumes"], ["/data:/data:ro", "/cache"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register writes feature flags, custom_build_dir, azure cache and the keys we do not act on, warning about the latter by key", async () => {
  const { runner, stderr, dir } = await register([
    "--executor",
    "shell",
    "--feature-flags",
    "FF_SCRIPT_SECTIONS:true",
    "--feature-flags",
    "FF_USE_DIRECT_DOWNLOAD:false",
    "--custom_build_dir-enabled",
    "--proxy-exec",
    "--use-slot-cgroups",
    "--slot-cgroup-template",
    "ci/slot-${slot}",
    "--cache-type",
    "azure",
    "--cache-azure-account-name",
    "ciaccount",
    "--cache-azure-container-name",
    "runner-cache",
  ], {
    CACHE_AZURE_ACCOUNT_KEY: "c2VjcmV0",
    CACHE_AZURE_STORAGE_DOMAIN: "blob.example.test",
    STEP_RUNNER_IMAGE: "registry.example.test/step-runner:1",
  });
  assert.deepEqual(runner["feature_flags"], {
    FF_SCRIPT_SECTIONS: true,
    FF_USE_DIRECT_DOWNLOAD: false,
  });
  assert.deepEqual(runner["custom_build_dir"], { enabled: true });
  assert.equal(runner["proxy_exec"], true);
  assert.equal(runner["use_slot_cgroups"], true);
  assert.equal(runner["slot_cgroup_template"], "ci/slot-${slot}");
  assert.equal(runner["step_runner_image"], "registry.example.test/step-runner:1");
  const cache = runner["cache"] as Table;
  assert.equal(cache["Type"], "azure");
  assert.deepEqual(cache["azure"], {
    AccountName: "ciaccount",
    AccountKey: "c2VjcmV0",
    ContainerName: "runner-cache",
    StorageDomain: "blob.example.test",
  });
  for (
    const key of ["runners.proxy_exec", "runners.use_slot_cgroups", "runners.step_runner_image"]
  ) {
    assert.match(
      stderr,
      new RegExp(`key ${key.replaceAll(".", "\\.")} is accepted but not supported`),
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register refuses a map item it cannot read and a table flag, naming the flag", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-flags-" });
  const base = ["register", "-n", "-u", gitlab.url, "-t", fake.token, "--executor", "shell"];
  const config = ["-c", join(dir, "config.toml")];
  const bad = await runCli([...base, "--feature-flags", "FF_SCRIPT_SECTIONS:maybe", ...config]);
  assert.notEqual(bad.code, 0);
  assert.match(
    bad.stderr,
    /--feature-flags takes KEY:true or KEY:false items, got "FF_SCRIPT_SECTIONS:maybe"/,
  );
  const table = await runCli([...base, "--runner-monitoring", "x", ...config]);
  assert.notEqual(table.code, 0);
  assert.match(table.stderr, /--runner-monitoring cannot be given on the command line/);
  await assert.rejects(Deno.stat(join(dir, "config.toml")));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register adds the /cache volume to docker runners unless one is mounted there or the cache is disabled; docker-windows gets pwsh and c:\\cache", async () => {
  const plain = await register(["--executor", "docker", "--docker-image", "alpine:3.20"]);
  assert.deepEqual((plain.runner["docker"] as Table)["volumes"], ["/cache"]);
  const mounted = await register([
    "--executor",
    "docker",
    "--docker-image",
    "alpine:3.20",
    "--docker-volumes",
    "/srv/cache:/cache",
  ]);
  assert.deepEqual((mounted.runner["docker"] as Table)["volumes"], ["/srv/cache:/cache"]);
  const disabled = await register([
    "--executor",
    "docker",
    "--docker-image",
    "alpine:3.20",
    "--docker-disable-cache",
  ]);
  assert.deepEqual((disabled.runner["docker"] as Table)["volumes"] ?? [], []);
  const windows = await register([
    "--executor",
    "docker-windows",
    "--docker-image",
    "mcr.microsoft.com/windows/servercore:ltsc2022",
  ]);
  assert.equal(windows.runner["shell"], "pwsh");
  assert.deepEqual((windows.runner["docker"] as Table)["volumes"], ["c:\\cache"]);
  const shell = await register(["--executor", "shell", "--docker-image", "alpine:3.20"]);
  assert.equal(shell.runner["docker"], undefined);
  assert.match(
    shell.stderr,
    /\[runners\.docker\] is not written: the "shell" executor does not use it/,
  );
  for (const r of [plain, mounted, disabled, windows, shell]) {
    await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test("register -n refuses an unknown executor and an executor without what upstream requires (docker image, ssh host and user)", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-flags-" });
  const config = join(dir, "config.toml");
  const base = ["register", "-n", "-u", gitlab.url, "-t", fake.token, "-c", config];
  const unknown = await runCli([...base, "--executor", "dockr"]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /Invalid executor specified: "dockr" \(one of shell, docker, ssh/);
  const noImage = await runCli([...base, "--executor", "docker"]);
  assert.notEqual(noImage.code, 0);
  assert.match(
    noImage.stderr,
    /Register needs --docker-image \(or DOCKER_IMAGE\) for the "docker" executor/,
  );
  const noHost = await runCli([...base, "--executor", "ssh", "--ssh-user", "ci"]);
  assert.notEqual(noHost.code, 0);
  assert.match(noHost.stderr, /Register needs --ssh-host \(or SSH_HOST\) for the "ssh" executor/);
  assert.equal(gitlab.requestsTo("verify_runner").length, 0, "GitLab was not asked");
  await assert.rejects(Deno.stat(config));
  const ssh = await register(["--executor", "ssh", "--ssh-host", "build.example.test"], {
    SSH_USER: "ci",
    SSH_PORT: "2222",
  });
  assert.deepEqual(ssh.runner["ssh"], { host: "build.example.test", port: "2222", user: "ci" });
  await Deno.remove(ssh.dir, { recursive: true });
  // docker+ssh connects to the job container: it asks for the login, as upstream's docker-ssh.
  const dockerSsh = await register(["--executor", "docker+ssh", "--docker-image", "sshd:1"], {
    SSH_USER: "ci",
  });
  assert.deepEqual(dockerSsh.runner["ssh"], { user: "ci" });
  assert.doesNotMatch(dockerSsh.stderr, /ssh\.host/);
  await Deno.remove(dockerSsh.dir, { recursive: true });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register -t with a token that is not glrt- verifies that runner and writes it, registering nothing", async () => {
  await using gitlab = await FakeGitLab.start();
  const legacy = gitlab.createRunner({ kind: "registered" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-flags-" });
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    legacy.token,
    "--executor",
    "shell",
    "-c",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /Token specified trying to verify runner/);
  assert.match(res.stderr, /If you want to register use the '-r' instead of '-t'/);
  assert.equal(gitlab.requestsTo("register_runner").length, 0);
  assert.equal(gitlab.requestsTo("verify_runner").length, 1);
  const text = await Deno.readTextFile(config);
  assert.match(text, new RegExp(`token = "${legacy.token}"`));
  const bad = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    "not-a-runner-token",
    "--executor",
    "shell",
    "-c",
    join(dir, "other.toml"),
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Failed to verify the runner/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register warns about a token registered twice and about limits above the global concurrent", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-flags-" });
  const config = join(dir, "config.toml");
  const args = ["register", "-n", "-u", gitlab.url, "-t", fake.token, "-c", config];
  const first = await runCli([...args, "--executor", "shell", "--limit", "4"]);
  assert.equal(first.code, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /already been registered/);
  assert.match(
    first.stderr,
    /--limit 4 is above the global concurrent \(1\) of .*config\.toml: concurrent still caps it/,
  );
  const second = await runCli([...args, "--executor", "shell", "--request-concurrency", "3"]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(
    second.stderr,
    /A runner with this system ID and token has already been registered\./,
  );
  assert.match(second.stderr, /--request-concurrency 3 is above the global concurrent \(1\)/);
  await Deno.remove(dir, { recursive: true });
});
