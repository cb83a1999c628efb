/**
 * End to end: `runner run` against the fake GitLab served over https by a
 * local CA, requiring a client certificate (mutual TLS). The runner's
 * `tls-ca-file`, `tls-cert-file` and `tls-key-file` must reach every
 * connection: the API (poller), artifact transfers (executor process) and
 * git (the job, through the official CI_SERVER_TLS_* file variables and
 * `http.<host>.sslCAInfo/sslCert/sslKey`).
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { GitRepo } from "../fixtures/git_repo.ts";
import { LocalCa } from "../fixtures/local_ca.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import {
  ensureSshdImage,
  SSHD_TEST_IMAGE_PASSWORD,
  sshdSkipReason,
  startSshd,
} from "../fixtures/sshd.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  hasImage,
} from "../fixtures/docker_images.ts";
import { bridgeGateway, tcpForward } from "../fixtures/tcp_forward.ts";
import { forwardingProxy } from "../fixtures/forwarding_proxy.ts";
import { denoDir } from "../fixtures/test_env.ts";

const TIMEOUT = { timeoutMs: 120_000 };
const skip = await LocalCa.skipReason();
// deno-lint-ignore no-console -- a skipped test says why
if (skip) console.log(`SKIP tls_test: ${skip}`);

async function tlsGitLab(ca: LocalCa): Promise<FakeGitLab> {
  return await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    tls: {
      cert: await Deno.readTextFile(ca.server.cert),
      key: await Deno.readTextFile(ca.server.key),
      clientCa: await Deno.readTextFile(ca.caFile),
    },
  });
}

const DENO_DIR = denoDir();

/** An empty HOME for the job's login shell (root's ~/.profile runs a slow pyenv init). */
async function cleanHome(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "tls-home-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Status of GET /api/v4/version, or the error: what any client without the right files sees. */
async function probe(
  url: string,
  options: Deno.CreateHttpClientOptions & { cert?: string; key?: string },
) {
  using client = Deno.createHttpClient(options as Deno.CreateHttpClientOptions);
  try {
    const res = await fetch(`${url}/api/v4/version`, { client });
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    return (err as Error).name;
  }
}

Deno.test({
  name: "the fake GitLab over https answers only clients with a certificate of its CA",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const caPem = await Deno.readTextFile(ca.caFile);
    const pair = async (p: { cert: string; key: string }) => ({
      cert: await Deno.readTextFile(p.cert),
      key: await Deno.readTextFile(p.key),
    });
    assert.equal(await probe(gitlab.url, {}), "TypeError"); // unknown CA
    assert.equal(await probe(gitlab.url, { caCerts: [caPem] }), "TypeError"); // no client cert
    assert.equal(
      await probe(gitlab.url, { caCerts: [caPem], ...await pair(ca.stranger) }),
      "TypeError",
    );
    assert.notEqual(
      await probe(gitlab.url, { caCerts: [caPem], ...await pair(ca.client) }),
      "TypeError",
    );
    assert.ok(gitlab.rejectedTlsClients >= 2);
  },
});

Deno.test({
  name:
    "with tls-ca-file and a client certificate, jobs clone, upload and download artifacts over mutual TLS",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await app.commit({ files: { "README.md": "over tls\n" } });
    const toml = runnerToml(gitlab.url, r.token, {
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    await using home = await cleanHome();
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}`,
      // The runner's own modules stay in the usual Deno cache.
      env: { HOME: home.path, DENO_DIR: DENO_DIR },
    });
    const job1 = gitlab.enqueueJob({
      script: [
        "cat README.md",
        'grep -q "BEGIN CERTIFICATE" "$CI_SERVER_TLS_CA_FILE" && echo ca-file-ok',
        'grep -q "BEGIN CERTIFICATE" "$CI_SERVER_TLS_CERT_FILE" && echo cert-file-ok',
        "mkdir -p out && echo built > out/result.txt",
      ],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      artifacts: [{ paths: ["out/"], when: "on_success" }],
    });
    const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
    assert.equal(s1.status, "success", s1.trace + runner.log);
    assert.match(s1.trace, /\nover tls\n/);
    assert.match(s1.trace, /\nca-file-ok\n/);
    assert.match(s1.trace, /\ncert-file-ok\n/);
    assert.match(s1.trace, /Uploading artifacts for successful job/);
    const [stored] = gitlab.artifactsOf(job1.id);
    assert.ok(stored, "job 1 uploaded its artifacts over mutual TLS");

    const job2 = gitlab.enqueueJob({
      script: ["cat out/result.txt"],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
      dependencies: [{
        id: job1.id,
        name: "build",
        token: job1.token,
        "artifacts_file": { filename: "artifacts.zip", size: stored.bytes.length },
      }],
    });
    const s2 = await gitlab.waitForJobFinished(job2.id, TIMEOUT);
    assert.equal(s2.status, "success", s2.trace + runner.log);
    assert.match(s2.trace, /Downloading artifacts for build/);
    assert.match(s2.trace, /\nbuilt\n/);
    assert.doesNotMatch(runner.log, /Cannot read tls-/);
  },
});

Deno.test({
  name: "without the client certificate the runner gets no job from a GitLab that requires one",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${
        runnerToml(gitlab.url, r.token, { "tls-ca-file": ca.caFile })
      }`,
    });
    const job = gitlab.enqueueJob({
      script: ["true"],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
    });
    const deadline = Date.now() + 20_000;
    while (gitlab.rejectedTlsClients < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(gitlab.rejectedTlsClients >= 2, runner.log);
    assert.equal(gitlab.jobOf(job.id).status, "pending");
    // Not a bare "fetch failed": the log names the settings to look at.
    await runner.waitForLog(/tls-cert-file and tls-key-file are not set/);
    assert.doesNotMatch(runner.log, /: fetch failed/);
  },
});

Deno.test({
  name: "without tls-ca-file the runner's log says GitLab's CA is unknown and names tls-ca-file",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${runnerToml(gitlab.url, r.token)}`,
    });
    await runner.waitForLog(/Checking for jobs\.\.\. failed/);
    const host = new URL(gitlab.url).host.replaceAll(".", "\\.");
    assert.match(
      runner.log,
      new RegExp(
        `cannot connect to ${host}: invalid peer certificate: UnknownIssuer .*set tls-ca-file to the PEM file of its CA`,
      ),
    );
  },
});

Deno.test({
  name: "without tls-ca-file, a shell job clones with the runner's GIT_SSL_CAINFO",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await app.commit({ files: { "README.md": "trusted by git\n" } });
    const toml = runnerToml(gitlab.url, r.token, {
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    await using home = await cleanHome();
    // The CA as an operator trusts it outside config.toml: DENO_CERT for the runner, git's own
    // variable for git (Debian's git reads no SSL_CERT_FILE); the official runner passes both.
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}`,
      env: { HOME: home.path, DENO_DIR: DENO_DIR, DENO_CERT: ca.caFile, GIT_SSL_CAINFO: ca.caFile },
    });
    const job = gitlab.enqueueJob({
      script: ["cat README.md"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /\ntrusted by git\n/);
  },
});

Deno.test({
  name: "a tls-ca-file in DER is left out of the job with a warning, and the job still clones",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await app.commit({ files: { "README.md": "der is not pem\n" } });
    const der = `${ca.dir}/ca.der`;
    const out = await new Deno.Command("openssl", {
      args: ["x509", "-in", ca.caFile, "-outform", "DER", "-out", der],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    // The CA is trusted another way (DENO_CERT for the runner, GIT_SSL_CAINFO for git), as
    // a CA in the system roots would be: the unusable tls-ca-file must not break the job.
    const toml = runnerToml(gitlab.url, r.token, {
      "tls-ca-file": der,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    }) + `  environment = ["GIT_SSL_CAINFO=${ca.caFile}"]\n`;
    await using home = await cleanHome();
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}`,
      env: { HOME: home.path, DENO_DIR: DENO_DIR, DENO_CERT: ca.caFile },
    });
    const job = gitlab.enqueueJob({
      script: ["cat README.md", 'test -z "$CI_SERVER_TLS_CA_FILE" && echo no-ca-file'],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /\nder is not pem\n/);
    assert.match(state.trace, /\nno-ca-file\n/);
    assert.match(
      runner.log,
      /Cannot use tls-ca-file for the job, it gets no file of it +error=it holds no PEM certificate/,
    );
  },
});

Deno.test({
  name:
    "custom executor: the helper commands in the job upload and download artifacts over mutual TLS",
  ignore: skip !== null,
  fn: async () => {
    const example = new URL("../../docs/examples/custom-driver/", import.meta.url).pathname;
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    const root = await Deno.makeTempDir({ prefix: "tls-custom-" });
    try {
      const toml = runnerToml(gitlab.url, r.token, {
        executor: "custom",
        "tls-ca-file": ca.caFile,
        "tls-cert-file": ca.client.cert,
        "tls-key-file": ca.client.key,
      });
      const custom = ["config", "prepare", "run", "cleanup"]
        .map((s) => `    ${s}_exec = "${example}${s}.sh"`).join("\n");
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\n\n${toml}  [runners.custom]\n${custom}\n`,
      });
      const variables = [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "CUSTOM_DRIVER_ROOT", value: root },
      ];
      const job1 = gitlab.enqueueJob({
        name: "build",
        script: ["mkdir -p out && echo via helper > out/result.txt"],
        artifacts: [{ paths: ["out/"], when: "on_success" }],
        variables,
      });
      const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
      assert.equal(s1.status, "success", s1.trace + runner.log);
      const [stored] = gitlab.artifactsOf(job1.id);
      assert.ok(stored, "artifacts-uploader reached GitLab over mutual TLS");
      const job2 = gitlab.enqueueJob({
        script: ["cat out/result.txt"],
        dependencies: [{
          id: job1.id,
          name: "build",
          token: job1.token,
          "artifacts_file": { filename: "artifacts.zip", size: stored.bytes.length },
        }],
        variables,
      });
      const s2 = await gitlab.waitForJobFinished(job2.id, TIMEOUT);
      assert.equal(s2.status, "success", s2.trace + runner.log);
      assert.match(s2.trace, /\nvia helper\n/);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

const sshSkip = skip ?? await sshdSkipReason();

Deno.test({
  name: "ssh executor: the job clones over mutual TLS and uploads its artifacts",
  ignore: sshSkip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    await using sshd = await startSshd();
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await app.commit({ files: { "README.md": "remote over tls\n" } });
    const toml = runnerToml(gitlab.url, r.token, {
      executor: "ssh",
      "builds_dir": `${sshd.workDir}/builds`,
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    const ssh = [
      "  [runners.ssh]",
      `    host = "${sshd.host}"`,
      `    port = "${sshd.port}"`,
      `    user = "${sshd.user}"`,
      `    identity_file = "${sshd.identityFile}"`,
      `    known_hosts_file = "${sshd.knownHostsFile}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}${ssh}\n`,
    });
    const job = gitlab.enqueueJob({
      script: ["cat README.md"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      artifacts: [{ paths: ["README.md"], when: "on_success" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /\nremote over tls\n/);
    assert.equal(gitlab.artifactsOf(job.id).length, 1);
  },
});

const dockerSkip = skip ?? (await dockerSkipReason()) ??
  (await hasImage(BUSYBOX_TEST_IMAGE) ? null : `image ${BUSYBOX_TEST_IMAGE} is absent`);

Deno.test({
  name:
    "docker executor: the build container gets the TLS files as CI_SERVER_TLS_* and artifacts upload over mutual TLS",
  ignore: dockerSkip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const toml = runnerToml(gitlab.url, r.token, {
      executor: "docker",
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    const docker =
      `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "if-not-present"\n`;
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}${docker}`,
    });
    const job = gitlab.enqueueJob({
      script: [
        'grep -q "BEGIN CERTIFICATE" "$CI_SERVER_TLS_CA_FILE" && echo ca-in-container',
        'grep -q "PRIVATE KEY" "$CI_SERVER_TLS_KEY_FILE" && echo key-in-container',
        "echo built > result.txt",
      ],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
      artifacts: [{ paths: ["result.txt"], when: "on_success" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
    assert.match(state.trace, /\nca-in-container\n/);
    assert.match(state.trace, /\nkey-in-container\n/);
    assert.equal(gitlab.artifactsOf(job.id).length, 1);
  },
});

const dockerGitSkip = skip ?? (await dockerSkipReason()) ??
  (await hasImage(DEBIAN_TEST_IMAGE) ? null : `image ${DEBIAN_TEST_IMAGE} is absent`);

Deno.test({
  name: "docker executor: the helper container clones over mutual TLS",
  ignore: dockerGitSkip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    const sha = await app.commit({ files: { "README.md": "container over tls\n" } });
    const toml = runnerToml(gitlab.url, r.token, {
      executor: "docker",
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    // The fake GitLab listens on 127.0.0.1 only: the containers share the host's network.
    const docker = [
      "  [runners.docker]",
      `    image = "${DEBIAN_TEST_IMAGE}"`,
      `    helper_image = "${DEBIAN_TEST_IMAGE}"`,
      '    pull_policy = "if-not-present"',
      '    network_mode = "host"',
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}${docker}\n`,
    });
    const job = gitlab.enqueueJob({
      script: ["cat README.md", "git log -1 --format=commit=%H"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
    assert.match(state.trace, /Created fresh repository/);
    assert.match(state.trace, /\ncontainer over tls\n/);
    assert.match(state.trace, new RegExp(`\\ncommit=${sha}\\n`));
  },
});

Deno.test({
  name: "custom executor: get_sources clones over mutual TLS",
  ignore: skip !== null,
  fn: async () => {
    const example = new URL("../../docs/examples/custom-driver/", import.meta.url).pathname;
    await using ca = await LocalCa.create();
    await using gitlab = await tlsGitLab(ca);
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    const sha = await app.commit({ files: { "README.md": "driver over tls\n" } });
    const root = await Deno.makeTempDir({ prefix: "tls-custom-" });
    try {
      const toml = runnerToml(gitlab.url, r.token, {
        executor: "custom",
        "tls-ca-file": ca.caFile,
        "tls-cert-file": ca.client.cert,
        "tls-key-file": ca.client.key,
      });
      const custom = ["config", "prepare", "run", "cleanup"]
        .map((s) => `    ${s}_exec = "${example}${s}.sh"`).join("\n");
      await using home = await cleanHome();
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\n\n${toml}  [runners.custom]\n${custom}\n`,
        env: { HOME: home.path, DENO_DIR: DENO_DIR },
      });
      const job = gitlab.enqueueJob({
        script: ["cat README.md", "git log -1 --format=commit=%H"],
        variables: [
          { key: "GIT_STRATEGY", value: "clone" },
          { key: "CUSTOM_DRIVER_ROOT", value: root },
        ],
      });
      const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
      assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
      assert.match(state.trace, /Created fresh repository/);
      assert.match(state.trace, /\ndriver over tls\n/);
      assert.match(state.trace, new RegExp(`\\ncommit=${sha}\\n`));
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

const gateway = dockerSkip === null ? await bridgeGateway() : null;
const dockerSshSkip = dockerGitSkip ??
  (gateway ? null : "the docker bridge network has no gateway address");

Deno.test({
  name: "docker+ssh executor: the job container clones over mutual TLS (clone_url on the bridge)",
  ignore: dockerSshSkip !== null,
  fn: async () => {
    const image = await ensureSshdImage();
    // The job container reaches the host on the bridge gateway, so the
    // server certificate names it and clone_url points there; the API stays on 127.0.0.1.
    await using ca = await LocalCa.create({ serverIps: [gateway!] });
    await using gitlab = await tlsGitLab(ca);
    await using _volumes = cacheVolumesRemoved(gitlab);
    await using forward = tcpForward(gateway!, Number(new URL(gitlab.url).port));
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    const sha = await app.commit({ files: { "README.md": "sshd container over tls\n" } });
    const toml = runnerToml(gitlab.url, r.token, {
      executor: "docker+ssh",
      "clone_url": `https://${gateway}:${forward.port}`,
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    const sections = [
      "  [runners.docker]",
      `    image = "${image.tag}"`,
      '    pull_policy = "if-not-present"',
      "  [runners.ssh]",
      '    user = "root"',
      `    password = "${SSHD_TEST_IMAGE_PASSWORD}"`,
      "    disable_strict_host_key_checking = true",
    ].join("\n");
    await using home = await cleanHome();
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}${sections}\n`,
      env: { HOME: home.path, DENO_DIR: DENO_DIR },
    });
    const job = gitlab.enqueueJob({
      script: ["cat README.md", "git log -1 --format=commit=%H", "git remote get-url origin"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      artifacts: [{ paths: ["README.md"], when: "on_success" }],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
    assert.match(state.trace, /Created fresh repository/);
    assert.match(state.trace, /\nsshd container over tls\n/);
    assert.match(state.trace, new RegExp(`\\ncommit=${sha}\\n`));
    assert.match(
      state.trace,
      new RegExp(`\\nhttps://\\S*@?${gateway!.replaceAll(".", "\\.")}:${forward.port}/`),
    );
    assert.equal(gitlab.artifactsOf(job.id).length, 1);
  },
});

Deno.test("a proxy variable that is no proxy address is named at start, not ignored", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n\n${runnerToml(gitlab.url, r.token)}`,
    env: { HTTPS_PROXY: "proxy.example.com 3128" },
  });
  await runner.waitForLog(/Runner started/);
  assert.match(
    runner.log,
    /WARNING: HTTPS_PROXY "proxy\.example\.com 3128" is not a proxy address \(http:\/\/host:port\)/,
  );
});

Deno.test({
  name:
    "behind HTTPS_PROXY, the poller, the job's clone and its artifact transfers reach a GitLab only the proxy can",
  ignore: skip !== null,
  fn: async () => {
    const name = "gitlab.runner-proxy.test";
    await using ca = await LocalCa.create({ serverNames: [name] });
    await using gitlab = await tlsGitLab(ca);
    // A proxy that alone knows where `name` is (127.0.0.1).
    await using proxy = forwardingProxy({ hosts: { [name]: "127.0.0.1" } });
    const url = `https://${name}:${new URL(gitlab.url).port}`;
    const r = gitlab.createRunner({ kind: "created" });
    const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await app.commit({ files: { "README.md": "through the proxy\n" } });
    const toml = runnerToml(url, r.token, {
      "clone_url": url,
      "tls-ca-file": ca.caFile,
      "tls-cert-file": ca.client.cert,
      "tls-key-file": ca.client.key,
    });
    await using home = await cleanHome();
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n\n${toml}`,
      env: { HOME: home.path, DENO_DIR: DENO_DIR, HTTPS_PROXY: proxy.url },
    });
    const job1 = gitlab.enqueueJob({
      script: ["cat README.md", "mkdir -p out && echo proxied > out/result.txt"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      artifacts: [{ paths: ["out/"], when: "on_success" }],
    });
    const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
    assert.equal(s1.status, "success", s1.trace + runner.log);
    assert.match(s1.trace, /\nthrough the proxy\n/);
    const [stored] = gitlab.artifactsOf(job1.id);
    assert.ok(stored, "the executor process uploaded through the proxy");
    const job2 = gitlab.enqueueJob({
      script: ["cat out/result.txt"],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
      dependencies: [{
        id: job1.id,
        name: "build",
        token: job1.token,
        "artifacts_file": { filename: "artifacts.zip", size: stored.bytes.length },
      }],
    });
    const s2 = await gitlab.waitForJobFinished(job2.id, TIMEOUT);
    assert.equal(s2.status, "success", s2.trace + runner.log);
    assert.match(s2.trace, /\nproxied\n/);
    // The poller, git and each job's executor process opened tunnels of their own.
    const tunnels = proxy.lines.filter((l) => l.startsWith(`CONNECT ${name}:`)).length;
    assert.ok(tunnels >= 4, String(tunnels));
  },
});
