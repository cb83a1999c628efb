/**
 * `[runners.docker]` keys against the real dockerd: each test inspects what
 * the containers, networks and volumes got, or shows the error a user sees
 * when this daemon cannot do it (no GPU runtime, unknown runtime, no IPv6
 * pool). Skipped, with the reason printed, when no daemon answers.
 */
import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { DockerConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { parseJobSpec } from "../../job/job_spec.ts";
import { runBuild } from "../../build/run_build.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  ensureTestImages,
} from "../../../tests/fixtures/docker_images.ts";
import { CollectedOutput } from "../executor_contract.ts";
import { DockerExecutor } from "./docker_executor.ts";
import { LABEL_JOB_ID, LABEL_MANAGED, LABEL_TYPE } from "./docker_labels.ts";
import { clearCacheVolumes } from "./docker_resources.ts";
import { OwnerLease } from "./owner_lease.ts";
import { SilentLogger } from "../../log/logger.ts";
import { NO_GIT } from "../../../tests/fixtures/runner_process.ts";

const skip = await dockerSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping docker config key integration tests: ${skip}`);
} else {
  await ensureTestImages();
}
const ignore = skip !== null;
const stateDir = await Deno.makeTempDir({ prefix: "runner-docker-keys-state-" });
const lease = ignore ? null : await OwnerLease.acquire(stateDir);
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const SHORT_TOKEN = `k${crypto.randomUUID().slice(0, 7)}`;
let nextJobId = Math.floor(Math.random() * 1e6) * 100;
const never = () => new AbortController().signal;

function createExecutor(
  options: {
    config?: Partial<DockerConfig>;
    job?: Record<string, unknown>;
    output?: CollectedOutput;
    isUmaskDisabled?: boolean;
  } = {},
): { executor: DockerExecutor; jobId: number; output: CollectedOutput } {
  const jobId = ++nextJobId;
  const output = options.output ?? new CollectedOutput();
  const executor = new DockerExecutor({
    docker,
    config: {
      ...defaultRunnerConfig("docker").docker,
      image: BUSYBOX_TEST_IMAGE,
      pullPolicy: ["if-not-present"],
      allowedPullPolicies: [],
      helperImage: DEBIAN_TEST_IMAGE,
      ...options.config,
    },
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      job_info: { project_id: jobId },
      variables: NO_GIT,
      ...options.job,
    }),
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output,
    log: new SilentLogger(),
    lease: lease!,
    ...(options.isUmaskDisabled ? { isUmaskDisabled: true } : {}),
  });
  return { executor, jobId, output };
}

/** The job's containers of one type, inspected. */
async function inspectJob(jobId: number, type: string): Promise<Docker.ContainerInspectInfo[]> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({
      label: [`${LABEL_JOB_ID}=${jobId}`, `${LABEL_MANAGED}=true`, `${LABEL_TYPE}=${type}`],
    }),
  });
  return await Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}

async function only(jobId: number, type: string): Promise<Docker.ContainerInspectInfo> {
  const found = await inspectJob(jobId, type);
  assert.equal(found.length, 1, `expected one ${type} container, found ${found.length}`);
  return found[0]!;
}

async function jobContainerCount(jobId: number): Promise<number> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL_JOB_ID}=${jobId}`, `${LABEL_MANAGED}=true`] }),
  });
  return list.length;
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn, sanitizeOps: false, sanitizeResources: false });
}

test("docker keys: the build container gets sysctls, ulimit, namespaces, cgroup and log options", async () => {
  const { executor, jobId, output } = createExecutor({
    config: {
      sysctls: { "net.ipv4.ip_unprivileged_port_start": "7" },
      ulimit: { nofile: "1111:2222" },
      usernsMode: "host",
      ipcmode: "shareable",
      cgroupParent: "/runner-test-keys",
      cpusetMems: "0",
      deviceCgroupRules: ["c 1:3 mr"],
      oomScoreAdjust: 123,
      logOptions: { labels: "com.example.team", env: "CI_JOB_ID" },
      containerLabels: { "com.example.team": "team-$CI_JOB_ID", "com.example.fixed": "x" },
    },
    job: { variables: [...NO_GIT, { key: "CI_JOB_ID", value: "77" }] },
  });
  await using _ = executor;
  await executor.prepare(never());
  const code = await executor.run({
    stage: "step_script",
    script: "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; " +
      // An exec gets soft = hard from dockerd; the container's own process shows both.
      "grep 'open files' /proc/1/limits | awk '{print $4; print $5}'; " +
      "cat /proc/self/oom_score_adj; cat /proc/self/cgroup | grep -c runner-test-keys",
  }, never());
  assert.equal(code, 0, output.text());
  const lines = output.text().trim().split("\n").slice(-5);
  assert.deepEqual(lines.slice(0, 4), ["7", "1111", "2222", "123"]);
  assert.notEqual(lines[4], "0", "the container runs below cgroup_parent");

  const build = await only(jobId, "build");
  const h = build.HostConfig as Record<string, unknown>;
  assert.deepEqual(h["Sysctls"], { "net.ipv4.ip_unprivileged_port_start": "7" });
  assert.deepEqual(h["Ulimits"], [{ Name: "nofile", Soft: 1111, Hard: 2222 }]);
  assert.equal(h["UsernsMode"], "host");
  assert.equal(h["IpcMode"], "shareable");
  assert.equal(h["CgroupParent"], "/runner-test-keys");
  assert.equal(h["CpusetMems"], "0");
  assert.deepEqual(h["DeviceCgroupRules"], ["c 1:3 mr"]);
  assert.equal(h["OomScoreAdj"], 123);
  assert.deepEqual(h["LogConfig"], {
    Type: "json-file",
    Config: { labels: "com.example.team", env: "CI_JOB_ID" },
  });
  assert.equal(build.Config.Labels["com.example.team"], "team-77");
  assert.equal(build.Config.Labels["com.example.fixed"], "x");
});

test("docker keys: pid_mode reaches the build container; the helper gets the same settings but pid_mode", async () => {
  const { executor, jobId, output } = createExecutor({
    config: {
      pidMode: "host",
      ulimit: { nofile: "1111" },
      containerLabels: { "com.example.a": "b" },
    },
    job: { variables: [] },
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal(
    await executor.run({ stage: "get_sources", script: "ulimit -n" }, never()),
    0,
    output.text(),
  );
  const helper = await only(jobId, "helper");
  const h = helper.HostConfig as Record<string, unknown>;
  assert.equal((await only(jobId, "build")).HostConfig.PidMode, "host");
  assert.notEqual(h["PidMode"], "host");
  assert.deepEqual(h["Ulimits"], [{ Name: "nofile", Soft: 1111, Hard: 1111 }]);
  assert.equal(helper.Config.Labels["com.example.a"], "b");
});

test("docker keys: links and volumes_from reach containers that exist outside the job", async () => {
  const name = `runner-test-keys-peer-${crypto.randomUUID().slice(0, 8)}`;
  const peer = await docker.createContainer({
    name,
    Image: BUSYBOX_TEST_IMAGE,
    Cmd: ["sh", "-c", "echo from-peer > /shared/f; exec sleep 120"],
    Volumes: { "/shared": {} },
    Labels: { [LABEL_MANAGED]: "false", "runner.test": "docker-keys" },
  });
  try {
    await peer.start();
    const { executor, jobId, output } = createExecutor({
      config: { links: [`${name}:peeralias`], volumesFrom: [`${name}:ro`] },
    });
    await using _ = executor;
    await executor.prepare(never());
    const code = await executor.run({
      stage: "step_script",
      script: "grep -c peeralias /etc/hosts; cat /shared/f; touch /shared/g || echo read-only",
    }, never());
    assert.equal(code, 0, output.text());
    assert.match(output.text(), /from-peer/);
    assert.match(output.text(), /read-only/);
    const build = await only(jobId, "build");
    const h = build.HostConfig as Record<string, unknown>;
    assert.deepEqual(h["VolumesFrom"], [`${name}:ro`]);
    assert.deepEqual(h["Links"], [`/${name}:${build.Name}/peeralias`]);
  } finally {
    await peer.remove({ force: true, v: true });
  }
});

/**
 * Resolves the container's Privileged flag, or "refused-by-daemon" when this
 * dockerd cannot start privileged containers (a sandbox without all
 * capabilities answers "unable to apply caps"): the attempt itself shows the
 * flag was asked for.
 */
async function privilegedOutcome(
  executor: DockerExecutor,
  jobId: number,
  type: string,
): Promise<boolean | "refused-by-daemon"> {
  try {
    await executor.prepare(never());
  } catch (err) {
    assert.match(String(err), /Cannot start the .*container: .*caps/);
    return "refused-by-daemon";
  }
  return (await only(jobId, type)).HostConfig.Privileged ?? false;
}

test("docker keys: privileged holds only for images on allowed_privileged_images and _services", async () => {
  const config = {
    privileged: true,
    servicesPrivileged: true,
    allowedPrivilegedImages: ["runner-test/debian:*"],
    allowedPrivilegedServices: ["**/debian:*"],
  };
  // Neither image is on its list: both run unprivileged (so they start on any daemon).
  const refused = createExecutor({
    config,
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using _ = refused.executor;
  await refused.executor.prepare(never());
  assert.equal((await only(refused.jobId, "build")).HostConfig.Privileged, false);
  assert.equal((await only(refused.jobId, "service")).HostConfig.Privileged, false);
  assert.match(
    refused.output.text(),
    /WARNING: Image "runner-test\/busybox:latest" runs unprivileged: it is not on allowed_privileged_images/,
  );
  assert.match(
    refused.output.text(),
    /WARNING: Service "runner-test\/busybox:latest" runs unprivileged: it is not on allowed_privileged_services/,
  );

  const listedImage = createExecutor({
    config,
    job: { variables: NO_GIT, image: { name: DEBIAN_TEST_IMAGE } },
  });
  await using __ = listedImage.executor;
  assert.notEqual(await privilegedOutcome(listedImage.executor, listedImage.jobId, "build"), false);

  const listedService = createExecutor({
    config,
    job: { variables: NO_GIT, services: [{ name: DEBIAN_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using ___ = listedService.executor;
  assert.notEqual(
    await privilegedOutcome(listedService.executor, listedService.jobId, "service"),
    false,
  );
});

test("docker keys: services_privileged = false keeps services unprivileged under privileged = true", async () => {
  const { executor, jobId } = createExecutor({
    config: { privileged: true, servicesPrivileged: false, allowedPrivilegedImages: ["none/*"] },
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal((await only(jobId, "service")).HostConfig.Privileged, false);

  const on = createExecutor({
    config: { privileged: false, servicesPrivileged: true },
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using __ = on.executor;
  assert.notEqual(await privilegedOutcome(on.executor, on.jobId, "service"), false);
});

test("docker keys: services get the service_* limits, services_* options and prefixed labels", async () => {
  const { executor, jobId, output } = createExecutor({
    config: {
      servicesSecurityOpt: ["no-new-privileges"],
      servicesDevices: { "runner-test/busybox:*": ["/dev/null:/dev/runner-null:r"] },
      serviceMemory: "64m",
      serviceMemorySwap: "128m",
      serviceMemoryReservation: "32m",
      serviceCpus: "0.5",
      serviceCpuShares: 512,
      serviceCpusetCpus: "0",
      serviceCgroupParent: "/runner-test-services",
      containerLabels: { "com.example.team": "infra" },
      memory: "256m",
    },
    job: {
      variables: NO_GIT,
      services: [{ name: BUSYBOX_TEST_IMAGE, alias: "svc", command: ["sleep", "60"] }],
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  const service = await only(jobId, "service");
  const h = service.HostConfig as Record<string, unknown>;
  assert.deepEqual(h["SecurityOpt"], ["no-new-privileges"]);
  assert.deepEqual(h["Devices"], [{
    PathOnHost: "/dev/null",
    PathInContainer: "/dev/runner-null",
    CgroupPermissions: "r",
  }]);
  assert.equal(h["Memory"], 64 * 1024 * 1024);
  assert.equal(h["MemorySwap"], 128 * 1024 * 1024);
  assert.equal(h["MemoryReservation"], 32 * 1024 * 1024);
  assert.equal(h["NanoCpus"], 500_000_000);
  assert.equal(h["CpuShares"], 512);
  assert.equal(h["CpusetCpus"], "0");
  assert.equal(h["CgroupParent"], "/runner-test-services");
  assert.equal(service.Config.Labels["com.example.team"], "infra");
  assert.equal(service.Config.Labels["com.gitlab.gitlab-runner.com.example.team"], "infra");
  // The build container keeps its own limits, not the services'.
  const build = (await only(jobId, "build")).HostConfig as Record<string, unknown>;
  assert.equal(build["Memory"], 256 * 1024 * 1024);
  assert.deepEqual(build["Devices"], []);
  assert.match(output.text(), /Starting service runner-test\/busybox:latest/);
});

test("docker keys: [[runners.docker.services]] start before the job's, bypass allowed_services, within services_limit", async () => {
  const runnerService = {
    name: "runner-test/busybox:${SERVICE_TAG}",
    alias: "cfgsvc-$CI_JOB_ID, cfgalias",
    entrypoint: ["sh", "-c"],
    command: ['echo "$CFG_VAR" > /tmp/v; exec sleep 60'],
    environment: ["CFG_VAR=from-config", "NOT_A_VARIABLE"],
    unsupported: {},
  };
  const { executor, jobId, output } = createExecutor({
    config: { services: [runnerService], allowedServices: ["runner-test/none-allowed"] },
    job: {
      variables: [...NO_GIT, { key: "SERVICE_TAG", value: "latest" }, {
        key: "CI_JOB_ID",
        value: "55",
      }],
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  const code = await executor.run({
    stage: "step_script",
    script: "ping -c1 -W3 cfgsvc-55 >/dev/null && ping -c1 -W3 cfgalias >/dev/null && echo reached",
  }, never());
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /reached/);
  const service = await only(jobId, "service");
  assert.ok(service.Config.Env.includes("CFG_VAR=from-config"));
  assert.ok(!service.Config.Env.some((e) => e.startsWith("NOT_A_VARIABLE")));
  assert.deepEqual(service.Config.Entrypoint, ["sh", "-c"]);
  assert.equal(
    service.Config.Labels["com.gitlab.gitlab-runner.service"],
    "runner-test/busybox:latest",
  );

  const limited = createExecutor({
    config: { services: [runnerService], servicesLimit: 1 },
    job: {
      variables: [...NO_GIT, { key: "SERVICE_TAG", value: "latest" }],
      services: [{ name: BUSYBOX_TEST_IMAGE }],
    },
  });
  await using __ = limited.executor;
  await assert.rejects(
    limited.executor.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "runner_configuration_error" &&
      /too many services requested: 2, only 1 allowed/.test(err.message),
  );
  assert.equal(await jobContainerCount(limited.jobId), 0);
});

test("docker keys: a job asking for the runner's own image or service image passes allowed_images and allowed_services", async () => {
  const { executor } = createExecutor({
    config: {
      allowedImages: ["python:*"],
      allowedServices: ["python:*"],
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "cfg",
        entrypoint: [],
        command: ["sleep", "600"],
        environment: [],
        unsupported: {},
      }],
    },
    job: {
      variables: NO_GIT,
      image: { name: BUSYBOX_TEST_IMAGE },
      services: [{ name: BUSYBOX_TEST_IMAGE, alias: "mine", command: ["sleep", "600"] }],
    },
  });
  await using _ = executor;
  // Refused: 'The "runner-test/busybox:latest" image is not present on the list of allowed images'.
  await executor.prepare(never());
});

test("docker keys: network_mtu sets the job network's MTU; enable_ipv6 without a pool fails clearly", async () => {
  const { executor, jobId, output } = createExecutor({
    config: { networkMtu: 1400 },
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal(
    await executor.run({ stage: "step_script", script: "cat /sys/class/net/eth0/mtu" }, never()),
    0,
  );
  assert.match(output.text(), /^1400$/m);
  const network = await docker.getNetwork(executor.networkName).inspect();
  assert.equal(network.Options?.["com.docker.network.driver.mtu"], "1400");
  assert.ok((await only(jobId, "build")).NetworkSettings.Networks[executor.networkName]);

  const ipv6 = createExecutor({
    config: { enableIpv6: true },
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE }] },
  });
  await using __ = ipv6.executor;
  const daemonHasPool = await ipv6.executor.prepare(never()).then(() => true, (err) => {
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.reason, "runner_configuration_error");
    assert.match(err.message, /Cannot create the job network ".*" with enable_ipv6: .*IPv6/);
    return false;
  });
  if (daemonHasPool) {
    const net = await docker.getNetwork(ipv6.executor.networkName).inspect();
    assert.equal(net.EnableIPv6, true);
  }
});

test("docker keys: an unknown runtime is a configuration error naming it", async () => {
  const { executor, jobId } = createExecutor({
    config: { runtime: "runner-test-no-such-runtime" },
  });
  await using _ = executor;
  await assert.rejects(
    executor.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "runner_configuration_error" &&
      /Cannot create the build container: .*runner-test-no-such-runtime/.test(err.message),
  );
  assert.equal(await jobContainerCount(jobId), 0);
});

test("docker keys: gpus reach the daemon, which says when it has no GPU driver", async () => {
  const { executor, jobId } = createExecutor({ config: { gpus: "all" } });
  await using _ = executor;
  const started = await executor.prepare(never()).then(() => null, (err: unknown) => err);
  if (started === null) {
    // A daemon with a GPU runtime: the request is in the HostConfig.
    const h = (await only(jobId, "build")).HostConfig as Record<string, unknown>;
    assert.deepEqual(h["DeviceRequests"], [{
      Driver: "",
      Count: -1,
      DeviceIDs: null,
      Capabilities: [["gpu"]],
      Options: {},
    }]);
    return;
  }
  assert.match(String(started), /Cannot start the build container: could not select device driver/);
});

test("docker keys: a failed prepare can be retried and reports its own error, not a name conflict", async () => {
  const { executor, jobId } = createExecutor({ config: { devices: ["/dev/runner-test-missing"] } });
  await using _ = executor;
  for (let attempt = 1; attempt <= 2; attempt++) {
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.doesNotMatch(err.message, /Conflict|already in use|409/);
      assert.match(err.message, /Cannot start the build container: .*\/dev\/runner-test-missing/);
      return true;
    });
    assert.equal(await jobContainerCount(jobId), 0, `attempt ${attempt} left a container`);
  }
});

test("a build whose container cannot start fails after its prepare retries with the daemon's reason", async () => {
  const runner = defaultRunnerConfig("docker");
  runner.docker = {
    ...runner.docker,
    image: BUSYBOX_TEST_IMAGE,
    pullPolicy: ["if-not-present"],
    allowedPullPolicies: [],
    // A file bound onto a directory: a start failure no setting check names, retried.
    volumes: ["/etc/hostname:/bin"],
  };
  const jobId = ++nextJobId;
  const spec = parseJobSpec({
    id: jobId,
    token: "job-token",
    job_info: { project_id: jobId, project_full_path: "g/p", name: "j" },
    git_info: { repo_url: "https://gitlab.example.com/g/p.git", sha: "0".repeat(40) },
    variables: NO_GIT,
    steps: [{ name: "script", script: ["echo hello"], when: "on_success" }],
  });
  const output = new CollectedOutput();
  const never = new AbortController().signal;
  await using executor = new DockerExecutor({
    docker,
    config: runner.docker,
    job: spec,
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output,
    log: new SilentLogger(),
    lease: lease!,
    sweepOrphans: false,
  });
  const result = await runBuild({
    job: spec,
    runner,
    shortToken: SHORT_TOKEN,
    concurrentId: 0,
    concurrentProjectId: 0,
    executor,
    output,
    cancel: { graceful: never, abort: never },
    version: {
      name: "gitlab-runner",
      version: "0.1.0",
      revision: "test",
      os: "linux",
      arch: "amd64",
    },
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  });
  const text = output.text();
  assert.equal(result.state, "failed");
  assert.equal(result.failureReason, "runner_system_failure");
  assert.match(
    result.message ?? "",
    /Cannot start the build container: .*error mounting "\/etc\/hostname" to rootfs at "\/bin"/,
  );
  assert.equal(
    text.match(/Preparation failed: Cannot start the build container/g)?.length,
    2,
    text,
  );
  assert.doesNotMatch(text, /Conflict|already in use/);
  assert.equal(await jobContainerCount(jobId), 0);
});

test("a build's service gets the predefined and the runner's environment variables, as upstream", async () => {
  const runner = defaultRunnerConfig("docker");
  runner.environment = ["RUNNER_ENV_VAR=from-runner"];
  runner.docker = {
    ...runner.docker,
    image: BUSYBOX_TEST_IMAGE,
    pullPolicy: ["if-not-present"],
    allowedPullPolicies: [],
    helperImage: DEBIAN_TEST_IMAGE,
  };
  const jobId = ++nextJobId;
  const spec = parseJobSpec({
    id: jobId,
    token: "job-token",
    job_info: { project_id: jobId, project_full_path: "g/p", name: "j" },
    git_info: { repo_url: "https://gitlab.example.com/g/p.git", sha: "0".repeat(40) },
    variables: NO_GIT,
    services: [{
      name: BUSYBOX_TEST_IMAGE,
      command: ["sh", "-c", "env > /builds/service-env; exec sleep 600"],
    }],
    steps: [{
      name: "script",
      script: ["until [ -s /builds/service-env ]; do sleep 0.1; done; cat /builds/service-env"],
      when: "on_success",
    }],
  });
  const output = new CollectedOutput();
  const never = new AbortController().signal;
  await using executor = new DockerExecutor({
    docker,
    config: runner.docker,
    job: spec,
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output,
    log: new SilentLogger(),
    lease: lease!,
    sweepOrphans: false,
    runnerEnvironment: runner.environment,
  });
  const result = await runBuild({
    job: spec,
    runner,
    shortToken: SHORT_TOKEN,
    concurrentId: 0,
    concurrentProjectId: 0,
    executor,
    output,
    cancel: { graceful: never, abort: never },
    version: {
      name: "gitlab-runner",
      version: "0.1.0",
      revision: "test",
      os: "linux",
      arch: "amd64",
    },
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  });
  assert.equal(result.state, "success", output.text());
  // The service had only the payload's public variables: no CI_PROJECT_DIR to find the checkout.
  for (
    const line of [
      "CI_PROJECT_DIR=/builds/g/p",
      "CI_BUILDS_DIR=/builds",
      "RUNNER_ENV_VAR=from-runner",
    ]
  ) {
    assert.match(output.text(), new RegExp(`^${line}$`, "m"), output.text());
  }
});

test("docker keys: log_options other than env and labels fail the job naming them", async () => {
  const { executor } = createExecutor({ config: { logOptions: { "max-size": "10m", env: "A" } } });
  await using _ = executor;
  await assert.rejects(
    executor.prepare(never()),
    /Invalid \[runners.docker\] log_options: only "env" and "labels" are allowed, found "max-size"/,
  );
});

test("docker keys: volume_driver and volume_driver_ops create the job's volumes", async () => {
  const { executor, jobId, output } = createExecutor({
    config: {
      disableCache: true,
      volumeDriver: "local",
      volumeDriverOps: { type: "tmpfs", device: "tmpfs", o: "size=16m" },
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal(
    await executor.run({ stage: "step_script", script: "df -k /builds | tail -1" }, never()),
    0,
  );
  assert.match(output.text(), /^tmpfs\s+16384\s/m);
  const volumes = (await docker.listVolumes({
    filters: JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_TYPE}=temporary-volume`] }),
  })).Volumes.filter((v) => v.Labels?.[LABEL_JOB_ID] === String(jobId));
  assert.ok(volumes.length >= 1);
  for (const v of volumes) {
    assert.equal(v.Driver, "local");
    assert.deepEqual(v.Options, { type: "tmpfs", device: "tmpfs", o: "size=16m" });
  }
});

test("docker keys: volume_keep warns and keeps the containers' anonymous volumes", async () => {
  const tag = `runner-test/with-volume:${crypto.randomUUID().slice(0, 8)}`;
  const build = new Deno.Command("docker", {
    args: ["build", "-q", "-t", tag, "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = build.stdin.getWriter();
  await w.write(new TextEncoder().encode(`FROM ${BUSYBOX_TEST_IMAGE}\nVOLUME /kept\n`));
  await w.close();
  const built = await build.output();
  assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
  let kept = "";
  try {
    const { executor, jobId, output } = createExecutor({
      config: { volumeKeep: true },
      job: { variables: NO_GIT, image: { name: tag } },
    });
    await executor.prepare(never());
    assert.match(output.text(), /WARNING: volume_keep is enabled/);
    const mount = (await only(jobId, "build")).Mounts.find((m) => m.Destination === "/kept");
    kept = mount?.Name ?? "";
    assert.notEqual(kept, "");
    await executor.cleanup();
    assert.equal(await jobContainerCount(jobId), 0);
    const volume = await docker.getVolume(kept).inspect();
    assert.equal(volume.Name, kept, "the anonymous volume outlives the job");
  } finally {
    if (kept) await docker.getVolume(kept).remove().catch(() => {});
    await docker.getImage(tag).remove({ force: true }).catch(() => {});
  }
});

test("docker keys: helper_image_flavor picks the flavoured official helper image", async () => {
  const { executor, output } = createExecutor({
    config: { helperImage: "", helperImageFlavor: "ubuntu" },
    job: { variables: [] },
  });
  await using _ = executor;
  await executor.prepare(never());
  await assert.rejects(
    executor.run({ stage: "get_sources", script: "true" }, never()),
    /gitlab-runner-helper:ubuntu-x86_64-latest/,
  );
  assert.match(output.text(), /gitlab-runner-helper:ubuntu-x86_64-latest/);
});

test("docker keys: image:docker:platform reaches the pull and the local image check", async () => {
  const amd = createExecutor({
    config: { pullPolicy: ["never"], allowedPullPolicies: [] },
    job: {
      variables: NO_GIT,
      image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { platform: "linux/amd64" } } },
    },
  });
  await using _ = amd.executor;
  const info = await docker.getImage(BUSYBOX_TEST_IMAGE).inspect();
  if (info.Architecture !== "amd64") return;
  await amd.executor.prepare(never());
  assert.equal(await amd.executor.run({ stage: "step_script", script: "true" }, never()), 0);

  const arm = createExecutor({
    config: { pullPolicy: ["never"], allowedPullPolicies: [] },
    job: {
      variables: NO_GIT,
      image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { platform: "linux/arm64" } } },
    },
  });
  await using __ = arm.executor;
  await assert.rejects(
    arm.executor.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "image_pull_failure" &&
      /present locally for linux\/amd64, not for platform linux\/arm64/.test(err.message),
  );
  const pulling = createExecutor({
    config: { pullPolicy: ["if-not-present"], allowedPullPolicies: [] },
    job: {
      variables: NO_GIT,
      image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { platform: "arm64" } } },
    },
  });
  await using ___ = pulling.executor;
  await assert.rejects(pulling.executor.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "image_pull_failure");
    return true;
  });
  assert.match(pulling.output.text(), /Pulling docker image runner-test\/busybox:latest/);
});

test("docker keys: a service's docker:platform reaches its pull and the local image check", async () => {
  const info = await docker.getImage(BUSYBOX_TEST_IMAGE).inspect();
  if (info.Architecture !== "amd64") return;
  const { executor } = createExecutor({
    config: { pullPolicy: ["never"], allowedPullPolicies: [] },
    job: {
      variables: NO_GIT,
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: ["sleep", "600"],
        executor_opts: { docker: { platform: "linux/arm64" } },
      }],
    },
  });
  await using _ = executor;
  // The local amd64 image was taken, and the create failed as a system failure:
  // "image with reference sha256:… was found but does not match the specified platform".
  await assert.rejects(
    executor.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "image_pull_failure" &&
      /present locally for linux\/amd64, not for platform linux\/arm64/.test(err.message),
  );
});

test("docker keys: a non-root image:docker:user writes the builds and cache directories", async () => {
  const { executor, output } = createExecutor({
    job: {
      variables: [],
      image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { user: "1000:1000" } } },
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  const clone = await executor.run({
    stage: "get_sources",
    script: "mkdir -p /builds/group/project/sub && echo cloned > /builds/group/project/sub/f",
  }, never());
  assert.equal(clone, 0, output.text());
  const code = await executor.run({
    stage: "step_script",
    script: "id -u; echo more >> /builds/group/project/sub/f && touch /builds/group/project/new " +
      "&& mkdir -p /builds/other && touch /cache/c && echo wrote-all",
  }, never());
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /^1000$/m);
  assert.match(output.text(), /wrote-all/);
});

test("docker keys: image and service docker:user and docker:platform expand job variables, as upstream", async () => {
  const arch = (await docker.getImage(BUSYBOX_TEST_IMAGE).inspect()).Architecture;
  const { executor, jobId, output } = createExecutor({
    config: { pullPolicy: ["never"], allowedPullPolicies: [] },
    job: {
      variables: [
        ...NO_GIT,
        { key: "RUN_AS", value: "1234:1234" },
        { key: "ARCH", value: arch },
      ],
      image: {
        name: BUSYBOX_TEST_IMAGE,
        executor_opts: { docker: { user: "$RUN_AS", platform: "linux/${ARCH}" } },
      },
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: ["sleep", "600"],
        executor_opts: { docker: { user: "${RUN_AS}", platform: "linux/$ARCH" } },
      }],
    },
  });
  await using _ = executor;
  // "unable to find user $RUN_AS", and the platform "linux/${ARCH}" was no platform.
  await executor.prepare(never());
  assert.equal(await executor.run({ stage: "step_script", script: "id -u" }, never()), 0);
  assert.match(output.text(), /^1234$/m);
  assert.equal((await only(jobId, "service")).Config.User, "1234:1234");
});

test("docker keys: FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR: no umask 0000, the clone is handed to the build user", async () => {
  const { executor, output } = createExecutor({
    isUmaskDisabled: true,
    job: {
      variables: [],
      image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { user: "1000:1000" } } },
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal(
    await executor.run({
      stage: "get_sources",
      script: "umask; mkdir -p /builds/g/p && echo x > /builds/g/p/f",
    }, never()),
    0,
    output.text(),
  );
  assert.match(output.text(), /^0022$/m);
  assert.match(output.text(), /Changing ownership of files at "\/builds" to 1000:1000/);
  assert.equal(
    await executor.run({
      stage: "step_script",
      script: "stat -c '%u:%g %a' /builds/g/p/f; echo y >> /builds/g/p/f && echo appended",
    }, never()),
    0,
    output.text(),
  );
  assert.match(output.text(), /^1000:1000 644$/m);
  assert.match(output.text(), /^appended$/m);
});

test("docker config key tests leave no cache volumes behind", async () => {
  await clearCacheVolumes(docker, { shortToken: SHORT_TOKEN });
  await Deno.remove(stateDir, { recursive: true });
});

test("docker keys: dns_search, extra_hosts, group_add, security_opt, memory and cpu keys reach build and service; disable_entrypoint_overwrite keeps the images' entrypoints", async () => {
  const { executor, jobId, output } = createExecutor({
    config: {
      dnsSearch: ["keys.example"],
      extraHosts: ["keys-host:10.1.2.3"],
      groupAdd: ["4242"],
      securityOpt: ["no-new-privileges"],
      memory: "64m",
      memorySwap: "128m",
      memoryReservation: "32m",
      cpusetCpus: "0",
      cpuShares: 512,
      disableEntrypointOverwrite: true,
    },
    job: {
      variables: NO_GIT,
      image: {
        name: BUSYBOX_TEST_IMAGE,
        entrypoint: ["/bin/sh", "-c", 'echo entrypoint-ran > /tmp/entry; exec "$@"', "--"],
      },
      // Were this entrypoint used, the service would not start.
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        entrypoint: ["/no/such/entry"],
        command: ["sleep", "60"],
      }],
    },
  });
  await using _ = executor;
  await executor.prepare(never());
  const code = await executor.run({
    stage: "step_script",
    script: "grep '^search' /etc/resolv.conf; grep keys-host /etc/hosts; id -G; " +
      "grep NoNewPrivs /proc/self/status; cat /tmp/entry 2>/dev/null || echo no-entrypoint",
  }, never());
  assert.equal(code, 0, output.text());
  const text = output.text();
  assert.match(text, /^search .*keys\.example/m);
  assert.match(text, /^10\.1\.2\.3\s+keys-host/m);
  assert.match(text, /^0( \d+)* 4242/m);
  assert.match(text, /^NoNewPrivs:\s+1/m);
  assert.match(text, /^no-entrypoint$/m);
  assert.doesNotMatch(text, /entrypoint-ran/);
  assert.equal(text.match(/WARNING: Entrypoint override disabled/g)?.length, 2, text);

  const build = await only(jobId, "build");
  const h = build.HostConfig as Record<string, unknown>;
  assert.deepEqual(h["DnsSearch"], ["keys.example"]);
  assert.deepEqual(h["ExtraHosts"], ["keys-host:10.1.2.3"]);
  assert.deepEqual(h["GroupAdd"], ["4242"]);
  assert.deepEqual(h["SecurityOpt"], ["no-new-privileges"]);
  assert.equal(h["Memory"], 64 * 1024 * 1024);
  assert.equal(h["MemorySwap"], 128 * 1024 * 1024);
  assert.equal(h["MemoryReservation"], 32 * 1024 * 1024);
  assert.equal(h["CpusetCpus"], "0");
  assert.equal(h["CpuShares"], 512);
  assert.equal(build.Config.Entrypoint, null, "the image's (empty) entrypoint is kept");

  const service = await only(jobId, "service");
  const s = service.HostConfig as Record<string, unknown>;
  assert.deepEqual(s["DnsSearch"], ["keys.example"]);
  assert.deepEqual(s["ExtraHosts"], ["keys-host:10.1.2.3"]);
  assert.equal(service.Config.Entrypoint, null, "the service image's entrypoint is kept");
  assert.equal(service.State.Running, true);
});

test("docker keys: security_opt seccomp=<file> runs with the file's profile; an unreadable one names the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-seccomp-" });
  try {
    const profile = `${dir}/profile.json`;
    // Allow everything but mkdir: the job sees EPERM where it would make a directory.
    await Deno.writeTextFile(
      profile,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }],
      }),
    );
    const { executor, jobId } = createExecutor({
      config: { securityOpt: [`seccomp=${profile}`] },
    });
    {
      await using _ = executor;
      await executor.prepare(never());
      const build = await only(jobId, "build");
      assert.ok(
        (build.HostConfig.SecurityOpt as string[] | undefined)?.some((o) =>
          o.includes("SCMP_ACT_ERRNO")
        ),
        String(build.HostConfig.SecurityOpt),
      );
      assert.notEqual(
        await executor.run({ stage: "step_script", script: "mkdir /tmp/denied" }, never()),
        0,
      );
    }
    for (
      const [opt, why] of [
        [`seccomp=${dir}/missing.json`, "cannot read the seccomp profile"],
        [`seccomp=${dir}`, "cannot read the seccomp profile"],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/bad.json`, "{not json");
      const bad = createExecutor({ config: { securityOpt: [opt!] } });
      await using _ = bad.executor;
      await assert.rejects(bad.executor.prepare(never()), (err: unknown) => {
        assert.ok(err instanceof JobFailedError, String(err));
        assert.equal(err.reason, "runner_configuration_error");
        assert.ok(
          err.message.startsWith(`Invalid [runners.docker] security_opt "${opt}": ${why}`),
          err.message,
        );
        return true;
      });
    }
    const bad = createExecutor({ config: { securityOpt: [`seccomp=${dir}/bad.json`] } });
    await using _ = bad.executor;
    await assert.rejects(
      bad.executor.prepare(never()),
      /Invalid \[runners.docker\] security_opt "seccomp=.*bad.json": the seccomp profile is not valid JSON/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("docker keys: on network_mode bridge or host a job's service runs, is waited for and reached", async () => {
  // A service listening on 6379, for the health check and the script.
  const service = {
    name: BUSYBOX_TEST_IMAGE,
    alias: "svc",
    command: ["nc", "-ll", "-p", "6379", "-e", "true"],
    ports: [{ number: 6379 }],
  };
  const cases = [
    // Docker's bridge has no names: the build container is linked to the service by its alias.
    { networkMode: "bridge", script: "ping -c1 svc && nc -w 2 svc 6379 </dev/null; echo reached" },
    { networkMode: "host", script: "nc -w 2 127.0.0.1 6379 </dev/null; echo reached" },
  ];
  for (const { networkMode, script } of cases) {
    const { executor, output } = createExecutor({
      config: { networkMode, waitForServicesTimeout: 10 },
      job: { services: [service] },
    });
    await using _ = executor;
    // Docker refused the service's aliases there ("network-scoped alias is supported
    // only for containers in user defined networks"): every job failed at prepare.
    await executor.prepare(never());
    assert.match(output.text(), /Waiting for services to be up and running/);
    assert.doesNotMatch(output.text(), /probably didn't start properly/, output.text());
    const code = await executor.run({ stage: "step_script", script }, never());
    assert.equal(code, 0, output.text());
    assert.match(output.text(), /\nreached\n/);
  }
});

test("docker keys: a setting the daemon refuses only at start fails the job naming it, without a retry", async () => {
  const service = { name: BUSYBOX_TEST_IMAGE, alias: "db", command: ["sleep", "60"] };
  const build = "build";
  const svc = 'service "runner-test/busybox:latest"';
  const cases: {
    config?: Partial<DockerConfig>;
    job?: Record<string, unknown>;
    want: string;
    reason?: string;
  }[] = [
    {
      config: { devices: ["/dev/runner-no-such-device"] },
      want: `${build} container: [runners.docker] devices: error gathering device information ` +
        'while adding custom device "/dev/runner-no-such-device": no such file or directory',
    },
    {
      config: { servicesDevices: { "runner-test/busybox:*": ["/dev/runner-no-such-device"] } },
      job: { services: [service] },
      want: `${svc} container: [runners.docker] services_devices: error gathering device`,
    },
    {
      config: { user: "nosuchuser" },
      want: `${build} container: [runners.docker] user: unable to find user nosuchuser: ` +
        "no matching entries in passwd file",
    },
    {
      job: {
        image: { name: BUSYBOX_TEST_IMAGE, executor_opts: { docker: { user: "nosuchuser" } } },
      },
      want: `${build} container: the job's image user: unable to find user nosuchuser`,
      reason: "script_failure",
    },
    {
      config: { groupAdd: ["nosuchgroup"] },
      want: `${build} container: [runners.docker] group_add: Unable to find group nosuchgroup`,
    },
    {
      config: { sysctls: { "kernel.bogus": "1" } },
      want: `${build} container: [runners.docker] sysctls: `,
    },
    {
      config: { cpuShares: 1 },
      want: `${build} container: [runners.docker] cpu_shares: `,
    },
    {
      config: { serviceCpuShares: 1 },
      job: { services: [service] },
      want: `${svc} container: [runners.docker] service_cpu_shares: `,
    },
    {
      config: { deviceCgroupRules: ["bogus"] },
      want: `${build} container: [runners.docker] device_cgroup_rules: invalid device cgroup rule`,
    },
    {
      config: { tmpfs: { "/t": "bogusopt" } },
      want: `${build} container: [runners.docker] tmpfs: invalid tmpfs option ["bogusopt"]`,
    },
    {
      config: { servicesTmpfs: { "/t": "bogusopt" } },
      job: { services: [service] },
      want: `${svc} container: [runners.docker] services_tmpfs: invalid tmpfs option`,
    },
  ];
  for (const { config, job, want, reason } of cases) {
    const { executor } = createExecutor({ ...(config ? { config } : {}), ...(job ? { job } : {}) });
    await using _ = executor;
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      // A plain Error: retried twice by the build as a system failure, naming no setting.
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, reason ?? "runner_configuration_error");
      assert.ok(err.message.startsWith(`Cannot start the ${want}`), err.message);
      return true;
    });
  }
});

test("docker keys: a helper_image that cannot be had fails get_sources naming the key", async () => {
  const { executor } = createExecutor({
    config: { helperImage: "runner-test/no-such-helper:1" },
    job: { variables: [{ key: "GIT_STRATEGY", value: "fetch" }] },
  });
  await using _ = executor;
  await executor.prepare(never());
  await assert.rejects(
    executor.run({ stage: "get_sources", script: "true" }, never()),
    (err: unknown) => {
      // It read 'Cannot get image "runner-test/no-such-helper:1" …', an image the job never named.
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "image_pull_failure");
      assert.match(
        err.message,
        /^\[runners.docker\] helper_image: Cannot get image "runner-test\/no-such-helper:1" with pull policies \[if-not-present\]: /,
      );
      return true;
    },
  );
});

test("docker keys: links, volumes_from or ipcmode naming no container fail the job naming the key", async () => {
  const name = `runner-test-no-such-${crypto.randomUUID().slice(0, 8)}`;
  const cases: [Partial<DockerConfig>, string][] = [
    [{ links: [`${name}:alias`] }, "links"],
    [{ volumesFrom: [`${name}:ro`] }, "volumes_from"],
    [{ ipcmode: `container:${name}` }, "ipcmode"],
  ];
  for (const [config, key] of cases) {
    const { executor } = createExecutor({ config });
    await using _ = executor;
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      // The daemon's 'No such container: …' named no key.
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "runner_configuration_error");
      assert.match(
        err.message,
        new RegExp(
          `^Cannot create the build container: \\[runners.docker\\] ${key}: .*No such container: ${name}$`,
        ),
      );
      return true;
    });
  }
});

test("docker keys: a helper_image_flavor whose default image cannot be had is named", async () => {
  const { executor } = createExecutor({
    config: { helperImage: "", helperImageFlavor: "runner-test-no-such-flavor" },
    job: { variables: [{ key: "GIT_STRATEGY", value: "fetch" }] },
  });
  await using _ = executor;
  await executor.prepare(never());
  await assert.rejects(
    executor.run({ stage: "get_sources", script: "true" }, never()),
    (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.match(
        err.message,
        /^The default helper image of \[runners.docker\] helper_image_flavor "runner-test-no-such-flavor": Cannot get image "registry\.gitlab\.com\/.*:runner-test-no-such-flavor-x86_64-latest"/,
      );
      return true;
    },
  );
});

test("docker keys: a relative cache_dir fails the job naming the key", async () => {
  const { executor, jobId } = createExecutor({ config: { cacheDir: "relative/dir" } });
  await using _ = executor;
  await assert.rejects(executor.prepare(never()), (err: unknown) => {
    // Docker took it for a volume name: 'create relative/dir/runner-…: "…" includes
    // invalid characters for a local volume name', naming no key.
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.reason, "runner_configuration_error");
    assert.equal(
      err.message,
      'Invalid [runners.docker] cache_dir "relative/dir": expected an absolute path on the Docker host',
    );
    return true;
  });
  assert.equal(await jobContainerCount(jobId), 0);
});

test("docker keys: an extra_hosts entry Docker refuses fails the job naming the key", async () => {
  for (
    const [entry, why] of [
      ["bogus", 'bad format for add-host: "bogus"'],
      ["a:b:c", 'invalid IP address in add-host: "b:c"'],
    ]
  ) {
    const { executor } = createExecutor({ config: { extraHosts: [entry!] } });
    await using _ = executor;
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "runner_configuration_error");
      assert.equal(
        err.message,
        `Cannot create the build container: [runners.docker] extra_hosts: ${why}`,
      );
      return true;
    });
  }
});

test("docker keys: a network_mode naming no network fails the job naming the key", async () => {
  const networkMode = `runner-test-no-such-network-${crypto.randomUUID().slice(0, 8)}`;
  const { executor, jobId } = createExecutor({ config: { networkMode } });
  await using _ = executor;
  await assert.rejects(executor.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.reason, "runner_configuration_error");
    assert.equal(
      err.message,
      `Cannot start the build container: [runners.docker] network_mode "${networkMode}" names ` +
        `no network: network ${networkMode} not found`,
    );
    return true;
  });
  assert.equal(await jobContainerCount(jobId), 0);
});

test("docker keys: a [[runners.docker.services]] entry whose name is empty fails the job naming the key", async () => {
  const { executor } = createExecutor({
    config: {
      services: [{
        name: "${NO_SUCH_VARIABLE}",
        alias: "",
        entrypoint: [],
        command: [],
        environment: [],
        unsupported: {},
      }],
    },
  });
  await using _ = executor;
  await assert.rejects(executor.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.reason, "runner_configuration_error", err.message);
    assert.equal(
      err.message,
      'invalid service image name: [[runners.docker.services]] name "${NO_SUCH_VARIABLE}" is empty',
    );
    return true;
  });
  const fromJob = createExecutor({
    job: { variables: NO_GIT, services: [{ name: "$NO_SUCH_VARIABLE" }] },
  });
  await using _job = fromJob.executor;
  await assert.rejects(
    fromJob.executor.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "runner_configuration_error" &&
      err.message ===
        'invalid service image name: the job\'s service name "$NO_SUCH_VARIABLE" is empty',
  );
});

test("docker keys: a security_opt the daemon does not know fails the job naming the key", async () => {
  for (const opt of ["bogus", "systempaths=unconfined"]) {
    const { executor } = createExecutor({ config: { securityOpt: [opt] } });
    await using _ = executor;
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "runner_configuration_error", err.message);
      assert.match(
        err.message,
        /^Cannot create the build container: \[runners.docker\] security_opt: invalid --security-opt \d: /,
      );
      return true;
    });
  }
  const { executor } = createExecutor({
    config: { servicesSecurityOpt: ["bogus"] },
    job: { variables: NO_GIT, services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "60"] }] },
  });
  await using _ = executor;
  await assert.rejects(
    executor.prepare(never()),
    /^JobFailedError: Cannot create the service "[^"]+" container: \[runners.docker\] services_security_opt: invalid --security-opt/,
  );
});
