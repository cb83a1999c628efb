import assert from "node:assert/strict";
import { expandImageName } from "./_expand.ts";
import { dockerEndpoint } from "../../config/docker_endpoint.ts";
import { resourceLabels } from "./docker_labels.ts";
import { ExecFrameDecoder } from "./exec_frames.ts";
import { serviceAliases, servicePorts } from "./job_services.ts";
import { cacheVolumeName, temporaryVolumeName } from "./volume_names.ts";

const noTls = { tlsCertPath: "", tlsVerify: false };

Deno.test("docker endpoint: local socket by default, DOCKER_HOST and TLS like the docker client", () => {
  assert.deepEqual(dockerEndpoint({ host: "", ...noTls }), {
    kind: "socket",
    socketPath: "/var/run/docker.sock",
  });
  assert.deepEqual(dockerEndpoint({ host: "unix:///run/d.sock", ...noTls }), {
    kind: "socket",
    socketPath: "/run/d.sock",
  });
  const env = (name: string) =>
    ({ DOCKER_HOST: "tcp://10.0.0.5", DOCKER_CERT_PATH: "/certs" })[name];
  assert.deepEqual(dockerEndpoint({ host: "", ...noTls }, env), {
    kind: "tcp",
    host: "10.0.0.5",
    port: 2376,
    tlsCertPath: "/certs",
    tlsVerify: false,
  });
  assert.deepEqual(dockerEndpoint({ host: "tcp://d:2375", ...noTls }), {
    kind: "tcp",
    host: "d",
    port: 2375,
    tlsCertPath: "",
    tlsVerify: false,
  });
  assert.throws(
    () => dockerEndpoint({ host: "ftp://x", ...noTls }),
    /Invalid \[runners\.docker\] host "ftp:\/\/x"/,
  );
  // Only the docker CLI has an ssh transport; docs/getting-started.md offered it.
  assert.throws(
    () => dockerEndpoint({ host: "ssh://ci@build-host", ...noTls }),
    new TypeError(
      'Invalid [runners.docker] host "ssh://ci@build-host": the ssh:// transport of the docker ' +
        "CLI is not supported (expected unix:///path or tcp://host:port; forward the remote " +
        "daemon's socket over ssh, e.g. ssh -nNT -L /run/remote-docker.sock:/var/run/docker.sock " +
        "user@host, and use unix:///run/remote-docker.sock)",
    ),
  );
  // As the docker client: without a scheme there is no endpoint.
  assert.throws(
    () =>
      dockerEndpoint(
        { host: "", ...noTls },
        (name) => name === "DOCKER_HOST" ? "bogus" : undefined,
      ),
    /Invalid DOCKER_HOST "bogus": expected unix:\/\/\/path or tcp:\/\/host:port/,
  );
});

Deno.test("exec frames are split into payloads across chunk boundaries", () => {
  const frame = (stream: number, text: string) => {
    const body = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + body.length);
    out[0] = stream;
    new DataView(out.buffer).setUint32(4, body.length);
    out.set(body, 8);
    return out;
  };
  const all = new Uint8Array([...frame(1, "hello\n"), ...frame(2, "err\n")]);
  const d = new ExecFrameDecoder();
  const got = [...d.push(all.slice(0, 5)), ...d.push(all.slice(5, 17)), ...d.push(all.slice(17))];
  assert.deepEqual(got.map((p) => new TextDecoder().decode(p)), ["hello\n", "err\n"]);
  assert.equal(d.pending, 0);
});

Deno.test("service aliases: given ones first, then the names derived from the image", () => {
  assert.deepEqual(serviceAliases({ name: "tutum/wordpress:latest", alias: "wp, blog" }), [
    "wp",
    "blog",
    "tutum__wordpress",
    "tutum-wordpress",
  ]);
  assert.deepEqual(serviceAliases({ name: "registry.example.com:5000/db/pg:16", alias: "" }), [
    "registry.example.com__db__pg",
    "registry.example.com-db-pg",
  ]);
  const image = (exposedPorts: string[], env: string[] = []) => ({ exposedPorts, env });
  assert.deepEqual(servicePorts({ ports: [] }, image(["5432/tcp", "53/udp"])), [5432]);
  // The 20 lowest of a range, as upstream.
  const range = Array.from({ length: 30 }, (_, i) => `${9029 - i}/tcp`);
  assert.deepEqual(
    servicePorts({ ports: [] }, image(range)),
    Array.from({ length: 20 }, (_, i) => 9000 + i),
  );
  assert.deepEqual(
    servicePorts({ ports: [{ number: 80, protocol: "http", name: "" }] }, image(["1/tcp"])),
    [80],
  );
});

Deno.test("service ports: HEALTHCHECK_TCP_PORT names the one port to wait for, as upstream", () => {
  const image = (exposedPorts: string[], env: string[] = []) => ({ exposedPorts, env });
  const web = { ports: [{ number: 80, protocol: "http", name: "" }] };
  // The container's environment (job and service variables), then the image's ENV.
  assert.deepEqual(
    servicePorts({ ports: [] }, image(["5432/tcp"]), ["HEALTHCHECK_TCP_PORT=8080"]),
    [
      8080,
    ],
  );
  assert.deepEqual(servicePorts(web, image([], ["HEALTHCHECK_TCP_PORT=9000"])), [9000]);
  assert.deepEqual(
    servicePorts(web, image([], ["HEALTHCHECK_TCP_PORT=9000"]), ["healthcheck_tcp_port=7000"]),
    [7000],
  );
  assert.deepEqual(servicePorts(web, image(["1/tcp"]), ["HEALTHCHECK_TCP_PORT="]), [80]);
  for (const bad of ["http", "0", "65536", "80/tcp", "-1"]) {
    assert.throws(
      () => servicePorts(web, image([]), [`HEALTHCHECK_TCP_PORT=${bad}`]),
      new RangeError(
        `HEALTHCHECK_TCP_PORT "${bad}" is not a TCP port (expected a number from 1 to 65535)`,
      ),
    );
  }
});

Deno.test("volume names follow the official per-project, per-slot shape", () => {
  const scope = { shortToken: "abc123", projectId: 7, concurrentProjectId: 2 };
  assert.match(
    cacheVolumeName(scope, "/builds"),
    /^runner-abc123-project-7-concurrent-2-cache-[0-9a-f]{32}$/,
  );
  assert.notEqual(cacheVolumeName(scope, "/builds"), cacheVolumeName(scope, "/cache"));
  assert.match(temporaryVolumeName(scope, 99, "/builds"), /-job-99-tmp-/);
});

Deno.test("cache volumes carry no owner, so the orphan sweep never takes them", () => {
  const ctx = {
    ownerId: "o",
    hostId: "h",
    jobId: 1,
    projectId: 2,
    shortToken: "s",
    concurrentProjectId: 0,
  };
  assert.equal(resourceLabels(ctx, "cache")["runner.owner"], undefined);
  assert.equal(resourceLabels(ctx, "cache")["runner.temporary"], "false");
  assert.equal(resourceLabels(ctx, "build")["runner.owner"], "o");
  assert.equal(resourceLabels(ctx, "build")["com.gitlab.gitlab-runner.job.id"], "1");
});

Deno.test("image names expand $VAR, ${VAR} and $$", () => {
  const vars: Record<string, string> = { TAG: "3.3", REG: "r.example.com" };
  assert.equal(
    expandImageName("${REG}/ruby:$TAG-$$x", (k) => vars[k]),
    "r.example.com/ruby:3.3-$x",
  );
});
