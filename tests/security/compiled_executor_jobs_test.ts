/**
 * Real docker, ssh, docker+ssh and custom jobs through the executor process as
 * the compiled binary runs it: `deno run` with the binary's global grants
 * (COMPILED_GRANT_FLAGS) and `src/cli/main.ts executor-process --permissions
 * <json>`, the job in a Worker holding only its executor's row of the table.
 * The poller side is the real one (JobSupervisor computes the row and the
 * start message, SubprocessLauncher starts the process); the job comes from
 * the fake GitLab, clones its repository over `git http-backend` where the
 * executor can reach it and uploads an artifact the test reads back from
 * GitLab; with an S3 cache on radosgw, the cache goes to the store and back
 * with URLs the poller signed; against a GitLab that wants a client
 * certificate, an ssh job uses the runner's TLS files. A second kind of test gives the executor process a start message
 * naming something outside its row (another docker socket, config.toml as
 * the ssh key, another sshd port, a driver program not in its config) and
 * asserts the denial. Skips, saying why, without
 * dockerd or sshd.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { executorSettings, type SweptEvent } from "../../src/executors/process_protocol.ts";
import { type JobSpec, parseJobSpec } from "../../src/job/job_spec.ts";
import { SilentLogger } from "../../src/log/logger.ts";
import { dockerConfigPath, executorPermissions } from "../../src/poller/executor_permissions.ts";
import {
  type JobResult,
  JobSupervisor,
  type TraceSession,
  type TraceSessionFactory,
} from "../../src/poller/job_supervisor.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import { sweepLeftovers } from "../../src/poller/leftover_sweep.ts";
import { CacheUrlSigners } from "../../src/cache/cache_url_signer.ts";
import type { JobRef, JobUpdate, TraceTransport, UpdateResult } from "../../src/trace/transport.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  ensureTestImages,
} from "../fixtures/docker_images.ts";
import { type EnqueueJobOptions, FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { GitRepo } from "../fixtures/git_repo.ts";
import { LocalCa } from "../fixtures/local_ca.ts";
import { radosgwSkipReason, startRadosgw } from "../fixtures/radosgw.ts";
import { MAIN_MODULE } from "../fixtures/runner_process.ts";
import {
  ensureSshdImage,
  SSHD_TEST_IMAGE_PASSWORD,
  type SshdFixture,
  sshdSkipReason,
  startSshd,
} from "../fixtures/sshd.ts";
import { bridgeGateway, tcpForward } from "../fixtures/tcp_forward.ts";
import { testEnv } from "../fixtures/test_env.ts";

const EXAMPLE_DRIVER = fileURLToPath(
  new URL("../../docs/examples/custom-driver/", import.meta.url),
);

const dockerSkip = await dockerSkipReason();
const sshSkip = await sshdSkipReason();
if (dockerSkip) {
  // deno-lint-ignore no-console -- a skipped test says why (team rule)
  console.log(`SKIP compiled docker and docker+ssh jobs: ${dockerSkip}`);
} else await ensureTestImages();
const radosgwSkip = dockerSkip ?? await radosgwSkipReason();
if (radosgwSkip) {
  // deno-lint-ignore no-console -- a skipped test says why (team rule)
  console.log(`SKIP compiled docker job with a distributed cache: ${radosgwSkip}`);
}
if (sshSkip) {
  // deno-lint-ignore no-console -- a skipped test says why (team rule)
  console.log(`SKIP compiled ssh job: ${sshSkip}`);
}

/** The job log as the poller receives it, and the result it reports. */
class CollectedTraces implements TraceSessionFactory {
  text = "";
  result: JobResult | null = null;
  open(): TraceSession {
    const decoder = new TextDecoder();
    return {
      write: (chunk) => this.text += decoder.decode(chunk, { stream: true }),
      finish: (result) => {
        this.result = result;
        return Promise.resolve(true);
      },
    };
  }
}

/** Acceptance PUTs; the test reads the final state from the collected trace instead. */
class AcceptingGitLab implements TraceTransport {
  patchTrace(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  updateJob(_job: JobRef, _update: JobUpdate): Promise<UpdateResult> {
    return Promise.resolve({ kind: "ok" });
  }
}

/** A runner working directory with its state directory, removed at the end. */
async function tempRoot(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "runner-compiled-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** What `POST /jobs/request` gives the runner for the job just queued. */
async function takeJob(
  gitlab: FakeGitLab,
  options: EnqueueJobOptions,
  client?: Deno.HttpClient,
): Promise<JobSpec> {
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ ...options, runnerId: runner.id });
  const res = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runner.token, info: {} }),
    ...(client ? { client } : {}),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return parseJobSpec(await res.json());
}

/**
 * Runs `job` through the poller's JobSupervisor with a launcher that starts
 * the executor process as the compiled binary does. Resolves with the job log
 * and the result the poller would report.
 */
async function runCompiled(
  root: string,
  runner: RunnerConfig,
  job: JobSpec,
): Promise<{ trace: string; result: JobResult | null }> {
  const env = testEnv();
  const tempDir = join(root, "tmp");
  await Deno.mkdir(tempDir, { recursive: true });
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping: "worker",
    env,
  });
  const traces = new CollectedTraces();
  const supervisor = new JobSupervisor({
    log: new SilentLogger(),
    launcher,
    traces,
    transportFor: () => new AcceptingGitLab(),
    systemId: "s_0123456789ab",
    cwd: root,
    tempDir,
    stateDir: join(root, ".runner"),
    env: (name) => env[name],
    // The poller signs distributed cache URLs; the executor process asks for them.
    cacheUrls: new CacheUrlSigners({ env: (name) => env[name] }),
    dockerConfigText: () => {
      const path = dockerConfigPath((name) => env[name]);
      try {
        return path ? Deno.readTextFileSync(path) : "";
      } catch {
        return ""; // no docker config: as the poller reads it (cli/commands/run.ts)
      }
    },
  });
  try {
    await supervisor.handle(
      runner,
      job,
      { concurrentId: 0, concurrentProjectId: 0 },
      new AbortController().signal,
    );
  } finally {
    launcher.close();
  }
  return { trace: traces.text, result: traces.result };
}

/**
 * The executor process with the row of `allowed` and a start message made
 * from `sent`: what a tampered or buggy start message can reach.
 */
async function runOutsideRow(
  root: string,
  allowed: RunnerConfig,
  sent: RunnerConfig,
  job: JobSpec,
): Promise<{ trace: string; state: unknown }> {
  const env = testEnv();
  const tempDir = join(root, "tmp");
  const stateDir = join(root, ".runner");
  await Deno.mkdir(tempDir, { recursive: true });
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping: "worker",
    env,
  });
  const permissions = executorPermissions({
    runner: allowed,
    cwd: root,
    tempDir,
    stateDir,
    env: (name) => env[name],
  });
  await using proc = launcher.launch(permissions);
  await proc.send({
    type: "start",
    job,
    runner: executorSettings(sent),
    shortToken: "abcdefgh",
    systemId: "s_0123456789ab",
    concurrentId: 0,
    concurrentProjectId: 0,
    cwd: root,
    stateDir,
    tempDir,
  });
  let trace = "";
  let state: unknown = null;
  const decoder = new TextDecoder();
  for await (const item of proc.events()) {
    if ("trace" in item) trace += decoder.decode(item.trace);
    else if (item.event.type === "result") state = item.event.state;
  }
  return { trace: trace + proc.stderrTail(), state };
}

const ARTIFACT = [{
  name: "proof",
  paths: ["proof.txt"],
  when: "on_success",
  "artifact_type": "archive",
  "artifact_format": "zip",
}];

const CACHE = {
  key: "kept",
  paths: ["kept.txt"],
  when: "on_success",
  "fallback_keys": [],
};

/** Deno refusing a cache or artifact step shows in the log (a cache step only warns). */
function assertNoDenial(trace: string): void {
  assert.doesNotMatch(trace, /Requires \w+ access|NotCapable|PermissionDenied/, trace);
}

/**
 * Two jobs of one project through `runner`: the first clones (unless
 * `isCloning` is false), runs its script, saves a local cache and uploads an
 * artifact; the second restores that cache and downloads the artifact as a
 * dependency. Resolves with both logs once both succeeded.
 */
async function roundTrip(
  root: string,
  gitlab: FakeGitLab,
  runner: RunnerConfig,
  options: {
    isCloning: boolean;
    marker: string;
    /** false: the cache lives in the job container and goes with it (docker+ssh, docs/executors/ssh.md). */
    isCacheKept?: boolean;
    /** How the test itself reaches a GitLab that wants a client certificate. */
    client?: Deno.HttpClient;
  },
): Promise<{ first: string; second: string }> {
  if (options.isCloning) {
    const repo = await GitRepo.create(gitlab.projectRoot, "acme/widget");
    await repo.commit({ files: { "README.md": "cloned through git http-backend\n" } });
  }
  const strategy = { key: "GIT_STRATEGY", value: options.isCloning ? "clone" : "none" };
  const first = await takeJob(gitlab, {
    script: [
      ...(options.isCloning ? ["cat README.md"] : []),
      `echo artifact-${options.marker} > proof.txt`,
      `echo cache-${options.marker} > kept.txt`,
    ],
    variables: [strategy],
    artifacts: ARTIFACT,
    cache: [{ ...CACHE, policy: "push" }],
  }, options.client);
  const one = await runCompiled(root, runner, first);
  assert.equal(one.result?.state, "success", one.trace);
  assertNoDenial(one.trace);
  assert.match(one.trace, /Created cache/, one.trace);
  if (options.isCloning) assert.match(one.trace, /cloned through git http-backend/);
  const [stored] = gitlab.artifactsOf(first.id);
  assert.ok(stored, `GitLab has the artifact of the first job:\n${one.trace}`);

  // A clone starts from a fresh repository: the files are back only if the restore worked.
  const isCacheKept = options.isCacheKept ?? true;
  const second = await takeJob(gitlab, {
    script: [isCacheKept ? "cat proof.txt kept.txt" : "cat proof.txt"],
    variables: [strategy],
    cache: isCacheKept ? [{ ...CACHE, policy: "pull" }] : [],
    dependencies: [{
      id: first.id,
      name: "first",
      token: first.token,
      "artifacts_file": { filename: "artifacts.zip", size: stored.bytes.length },
    }],
  }, options.client);
  const two = await runCompiled(root, runner, second);
  assert.equal(two.result?.state, "success", two.trace);
  assertNoDenial(two.trace);
  assert.match(two.trace, /Downloading artifacts for first/);
  assert.match(two.trace, new RegExp(`\nartifact-${options.marker}\n`));
  if (isCacheKept) {
    assert.match(two.trace, /Successfully extracted cache/);
    assert.match(two.trace, new RegExp(`artifact-${options.marker}\ncache-${options.marker}\n`));
  }
  return { first: one.trace, second: two.trace };
}

function dockerRunner(url: string): RunnerConfig {
  const r = defaultRunnerConfig("docker");
  r.url = url;
  r.docker.image = BUSYBOX_TEST_IMAGE;
  r.docker.pullPolicy = ["if-not-present"];
  r.docker.allowedPullPolicies = [];
  // git runs in the helper container; on the host network it reaches the fake GitLab on loopback.
  r.docker.helperImage = DEBIAN_TEST_IMAGE;
  r.docker.networkMode = "host";
  return r;
}

Deno.test({
  name: "compiled executor process runs docker jobs: clone, cache, artifact upload and download",
  ignore: dockerSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    await using gitlab = await FakeGitLab.start();
    await roundTrip(tmp.path, gitlab, dockerRunner(gitlab.url), {
      isCloning: true,
      marker: "docker",
    });
  },
});

Deno.test({
  name: "compiled docker executor process reaches the distributed cache's endpoint (radosgw)",
  ignore: radosgwSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gw = await startRadosgw();
    await gw.createBucket("runner-cache");
    await using tmp = await tempRoot();
    await using gitlab = await FakeGitLab.start();
    const r = dockerRunner(gitlab.url);
    r.cache.type = "s3";
    r.cache.s3.serverAddress = gw.address;
    r.cache.s3.accessKey = gw.accessKey;
    r.cache.s3.secretKey = gw.secretKey;
    r.cache.s3.bucketName = "runner-cache";
    r.cache.s3.insecure = true;
    const { first, second } = await roundTrip(tmp.path, gitlab, r, {
      isCloning: true,
      marker: "docker-s3",
    });
    // Both transfers went from the scoped executor process to the store, with URLs the poller signed.
    assert.match(first, new RegExp(`Uploading cache.zip to http://${gw.address}/runner-cache/`));
    assert.match(second, new RegExp(`Downloading cache from http://${gw.address}/runner-cache/`));
    const objects = await gw.listObjects("runner-cache");
    assert.ok(objects.some((name) => /^runner\/project\/\d+\/kept$/.test(name)), objects.join());
  },
});

Deno.test({
  name: "compiled docker executor process is denied another docker socket",
  ignore: dockerSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    const other = join(tmp.path, "other-docker.sock");
    const sent = dockerRunner("http://127.0.0.1:9");
    sent.docker.host = `unix://${other}`;
    const job = parseJobSpec({
      id: 11,
      token: "glcbt-job-token",
      steps: [{ name: "script", script: ["true"], timeout: 60, when: "on_success" }],
      variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
    });
    const out = await runOutsideRow(tmp.path, dockerRunner("http://127.0.0.1:9"), sent, job);
    assert.equal(out.state, "failed", out.trace);
    assert.match(out.trace, new RegExp(`Requires (read|write|net) access to "(unix:)?${other}"`));
  },
});

Deno.test({
  name:
    "compiled docker executor process answers a sweep within its row: a dead owner's container is removed",
  ignore: dockerSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    const env = testEnv();
    const tempDir = join(tmp.path, "tmp");
    const stateDir = join(tmp.path, ".runner");
    await Deno.mkdir(tempDir, { recursive: true });
    const runner = dockerRunner("http://127.0.0.1:9");
    const permissions = executorPermissions({
      runner,
      cwd: tmp.path,
      tempDir,
      stateDir,
      env: (name) => env[name],
    });
    const launcher = new SubprocessLauncher({
      execPath: Deno.execPath(),
      mainModule: MAIN_MODULE,
      scoping: "worker",
      env,
    });
    const sweep = () => sweepLeftovers(launcher, { runner, permissions, stateDir });
    // The first sweep finds nothing and makes this state dir's host id.
    const first = await sweep();
    assert.notEqual(first, "timeout");
    assert.equal((first as SweptEvent).error, undefined, JSON.stringify(first));
    const hostId = (await Deno.readTextFile(join(stateDir, "docker-executor", "host_id"))).trim();
    // A container of an owner with no lease: what a killed executor process leaves.
    const name = `runner-sweep-test-${crypto.randomUUID()}`;
    const created = await new Deno.Command("docker", {
      args: [
        "create",
        "--name",
        name,
        "--label",
        "runner.managed=true",
        "--label",
        "runner.temporary=true",
        "--label",
        `runner.owner.host=${hostId}`,
        "--label",
        `runner.owner=${crypto.randomUUID()}`,
        BUSYBOX_TEST_IMAGE,
        "true",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(created.success, new TextDecoder().decode(created.stderr));
    try {
      const second = await sweep();
      assert.notEqual(second, "timeout");
      assert.deepEqual((second as SweptEvent).containers, [name], JSON.stringify(second));
    } finally {
      launcher.close();
      await new Deno.Command("docker", { args: ["rm", "-f", name], stdout: "null", stderr: "null" })
        .output();
    }
  },
});

function sshRunner(url: string, sshd: SshdFixture): RunnerConfig {
  const r = defaultRunnerConfig("ssh");
  r.url = url;
  r.buildsDir = join(sshd.workDir, "builds");
  r.cacheDir = join(sshd.workDir, "cache");
  r.ssh.host = sshd.host;
  r.ssh.port = String(sshd.port);
  r.ssh.user = sshd.user;
  r.ssh.identityFile = sshd.identityFile;
  r.ssh.knownHostsFile = sshd.knownHostsFile;
  return r;
}

Deno.test({
  name: "compiled executor process runs ssh jobs: clone, cache, artifact upload and download",
  ignore: sshSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    await using sshd = await startSshd();
    await using gitlab = await FakeGitLab.start();
    await roundTrip(tmp.path, gitlab, sshRunner(gitlab.url, sshd), {
      isCloning: true,
      marker: "ssh",
    });
  },
});

const tlsSkip = sshSkip ?? await LocalCa.skipReason();

Deno.test({
  name:
    "compiled ssh executor process reads the runner's TLS files: clone, cache and artifacts over mutual TLS",
  ignore: tlsSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    await using ca = await LocalCa.create();
    await using sshd = await startSshd();
    await using gitlab = await FakeGitLab.start({
      tls: {
        cert: await Deno.readTextFile(ca.server.cert),
        key: await Deno.readTextFile(ca.server.key),
        clientCa: await Deno.readTextFile(ca.caFile),
      },
    });
    using client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(ca.caFile)],
      cert: await Deno.readTextFile(ca.client.cert),
      key: await Deno.readTextFile(ca.client.key),
    });
    const r = sshRunner(gitlab.url, sshd);
    r.tlsCaFile = ca.caFile;
    r.tlsCertFile = ca.client.cert;
    r.tlsKeyFile = ca.client.key;
    await roundTrip(tmp.path, gitlab, r, { isCloning: true, marker: "ssh-tls", client });
  },
});

const gateway = dockerSkip === null ? await bridgeGateway() : null;
const dockerSshSkip = dockerSkip ?? (gateway ? null : "the docker bridge network has no gateway");

Deno.test({
  name:
    "compiled executor process runs docker+ssh jobs: clone over clone_url, cache, artifact upload and download",
  ignore: dockerSshSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await ensureSshdImage();
    await using tmp = await tempRoot();
    await using gitlab = await FakeGitLab.start();
    // The job container is on the docker bridge: it reaches the fake GitLab (loopback) through a
    // forward on the bridge's gateway, named by clone_url.
    await using forward = tcpForward(gateway!, Number(new URL(gitlab.url).port));
    const r = defaultRunnerConfig("docker+ssh");
    r.url = gitlab.url;
    r.cloneUrl = `http://${gateway}:${forward.port}`;
    r.docker.image = image.tag;
    r.docker.pullPolicy = ["if-not-present"];
    r.docker.allowedPullPolicies = [];
    r.ssh.user = "root";
    r.ssh.password = SSHD_TEST_IMAGE_PASSWORD;
    r.ssh.disableStrictHostKeyChecking = true;
    await roundTrip(tmp.path, gitlab, r, {
      isCloning: true,
      marker: "docker-ssh",
      isCacheKept: false,
    });
  },
});

Deno.test({
  name: "compiled ssh executor process cannot read config.toml as its key nor reach another port",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    const configFile = join(tmp.path, "config.toml");
    await Deno.writeTextFile(configFile, '[[runners]]\ntoken = "glrt-secret"\n');
    const key = join(tmp.path, "id_ed25519");
    await Deno.writeTextFile(key, "not a key");
    const sshd = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const ssh = (port: Deno.Listener, identityFile: string) => {
      const r = defaultRunnerConfig("ssh");
      r.url = "http://127.0.0.1:9";
      r.ssh.host = "127.0.0.1";
      r.ssh.port = String((port.addr as Deno.NetAddr).port);
      r.ssh.user = "nobody";
      r.ssh.identityFile = identityFile;
      r.ssh.password = identityFile === "" ? "not-used" : "";
      r.ssh.disableStrictHostKeyChecking = true;
      return r;
    };
    const job = parseJobSpec({
      id: 13,
      token: "glcbt-job-token",
      steps: [{ name: "script", script: ["true"], timeout: 60, when: "on_success" }],
      variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
    });
    try {
      const asKey = await runOutsideRow(tmp.path, ssh(sshd, key), ssh(sshd, configFile), job);
      assert.equal(asKey.state, "failed", asKey.trace);
      assert.match(asKey.trace, new RegExp(`Requires read access to "${configFile}"`));
      // A password login: the key is not read, the connection is tried (and refused by Deno).
      const elsewhere = await runOutsideRow(tmp.path, ssh(sshd, ""), ssh(other, ""), job);
      assert.equal(elsewhere.state, "failed", elsewhere.trace);
      const port = (other.addr as Deno.NetAddr).port;
      assert.match(elsewhere.trace, new RegExp(`Requires net access to "127.0.0.1:${port}"`));
    } finally {
      sshd.close();
      other.close();
    }
  },
});

function customRunner(url: string, root: string): RunnerConfig {
  const r = defaultRunnerConfig("custom");
  r.url = url;
  r.buildsDir = join(root, "builds");
  r.cacheDir = join(root, "cache");
  r.custom.configExec = join(EXAMPLE_DRIVER, "config.sh");
  r.custom.prepareExec = join(EXAMPLE_DRIVER, "prepare.sh");
  r.custom.runExec = join(EXAMPLE_DRIVER, "run.sh");
  r.custom.cleanupExec = join(EXAMPLE_DRIVER, "cleanup.sh");
  // The example driver keeps its job directories here (docs/examples/custom-driver/base.sh).
  r.environment = [`CUSTOM_DRIVER_ROOT=${join(root, "driver")}`];
  return r;
}

Deno.test({
  name:
    "compiled executor process runs custom jobs with the example driver: clone, cache, artifacts",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    await using gitlab = await FakeGitLab.start();
    const { first } = await roundTrip(tmp.path, gitlab, customRunner(gitlab.url, tmp.path), {
      isCloning: true,
      marker: "custom",
    });
    assert.match(first, /Using Custom executor/);
    // The runner's `environment` reaches config_exec too (CUSTOM_ENV_CUSTOM_DRIVER_ROOT).
    assert.match(first, new RegExp(`runs in ${join(tmp.path, "driver")}/job-\\d+`));
  },
});

Deno.test({
  name: "compiled custom executor process cannot run a driver program not in its config",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await tempRoot();
    const allowed = customRunner("http://127.0.0.1:9", tmp.path);
    const sent = customRunner("http://127.0.0.1:9", tmp.path);
    const rogue = join(tmp.path, "rogue.sh");
    await Deno.writeTextFile(rogue, "#!/bin/sh\necho rogue driver ran\n", { mode: 0o755 });
    sent.custom.prepareExec = rogue;
    const job = parseJobSpec({
      id: 12,
      token: "glcbt-job-token",
      steps: [{ name: "script", script: ["true"], timeout: 60, when: "on_success" }],
      variables: [
        { key: "GIT_STRATEGY", value: "none", public: true },
        { key: "CI_JOB_ID", value: "12", public: true },
      ],
    });
    const out = await runOutsideRow(tmp.path, allowed, sent, job);
    assert.equal(out.state, "failed", out.trace);
    assert.match(out.trace, new RegExp(`Requires run access to "${rogue}"`));
    assert.doesNotMatch(out.trace, /rogue driver ran/);
  },
});
