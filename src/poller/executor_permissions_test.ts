import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import {
  credentialHelperPrograms,
  dockerConfigPath,
  executorPermissions,
} from "./executor_permissions.ts";

Deno.test("docker executor may run exactly the credential helpers its auth configs name", () => {
  const env: Record<string, string> = { HOME: "/home/runner" };
  const perms = executorPermissions({
    runner: { ...defaultRunnerConfig("docker"), url: "https://gitlab.example.com" },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: (name) => env[name],
    dockerAuthConfigs: [
      JSON.stringify({ credHelpers: { "registry.example.com": "ecr-login" } }),
      JSON.stringify({ credsStore: "pass" }),
      JSON.stringify({ credsStore: "../../bin/sh" }),
      "not json",
    ],
  });
  assert.deepEqual(perms.run, ["docker-credential-ecr-login", "docker-credential-pass"]);
  assert.ok(perms.read.includes("/home/runner/.docker/config.json"));
  const none = executorPermissions({
    runner: { ...defaultRunnerConfig("docker"), url: "https://gitlab.example.com" },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: () => undefined,
  });
  assert.deepEqual(none.run, []);
});

Deno.test("the docker config is found like the docker CLI finds it", () => {
  assert.equal(
    dockerConfigPath((n) => ({ HOME: "/h" } as Record<string, string>)[n]),
    "/h/.docker/config.json",
  );
  assert.equal(
    dockerConfigPath((n) => ({ HOME: "/h", DOCKER_CONFIG: "/etc/d" } as Record<string, string>)[n]),
    "/etc/d/config.json",
  );
  assert.equal(dockerConfigPath(() => undefined), null);
  assert.deepEqual(credentialHelperPrograms([]), []);
});

Deno.test("an executor process may reach the distributed cache's endpoint, and only that one", () => {
  const base = defaultRunnerConfig("shell");
  const perms = (cache: typeof base.cache) =>
    executorPermissions({
      runner: { ...base, url: "https://gitlab.example.com", cache },
      cwd: "/srv",
      tempDir: "/tmp/x",
      stateDir: "/srv/state",
      env: () => undefined,
    }).net;
  assert.deepEqual(perms(base.cache), ["gitlab.example.com:443"]);
  const s3 = {
    ...base.cache,
    type: "s3",
    s3: { ...base.cache.s3, serverAddress: "127.0.0.1:7480", bucketName: "c", insecure: true },
  };
  assert.deepEqual(perms(s3), ["gitlab.example.com:443", "127.0.0.1:7480"]);
  const aws = {
    ...s3,
    s3: { ...s3.s3, serverAddress: "", insecure: false, bucketLocation: "eu-west-1" },
  };
  assert.deepEqual(perms(aws), [
    "gitlab.example.com:443",
    "c.s3.dualstack.eu-west-1.amazonaws.com:443",
  ]);
  const gcs = { ...base.cache, type: "gcs", gcs: { ...base.cache.gcs, bucketName: "c" } };
  assert.deepEqual(perms(gcs), ["gitlab.example.com:443", "storage.googleapis.com:443"]);
});

Deno.test("an executor process may reach the proxy its environment names for cache uploads, and no other", () => {
  const base = defaultRunnerConfig("shell");
  const s3 = {
    ...base.cache,
    type: "s3",
    s3: { ...base.cache.s3, serverAddress: "minio.internal:9000", bucketName: "c" },
  };
  const net = (env: Record<string, string>) =>
    executorPermissions({
      runner: { ...base, url: "https://gitlab.example.com", cache: s3 },
      cwd: "/srv",
      tempDir: "/tmp/x",
      stateDir: "/srv/state",
      env: (name) => env[name],
    }).net;
  const direct = ["gitlab.example.com:443", "minio.internal:9000"];
  assert.deepEqual(net({ HTTPS_PROXY: "http://user:pw@proxy.corp:3128" }), [
    ...direct,
    "proxy.corp:3128",
  ]);
  // Only the scheme's proxy, and none for a store NO_PROXY names.
  assert.deepEqual(net({ HTTP_PROXY: "http://proxy.corp:3128" }), direct);
  assert.deepEqual(net({ HTTPS_PROXY: "proxy.corp:3128", no_proxy: ".internal" }), direct);
  assert.deepEqual(net({}), direct);
});

Deno.test("custom executor may run its driver programs, kill(1) and ln(1) (an archive's symlinks), nothing else, and read only its driver files", () => {
  const runner = { ...defaultRunnerConfig("custom"), url: "https://gitlab.example.com" };
  runner.custom = { ...runner.custom, prepareExec: "/opt/driver/prepare.sh", runExec: "run.sh" };
  const perms = executorPermissions({
    runner,
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: () => undefined,
  });
  assert.deepEqual(perms.run, ["/opt/driver/prepare.sh", "run.sh", "kill", "ln"]);
  // The driver files themselves, to say why one that exec(2) refuses cannot start.
  assert.deepEqual(perms.read, ["/tmp/x", "/opt/driver/prepare.sh"]);
});

Deno.test("docker executor may read the seccomp profile files security_opt names, and no other", () => {
  const docker = {
    ...defaultRunnerConfig("docker").docker,
    securityOpt: ["seccomp=/etc/runner/build.json", "seccomp=unconfined", "no-new-privileges"],
    servicesSecurityOpt: ["seccomp=profiles/svc.json", 'seccomp={"defaultAction":"x"}'],
  };
  const perms = executorPermissions({
    runner: { ...defaultRunnerConfig("docker"), url: "https://gitlab.example.com", docker },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: () => undefined,
  });
  assert.ok(perms.read.includes("/etc/runner/build.json"), String(perms.read));
  assert.ok(perms.read.includes("/srv/profiles/svc.json"), String(perms.read));
  assert.ok(!perms.read.some((p) => p.includes("unconfined") || p.includes("{")));
  // docker+ssh starts its job container with the same security_opt.
  const viaSsh = executorPermissions({
    runner: { ...defaultRunnerConfig("docker+ssh"), url: "https://gitlab.example.com", docker },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: () => undefined,
  });
  assert.ok(viaSsh.read.includes("/etc/runner/build.json"), String(viaSsh.read));
});

Deno.test("an ssh host or port that is no address adds no --allow-net entry; an IPv6 host is bracketed", () => {
  const net = (host: string, port: string) =>
    executorPermissions({
      runner: {
        ...defaultRunnerConfig("ssh"),
        url: "https://gitlab.example.com",
        ssh: { ...defaultRunnerConfig("ssh").ssh, host, port },
      },
      cwd: "/srv",
      tempDir: "/tmp/x",
      stateDir: "/srv/state",
      env: () => undefined,
    }).net.slice(1);
  assert.deepEqual(net("build.example.com", "2222"), ["build.example.com:2222"]);
  assert.deepEqual(net("", ""), ["localhost:22"]);
  assert.deepEqual(net("::1", "22"), ["[::1]:22"]);
  for (
    const [host, port] of [
      ["example.com:2222", "22"],
      ["ssh://example.com", "22"],
      [
        "a b",
        "22",
      ],
      ["example.com", "abc"],
      ["example.com", "99999"],
    ]
  ) {
    assert.deepEqual(net(host!, port!), [], `${host} ${port}`);
  }
});

Deno.test("ssh identity_file and known_hosts_file under ~ are granted where the executor reads them", () => {
  const read = (identityFile: string, knownHostsFile: string, home?: string) =>
    executorPermissions({
      runner: {
        ...defaultRunnerConfig("ssh"),
        url: "https://gitlab.example.com",
        ssh: { ...defaultRunnerConfig("ssh").ssh, identityFile, knownHostsFile },
      },
      cwd: "/srv",
      tempDir: "/tmp/x",
      stateDir: "/srv/state",
      env: (name) => name === "HOME" ? home : undefined,
    }).read.slice(1);
  assert.deepEqual(read("~/.ssh/id_ed25519", "~/.ssh/known_hosts", "/home/runner"), [
    "/home/runner/.ssh/id_ed25519",
    "/home/runner/.ssh/known_hosts",
  ]);
  assert.deepEqual(read("keys/id", "", "/home/runner"), [
    "/srv/keys/id",
    "/home/runner/.ssh/known_hosts",
  ]);
  // No HOME: the executor takes the cwd for it.
  assert.deepEqual(read("~/id", "", undefined), ["/srv/id", "/srv/.ssh/known_hosts"]);
});
