/**
 * docker+ssh against the real dockerd with a locally built image that runs
 * sshd (tests/fixtures/sshd.ts ensureSshdImage). Skipped, with the reason
 * printed, when no docker daemon answers.
 */
import assert from "node:assert/strict";
import Docker from "dockerode";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { DockerConfig, SshConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { parseJobSpec } from "../../job/job_spec.ts";
import { dockerSkipReason } from "../../../tests/fixtures/docker_images.ts";
import { OwnDockerd } from "../../../tests/fixtures/own_dockerd.ts";
import { ensureSshdImage, SSHD_TEST_IMAGE_PASSWORD } from "../../../tests/fixtures/sshd.ts";
import { OwnerLease } from "../docker/owner_lease.ts";
import type { JobOutput } from "../executor.ts";
import { CollectedOutput, contractScript, testExecutorContract } from "../executor_contract.ts";
import { DockerSshExecutor } from "./docker_ssh_executor.ts";
import { SilentLogger } from "../../log/logger.ts";

const skip = await dockerSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping docker+ssh executor integration tests: ${skip}`);
}
const ignore = skip !== null;
const image = ignore ? null : await ensureSshdImage();
const stateDir = await Deno.makeTempDir({ prefix: "runner-docker-ssh-state-" });
const lease = ignore ? null : await OwnerLease.acquire(stateDir);
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const SHORT_TOKEN = `s${crypto.randomUUID().slice(0, 7)}`;
let nextJobId = Math.floor(Math.random() * 1e6) * 100;
const never = () => new AbortController().signal;

function create(
  output: JobOutput,
  options: {
    ssh?: Partial<SshConfig>;
    imageName?: string;
    command?: string[];
    dockerConfig?: Partial<DockerConfig>;
    job?: Record<string, unknown>;
    docker?: Docker;
    isInit?: boolean;
  } = {},
): DockerSshExecutor {
  const jobId = ++nextJobId;
  return new DockerSshExecutor({
    docker: options.docker ?? docker,
    dockerConfig: {
      ...defaultRunnerConfig("docker").docker,
      image: options.imageName ?? image?.tag ?? "",
      pullPolicy: ["if-not-present"],
      allowedPullPolicies: [],
      ...options.dockerConfig,
    },
    ssh: {
      host: "",
      port: "22",
      user: "root",
      password: SSHD_TEST_IMAGE_PASSWORD,
      identityFile: "",
      disableStrictHostKeyChecking: true,
      knownHostsFile: "",
      ...options.ssh,
    },
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      job_info: { project_id: jobId },
      ...(options.command ? { image: { name: "", command: options.command } } : {}),
      ...options.job,
    }),
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    lease: lease!,
    output,
    log: new SilentLogger(),
    shell: "bash",
    buildsDir: "",
    cacheDir: "",
    homeDir: "/nonexistent-home",
    killGraceMs: 1000,
    connect: { attempts: 20, retryDelayMs: 250 },
    ...(options.isInit ? { isInit: true } : {}),
  });
}

async function containerExists(id: string): Promise<boolean> {
  return await docker.getContainer(id).inspect().then(() => true, () => false);
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn, sanitizeOps: false, sanitizeResources: false });
}

testExecutorContract(
  "docker+ssh",
  (output) => Promise.resolve(create(output)),
  ignore ? { skip: skip ?? "" } : {},
);

test("docker+ssh runs the job over SSH inside the job container and removes it", async () => {
  const output = new CollectedOutput();
  const executor = create(output);
  try {
    await executor.prepare(never());
    assert.equal(executor.paths.buildsDir, "/builds");
    assert.equal(executor.isSharedEnvironment, false);
    const code = await executor.run({
      stage: "step_script",
      script: contractScript([
        "echo inside=$(cat /proc/1/cmdline | tr '\\0' ' ')",
        "echo user=$(whoami)",
        "echo ssh=${SSH_CONNECTION:+yes}",
        "mkdir -p /builds/p && echo artifact > /builds/p/a.txt",
      ]),
    }, never());
    assert.equal(code, 0, output.text());
    assert.match(output.text(), /inside=sshd: \/usr\/sbin\/sshd -D -e/);
    assert.match(output.text(), /user=root/);
    assert.match(output.text(), /ssh=yes/);
    assert.match(
      output.text(),
      /Using Docker executor with image runner-test\/debian-sshd:bookworm over SSH/,
    );
    // Artifacts come out over SFTP into the container.
    const data = await executor.files().readFile("/builds/p/a.txt");
    assert.equal(new TextDecoder().decode(data), "artifact\n");
  } finally {
    const id = executor.containerId;
    await executor.cleanup();
    await executor.cleanup();
    if (id) assert.equal(await containerExists(id), false, "the job container outlived cleanup");
  }
});

test("docker+ssh checks the container's host key against known_hosts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-docker-ssh-kh-" });
  try {
    // The container's address is not known in advance: a wildcard line trusts the image's key.
    await Deno.writeTextFile(`${dir}/known_hosts`, `* ${image!.hostKey}\n`);
    const output = new CollectedOutput();
    await using trusted = create(output, {
      ssh: { disableStrictHostKeyChecking: false, knownHostsFile: `${dir}/known_hosts` },
    });
    await trusted.prepare(never());
    assert.equal(await trusted.run({ stage: "s", script: contractScript(["true"]) }, never()), 0);

    await Deno.writeTextFile(`${dir}/empty`, "");
    await using refused = create(new CollectedOutput(), {
      ssh: { disableStrictHostKeyChecking: false, knownHostsFile: `${dir}/empty` },
    });
    await assert.rejects(refused.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.match(
        err.message,
        /^Host key verification failed for "\d+\.\d+\.\d+\.\d+": unknown host key SHA256:/,
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("docker+ssh gives the job container the seccomp profile file security_opt names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-docker-ssh-seccomp-" });
  try {
    const profile = JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW" });
    await Deno.writeTextFile(`${dir}/allow.json`, profile);
    const output = new CollectedOutput();
    await using executor = create(output, {
      dockerConfig: { securityOpt: [`seccomp=${dir}/allow.json`] },
    });
    // The path went to the daemon, which takes only inline JSON: 'Decoding seccomp
    // profile failed', a system failure at start for every job.
    await executor.prepare(never());
    const info = await docker.getContainer(executor.containerId!).inspect();
    assert.deepEqual(info.HostConfig.SecurityOpt, [`seccomp=${profile}`]);
    assert.equal(await executor.run({ stage: "s", script: contractScript(["true"]) }, never()), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("docker+ssh with FF_USE_INIT_WITH_DOCKER_EXECUTOR runs the container with docker-init as PID 1, sshd under it", async () => {
  const output = new CollectedOutput();
  await using executor = create(output, { isInit: true });
  await executor.prepare(never());
  const info = await docker.getContainer(executor.containerId!).inspect();
  assert.equal(info.HostConfig.Init, true);
  const code = await executor.run(
    { stage: "s", script: contractScript(["cat /proc/1/comm"]) },
    never(),
  );
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /^docker-init$/m);
});

test("docker+ssh says it starts no services, and keeps the image's entrypoint under disable_entrypoint_overwrite", async () => {
  const output = new CollectedOutput();
  await using executor = create(output, {
    dockerConfig: { disableEntrypointOverwrite: true },
    // Given to the container, /bin/false ended it before its sshd ran.
    job: {
      image: { name: "", entrypoint: ["/bin/false"] },
      services: [{ name: "postgres:16", alias: "db" }],
    },
  });
  // Both were ignored without a word: a job waited on a database nobody started,
  // and the entrypoint override the operator disabled was applied.
  await executor.prepare(never());
  assert.match(
    output.text(),
    /WARNING: The docker\+ssh executor starts no services: "postgres:16" not started/,
  );
  assert.match(output.text(), /WARNING: Entrypoint override disabled/);
  assert.equal(await executor.run({ stage: "s", script: contractScript(["true"]) }, never()), 0);
});

Deno.test({
  name: "docker+ssh: cleanup gives up on a daemon that no longer answers, so the job ends",
  ignore: ignore || (await OwnDockerd.skipReason()) !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dockerd = await OwnDockerd.start([image!.tag]);
    const own = new Docker({ socketPath: dockerd.host.replace(/^unix:\/\//, "") });
    const executor = create(new CollectedOutput(), { docker: own });
    await executor.prepare(never());
    assert.equal(await executor.run({ stage: "s", script: contractScript(["true"]) }, never()), 0);
    // Its socket stays open and nothing answers: the container's removal, which the
    // job's result waits for (cleanup runs in the build), waited for ever.
    dockerd.freeze();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      executor.cleanup().then(() => "cleaned"),
      new Promise((resolve) => timer = setTimeout(() => resolve("hung"), 60_000)),
    ]);
    clearTimeout(timer);
    dockerd.freeze(false);
    assert.equal(outcome, "cleaned");
    // The daemon back, the container is still there for the orphan sweep (or a second cleanup).
    await executor.cleanup();
  },
});

test("docker+ssh says so when the image's command does not run sshd", async () => {
  const output = new CollectedOutput();
  const executor = create(output, { command: ["true"] });
  try {
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.reason, "runner_system_failure");
      assert.match(
        err.message,
        /stopped before its sshd answered: the image's command must run sshd/,
      );
      return true;
    });
  } finally {
    const id = executor.containerId;
    await executor.cleanup();
    if (id) assert.equal(await containerExists(id), false);
  }
});

Deno.test({
  name: "docker+ssh test lease is released",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await lease?.release();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  },
});
