/**
 * The docker executor against the real dockerd of this machine, with the
 * locally built test images (tests/fixtures/docker_images.ts). Skipped, with
 * the reason printed, when no daemon answers.
 */
import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { DockerConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { parseJobSpec } from "../../job/job_spec.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  ensureExposedPortsImage,
  ensureNoShellImage,
  ensureTestImages,
} from "../../../tests/fixtures/docker_images.ts";
import { CollectedOutput, testExecutorContract } from "../executor_contract.ts";
import type { JobOutput } from "../executor.ts";
import { connectDocker } from "./docker_connection.ts";
import { DockerExecutor, KILLED_EXIT_CODE } from "./docker_executor.ts";
import { LABEL_JOB_ID, LABEL_MANAGED, LABEL_PROJECT_ID } from "./docker_labels.ts";
import { clearCacheVolumes, sweepOrphans } from "./docker_resources.ts";
import { OwnerLease } from "./owner_lease.ts";
import { SilentLogger } from "../../log/logger.ts";

const skip = await dockerSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping docker executor integration tests: ${skip}`);
} else {
  await ensureTestImages();
}
const ignore = skip !== null;
const stateDir = await Deno.makeTempDir({ prefix: "runner-docker-state-" });
const lease = ignore ? null : await OwnerLease.acquire(stateDir);
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
/** Unique per test run, so parallel runs and leftovers never collide. */
const SHORT_TOKEN = `t${crypto.randomUUID().slice(0, 7)}`;
let nextJobId = Math.floor(Math.random() * 1e6) * 100;
const never = () => new AbortController().signal;

function dockerConfig(overrides: Partial<DockerConfig> = {}): DockerConfig {
  return {
    ...defaultRunnerConfig("docker").docker,
    image: BUSYBOX_TEST_IMAGE,
    pullPolicy: ["if-not-present"],
    allowedPullPolicies: [],
    helperImage: DEBIAN_TEST_IMAGE,
    ...overrides,
  };
}

function createExecutor(
  options: {
    config?: Partial<DockerConfig>;
    job?: Record<string, unknown>;
    projectId?: number;
    output?: JobOutput;
  } = {},
): DockerExecutor {
  const jobId = ++nextJobId;
  return new DockerExecutor({
    docker,
    config: dockerConfig(options.config),
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      job_info: { project_id: options.projectId ?? jobId },
      ...options.job,
    }),
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output: options.output ?? new CollectedOutput(),
    log: new SilentLogger(),
    lease: lease!,
  });
}

async function jobContainers(jobId: number): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL_JOB_ID}=${jobId}`, `${LABEL_MANAGED}=true`] }),
  });
  return list.map((c) => c.Names.join(","));
}

/** Waits until the job's build container is not running (its entrypoint ended). */
async function buildContainerEnded(jobId: number): Promise<void> {
  const [build] = (await jobContainers(jobId)).filter((n) => n.endsWith("-build"));
  assert.ok(build, `job ${jobId} has no build container`);
  await docker.getContainer(build.replace(/^\//, "")).wait({ condition: "not-running" });
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn, sanitizeOps: false, sanitizeResources: false });
}

testExecutorContract(
  "docker",
  (output) => Promise.resolve(createExecutor({ output })),
  ignore ? { skip: skip ?? "" } : {},
);

test("docker executor runs an echo job with sh in an image without bash", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output });
  await executor.prepare(never());
  assert.equal(executor.shell, "sh");
  assert.equal(executor.paths.buildsDir, "/builds");
  const code = await executor.run({ stage: "step_script", script: "echo hello from $0" }, never());
  assert.equal(code, 0);
  assert.match(output.text(), /hello from \/bin\/sh/);
  assert.match(output.text(), /Using Docker executor with image runner-test\/busybox:latest/);
});

test("docker executor detects bash in an image that has it and reports exit codes", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output, job: { image: { name: DEBIAN_TEST_IMAGE } } });
  await executor.prepare(never());
  assert.equal(executor.shell, "bash");
  assert.equal(
    await executor.run(
      { stage: "step_script", script: 'echo "bash $BASH_VERSION"; exit 42' },
      never(),
    ),
    42,
  );
  assert.match(output.text(), /bash 5\./);
});

test("docker executor runs get_sources in the helper container so images need no git", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output });
  await executor.prepare(never());
  const sources = await executor.run({
    stage: "get_sources",
    script: "git --version && git init -q /builds/group/project && echo cloned",
  }, never());
  assert.equal(sources, 0, output.text());
  assert.match(output.text(), /git version/);
  const build = await executor.run({
    stage: "step_script",
    script:
      "command -v git || echo no-git-here; test -d /builds/group/project/.git && echo sees-clone",
  }, never());
  assert.equal(build, 0);
  assert.match(output.text(), /no-git-here/);
  assert.match(output.text(), /sees-clone/);
});

test("docker executor runs get_sources without a helper when GIT_STRATEGY needs no git", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { helperImage: "runner-test/no-such-helper:1", pullPolicy: ["never"] },
    job: { variables: [{ key: "GIT_STRATEGY", value: "none" }] },
  });
  await executor.prepare(never());
  const code = await executor.run({
    stage: "get_sources",
    script: "command -v git || echo ran-in-job-image",
  }, never());
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /ran-in-job-image/);
});

test("docker executor runs scripts larger than one command-line argument", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output });
  await executor.prepare(never());
  const filler = `# ${"x".repeat(200 * 1024)}\n`;
  const code = await executor.run(
    { stage: "step_script", script: `${filler}echo big-script-ran` },
    never(),
  );
  assert.equal(code, 0);
  assert.match(output.text(), /big-script-ran/);
});

test("docker executor runs the job image's entrypoint before the scripts", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      image: {
        name: BUSYBOX_TEST_IMAGE,
        entrypoint: ["/bin/sh", "-c", 'echo entrypoint-ran > /tmp/entry; exec "$@"', "--"],
      },
    },
  });
  await executor.prepare(never());
  const code = await executor.run({ stage: "step_script", script: "cat /tmp/entry" }, never());
  assert.equal(code, 0);
  assert.match(output.text(), /entrypoint-ran/);
});

test("docker executor: an entrypoint that ends the build container fails the stage naming it and its exit code", async () => {
  await using executor = createExecutor({
    job: { image: { name: BUSYBOX_TEST_IMAGE, entrypoint: ["/bin/false"] } },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  await buildContainerEnded(jobId);
  await assert.rejects(
    executor.run({ stage: "prepare_script", script: "echo prepared" }, never()),
    (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "script_failure");
      assert.equal(err.exitCode, 1);
      // "during" when the exec came just before the container ended.
      assert.match(
        err.message,
        /^The build container exited with code 1 (before the prepare_script stage could run|during the prepare_script stage): the job's image entrypoint \["\/bin\/false"\] must run the command it is given \(exec "\$@"\) and keep running$/,
      );
      return true;
    },
  );
});

test("docker executor: a daemon that cannot be reached is named as such, not as the image's pull failure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-no-daemon-" });
  try {
    const unreachable = new Docker({ socketPath: `${dir}/docker.sock` });
    await using executor = new DockerExecutor({
      docker: unreachable,
      config: dockerConfig({ pullPolicy: ["never"] }),
      job: parseJobSpec({ id: ++nextJobId, token: "job-token", job_info: { project_id: 1 } }),
      shortToken: SHORT_TOKEN,
      concurrentProjectId: 0,
      output: new CollectedOutput(),
      log: new SilentLogger(),
      lease: lease!,
      sweepOrphans: false,
    });
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      // It was 'Cannot get image "runner-test/busybox:latest" with pull policies [never]:
      // never: connect ENOENT …', an image_pull_failure not retried by prepare.
      assert.ok(!(err instanceof JobFailedError), String(err));
      assert.equal(
        (err as Error).message,
        `Cannot connect to the Docker daemon to get image "runner-test/busybox:latest": connect ` +
          `ENOENT ${dir}/docker.sock (is dockerd running, and [runners.docker] host right?)`,
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("docker executor: an image without a shell fails the job naming the image, without a retry", async () => {
  const image = await ensureNoShellImage();
  // The start fails too ('exec: "sh": executable file not found'): which answer
  // came first decided the error, so it is tried several times.
  for (let attempt = 0; attempt < 10; attempt++) {
    await using executor = createExecutor({ job: { image: { name: image } } });
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "runner_system_failure");
      assert.match(err.message, /^Image "runner-test\/noshell:latest" has no shell: looked for /);
      return true;
    });
  }
});

test("docker executor: an entrypoint or service command that cannot be run fails the job naming it, without a retry", async () => {
  const cases = [
    {
      job: { image: { name: BUSYBOX_TEST_IMAGE, entrypoint: ["/nonexistent"] } },
      message:
        /^Cannot start the build container: the job's image entrypoint \["\/nonexistent"\] cannot be run: .*exec: "\/nonexistent": stat \/nonexistent: no such file or directory/,
    },
    {
      job: { services: [{ name: BUSYBOX_TEST_IMAGE, alias: "db", entrypoint: ["/nonexistent"] }] },
      message:
        /^Cannot start the service "runner-test\/busybox:latest" container: its entrypoint \["\/nonexistent"\] cannot be run: /,
    },
    {
      job: { services: [{ name: BUSYBOX_TEST_IMAGE, alias: "db", command: ["no-such-cmd"] }] },
      message:
        /^Cannot start the service "runner-test\/busybox:latest" container: its command \["no-such-cmd"\] cannot be run: .*executable file not found/,
    },
  ];
  for (const { job, message } of cases) {
    await using executor = createExecutor({ job });
    await assert.rejects(executor.prepare(never()), (err: unknown) => {
      // A plain Error is retried by the build, twice, failing alike.
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "script_failure");
      assert.match(err.message, message);
      return true;
    });
  }
});

test("docker executor: an unknown pull_policy of a job's service names that service, not the image", async () => {
  await using executor = createExecutor({
    job: { services: [{ name: BUSYBOX_TEST_IMAGE, alias: "db", pull_policy: ["bogus"] }] },
  });
  await assert.rejects(
    executor.prepare(never()),
    (err: unknown) => {
      assert.ok(err instanceof JobFailedError, String(err));
      assert.equal(err.reason, "runner_configuration_error");
      assert.equal(
        err.message,
        `Unsupported pull_policy "bogus" in the job's service "${BUSYBOX_TEST_IMAGE}": expected always, if-not-present or never`,
      );
      return true;
    },
  );
});

test("docker executor: a variable too large for one environment entry fails the job naming it; 100 KiB runs", async () => {
  await using big = createExecutor({
    job: { variables: [{ key: "BIG", value: "z".repeat(200 * 1024) }] },
  });
  await assert.rejects(big.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.reason, "runner_configuration_error");
    assert.equal(
      err.message,
      'Variable "BIG" cannot be given to the job\'s containers: its environment entry is 204805 bytes, more than the 131072 Linux allows for one (Argument list too long); a file variable has no such limit',
    );
    return true;
  });
  const output = new CollectedOutput();
  await using fits = createExecutor({
    output,
    job: { variables: [{ key: "MID", value: "z".repeat(100 * 1024) }] },
  });
  await fits.prepare(never());
  const code = await fits.run({ stage: "step_script", script: 'echo "mid ${#MID}"' }, never());
  assert.equal(code, 0);
  assert.match(output.text(), /mid 102400/);
});

test("docker executor: what an ending entrypoint printed is shown in the job log before the error", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      image: {
        name: BUSYBOX_TEST_IMAGE,
        entrypoint: ["sh", "-c", "echo 'entry: DATABASE_URL is not set' >&2; exit 3"],
      },
    },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  await buildContainerEnded(jobId);
  await assert.rejects(
    executor.run({ stage: "prepare_script", script: "echo prepared" }, never()),
    (err: unknown) => err instanceof JobFailedError && err.exitCode === 3,
  );
  assert.match(
    output.text(),
    /Build container output \(last lines\):\nentry: DATABASE_URL is not set\n/,
  );
});

test("docker executor: a service container gets the public job variables and its own, never the job token or a secret", async () => {
  await using executor = createExecutor({
    job: {
      variables: [
        { key: "CI_PROJECT_NAME", value: "widget", public: true },
        { key: "CI_JOB_TOKEN", value: "glcbt-secret-token", public: false, masked: true },
        { key: "DB_PASSWORD", value: "hunter2", public: false },
      ],
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: ["sleep", "600"],
        variables: [{ key: "POSTGRES_DB", value: "test" }],
      }],
    },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  const [service] = (await jobContainers(jobId)).filter((n) => n.endsWith("-service-0"));
  assert.ok(service, "the service container exists");
  const info = await docker.getContainer(service.replace(/^\//, "")).inspect();
  const env = info.Config.Env ?? [];
  assert.ok(env.includes("CI_PROJECT_NAME=widget"), env.join("\n"));
  assert.ok(env.includes("POSTGRES_DB=test"), env.join("\n"));
  assert.deepEqual(env.filter((e) => /glcbt-secret-token|hunter2/.test(e)), []);
});

test("docker executor gives a service the runner's environment, as upstream's internal variables", async () => {
  const jobId = ++nextJobId;
  await using executor = new DockerExecutor({
    docker,
    config: dockerConfig(),
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      job_info: { project_id: jobId },
      variables: [
        { key: "PROXY_HOST", value: "proxy.example", public: true },
        { key: "NO_PROXY", value: "job-secret-value", public: false },
      ],
      services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sleep", "600"] }],
    }),
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output: new CollectedOutput(),
    log: new SilentLogger(),
    lease: lease!,
    runnerEnvironment: ["DOCKER_TLS_CERTDIR=", "HTTP_PROXY=http://$PROXY_HOST:3128", "NO_PROXY=db"],
  });
  await executor.prepare(never());
  const [service] = (await jobContainers(jobId)).filter((n) => n.endsWith("-service-0"));
  const env = (await docker.getContainer(service!.replace(/^\//, "")).inspect()).Config.Env ?? [];
  // A docker:dind service started with TLS, another without the runner's proxy.
  for (
    const entry of ["DOCKER_TLS_CERTDIR=", "HTTP_PROXY=http://proxy.example:3128", "NO_PROXY=db"]
  ) {
    assert.ok(env.includes(entry), `${entry} not in\n${env.join("\n")}`);
  }
  // The job's non-public variable of the same name stays out.
  assert.deepEqual(env.filter((e) => e.includes("job-secret-value")), []);
});

test("docker executor expands a service's variables against the job's, as upstream", async () => {
  await using executor = createExecutor({
    job: {
      variables: [
        { key: "CI_PROJECT_NAME", value: "widget", public: true },
        { key: "DB_PASSWORD", value: "hunter2", public: false },
        { key: "DB_URL", value: "pg://$CI_PROJECT_NAME", public: true },
      ],
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: ["sleep", "600"],
        variables: [
          // The common pattern: the service's password from a CI/CD variable.
          { key: "POSTGRES_PASSWORD", value: "$DB_PASSWORD" },
          { key: "POSTGRES_DB", value: "${CI_PROJECT_NAME}_test" },
          { key: "POSTGRES_USER", value: "u-$POSTGRES_DB" },
          { key: "LITERAL", value: "$DB_PASSWORD", raw: true },
        ],
      }],
    },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  const [service] = (await jobContainers(jobId)).filter((n) => n.endsWith("-service-0"));
  assert.ok(service, "the service container exists");
  const info = await docker.getContainer(service.replace(/^\//, "")).inspect();
  const env = info.Config.Env ?? [];
  // They went in as written: POSTGRES_PASSWORD=$DB_PASSWORD.
  for (
    const entry of [
      "POSTGRES_PASSWORD=hunter2",
      "POSTGRES_DB=widget_test",
      "POSTGRES_USER=u-${CI_PROJECT_NAME}_test",
      "LITERAL=$DB_PASSWORD",
      "DB_URL=pg://widget",
    ]
  ) {
    assert.ok(env.includes(entry), `${entry} not in\n${env.join("\n")}`);
  }
});

/** How many `docker exec` the Engine started in the job's build container since `since` (ms). */
async function execStarts(jobId: number, since: number): Promise<number> {
  const [build] = (await jobContainers(jobId)).filter((n) => n.endsWith("-build"));
  assert.ok(build, `job ${jobId} has no build container`);
  const stream = await docker.getEvents({
    since: Math.floor(since / 1000),
    until: (Date.now() / 1000).toFixed(3),
    filters: JSON.stringify({ type: ["container"], container: [build.replace(/^\//, "")] }),
  } as unknown as Docker.GetEventsOptions) as unknown as NodeJS.ReadableStream;
  let text = "";
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (chunk: Uint8Array) => (text += new TextDecoder().decode(chunk)));
    stream.on("end", () => resolve());
    stream.on("error", reject);
  });
  return text.split("\n").filter((line) => line.trim() !== "")
    .filter((line) => String(JSON.parse(line).Action).startsWith("exec_start")).length;
}

test("docker executor runs prepare_script and cleanup_file_variables in the main shell, no exec", async () => {
  const output = new CollectedOutput();
  const since = Date.now() - 1000;
  await using executor = createExecutor({ output });
  const jobId = nextJobId;
  await executor.prepare(never());
  const prepare = await executor.run({
    stage: "prepare_script",
    // Output on both streams, the last without a newline, and a non-zero exit.
    script: "echo on-stdout; echo on-stderr >&2; printf no-newline; exit 3",
  }, never());
  assert.equal(prepare, 3);
  assert.equal(
    await executor.run({ stage: "step_script", script: "echo user-step; exit 0" }, never()),
    0,
  );
  assert.equal(
    await executor.run({ stage: "cleanup_file_variables", script: "echo cleaned" }, never()),
    0,
  );
  const text = output.text();
  for (const line of ["on-stdout\n", "on-stderr\n", "no-newline", "user-step\n", "cleaned\n"]) {
    assert.ok(text.includes(line), `missing ${JSON.stringify(line)} in ${JSON.stringify(text)}`);
  }
  assert.doesNotMatch(text, /runner-stage-end/);
  // Only the user's step_script took an exec.
  assert.equal(await execStarts(jobId, since), 1);
  // The main process's output is the container's log: the runner stages' output is in it, the
  // script sent on stdin is not, nor the exec'd user step's output.
  const [build] = (await jobContainers(jobId)).filter((n) => n.endsWith("-build"));
  const logs = new TextDecoder().decode(
    await docker.getContainer(build!.replace(/^\//, "")).logs({
      stdout: true,
      stderr: true,
      follow: false,
    }) as unknown as Uint8Array,
  );
  assert.match(logs, /on-stdout/);
  assert.doesNotMatch(logs, /echo on-stdout|user-step/);
});

test("docker executor runs main-shell stages with bash where the image has it", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output, job: { image: { name: DEBIAN_TEST_IMAGE } } });
  await executor.prepare(never());
  const code = await executor.run(
    { stage: "prepare_script", script: 'echo "prepared by bash $BASH_VERSION"' },
    never(),
  );
  assert.equal(code, 0);
  assert.match(output.text(), /prepared by bash 5\./);
});

test("docker executor runs prepare_script by exec when an entrypoint replaces the main shell", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    // The main process ignores stdin: a stage sent to it would never end.
    job: {
      image: { name: BUSYBOX_TEST_IMAGE, entrypoint: ["/bin/sh", "-c", "exec sleep 1000", "--"] },
    },
  });
  await executor.prepare(never());
  const code = await executor.run(
    { stage: "prepare_script", script: "echo prepared" },
    AbortSignal.timeout(20_000),
  );
  assert.equal(code, 0);
  assert.match(output.text(), /prepared/);
});

test("docker executor abort of a main-shell stage kills it; the next stage runs", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output });
  await executor.prepare(never());
  const controller = new AbortController();
  const running = executor.run(
    { stage: "prepare_script", script: "echo started; sleep 1000" },
    controller.signal,
  );
  await output.waitFor("started");
  controller.abort();
  assert.equal(await running, KILLED_EXIT_CODE);
  assert.equal(
    await executor.run({ stage: "cleanup_file_variables", script: "echo after-abort" }, never()),
    0,
  );
  assert.match(output.text(), /after-abort/);
});

test("docker executor main-shell stages on a stopped container fail at once, as an exec would", async () => {
  for (const isAttachedBefore of [false, true]) {
    await using executor = createExecutor();
    const jobId = nextJobId;
    await executor.prepare(never());
    if (isAttachedBefore) {
      assert.equal(await executor.run({ stage: "prepare_script", script: "true" }, never()), 0);
    }
    // The main process ends behind the executor's back (as an OOM kill would).
    const [build] = (await jobContainers(jobId)).filter((n) => n.endsWith("-build"));
    const container = docker.getContainer(build!.replace(/^\//, ""));
    await container.kill();
    await container.wait({ condition: "not-running" });
    // An attach to a stopped container waits for its next start: that would hang the job.
    const outcome = await Promise.race([
      executor.run({ stage: "cleanup_file_variables", script: "true" }, never()).then(
        (code) => `exit ${code}`,
        (err: Error) => `error: ${err.message}`,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve("still waiting"), 20_000)),
    ]);
    assert.equal(
      outcome,
      "error: The build container exited with code 137 before the cleanup_file_variables stage could run",
      `attached before: ${isAttachedBefore}`,
    );
  }
});

test("docker executor reaches a service by its alias on the job network", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "web",
        command: [
          "sh",
          "-c",
          'mkdir -p /www && echo "svc-$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www',
        ],
        ports: [{ number: 8080 }],
        variables: [{ key: "GREETING", value: "ok" }],
      }],
    },
  });
  await executor.prepare(never());
  assert.match(output.text(), /Waiting for services/);
  assert.doesNotMatch(output.text(), /didn't start properly/);
  const code = await executor.run(
    { stage: "step_script", script: "wget -q -O- http://web:8080/index.html" },
    never(),
  );
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /svc-ok/);
});

test("docker executor mounts the builds and cache directories in services, as upstream", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: [
          "sh",
          "-c",
          "until [ -f /builds/ping ]; do sleep 0.1; done; echo pong > /builds/pong; " +
          "touch /cache/from-service; exec sleep 600",
        ],
      }],
    },
  });
  await executor.prepare(never());
  // The service had no /builds of the job's ("GitLab Runner mounts a /builds directory to
  // all shared services"): the script waited in vain.
  const code = await executor.run({
    stage: "step_script",
    script:
      "touch /builds/ping; for i in $(seq 50); do [ -f /builds/pong ] && break; sleep 0.1; done; " +
      "cat /builds/pong && ls /cache/from-service",
  }, never());
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /^pong$/m);
});

test("docker executor expands job variables in a job's service alias, as upstream", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      variables: [{ key: "DB_SUFFIX", value: "77", public: true }],
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "db-$DB_SUFFIX, ${DB_SUFFIX}-x",
        command: ["sleep", "60"],
      }],
    },
  });
  await executor.prepare(never());
  // The alias was taken as written: "ping: bad address 'db-77'".
  const code = await executor.run(
    { stage: "step_script", script: "ping -c1 -W2 db-77 && ping -c1 -W2 77-x" },
    never(),
  );
  assert.equal(code, 0, output.text());
});

test("docker executor's health check finds a listening service with a helper image whose nc has no -z (BusyBox)", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { helperImage: BUSYBOX_TEST_IMAGE, waitForServicesTimeout: 10 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "web",
        command: ["httpd", "-f", "-p", "8080"],
        ports: [{ number: 8080 }],
      }],
    },
  });
  await executor.prepare(never());
  assert.match(output.text(), /Waiting for services/);
  // "nc -z" printed BusyBox's usage and failed: the service was waited for until the
  // timeout and reported as not started.
  assert.doesNotMatch(output.text(), /didn't start properly/, output.text());
});

test("docker executor starts a service given twice under the same names once, as the official runner", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      services: [
        { name: BUSYBOX_TEST_IMAGE, command: ["sleep", "600"] },
        { name: BUSYBOX_TEST_IMAGE, command: ["sleep", "600"] },
        { name: BUSYBOX_TEST_IMAGE, alias: "other", command: ["sleep", "600"] },
      ],
    },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  // Two containers answered to "runner-test__busybox": the job's connections went to either.
  assert.match(
    output.text(),
    /WARNING: Service runner-test\/busybox:latest is already created\. Ignoring\./,
  );
  const services = (await jobContainers(jobId)).filter((n) => /-service-\d+$/.test(n));
  assert.equal(services.length, 2, services.join(" "));
});

test("docker executor gives a name two services claim to the first only, saying so as upstream", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      services: [
        { name: BUSYBOX_TEST_IMAGE, alias: "db", command: ["sleep", "600"] },
        { name: await ensureExposedPortsImage(), alias: "db, cache", command: ["sleep", "600"] },
      ],
    },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  assert.match(
    output.text(),
    /WARNING: Skipping alias "db" for service "runner-test\/busybox-ports:latest" \(services\[1\]\): alias is already in use by another service\./,
  );
  // Both answered to "db", so the job's connections to it went to either container.
  const aliasesOf = async (suffix: string) => {
    const [name] = (await jobContainers(jobId)).filter((n) => n.endsWith(suffix));
    const info = await docker.getContainer(name!.replace(/^\//, "")).inspect();
    return Object.values(info.NetworkSettings.Networks)[0]?.Aliases ?? [];
  };
  assert.ok((await aliasesOf("-service-0")).includes("db"));
  const second = await aliasesOf("-service-1");
  assert.ok(second.includes("cache") && !second.includes("db"), second.join(" "));
  assert.equal(
    await executor.run({ stage: "step_script", script: "ping -c1 -W2 cache >/dev/null" }, never()),
    0,
  );
});

test("docker executor: a job stopped while it waits for a service gets no service warning", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 120 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "db",
        command: ["sleep", "600"],
        ports: [{ number: 5432 }],
      }],
    },
  });
  const stop = new AbortController();
  const preparing = executor.prepare(stop.signal);
  while (!output.text().includes("Waiting for services")) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stop.abort("timeout");
  await assert.rejects(preparing);
  // After a job timeout it said "Health check error: the job was canceled".
  assert.doesNotMatch(output.text(), /probably didn't start properly|the job was canceled/);
});

test("docker executor stops waiting for a service whose container ends, naming its exit code", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 120 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "db",
        command: ["sh", "-c", "echo 'db: no config' >&2; exit 3"],
        ports: [{ number: 5432 }],
      }],
    },
  });
  // It was waited for until the timeout (30 s by default, every job), then reported
  // as 'ports 5432 of "db" did not accept connections within 120s'.
  await executor.prepare(never());
  assert.match(
    output.text(),
    /probably didn't start properly\.\n\nHealth check error:\nthe service container exited with code 3\n\nService container logs:\ndb: no config\n/,
    output.text(),
  );
});

test("docker executor names a service without ports that ended at start, with its exit code and output", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    job: {
      services: [
        {
          name: BUSYBOX_TEST_IMAGE,
          alias: "db",
          command: ["sh", "-c", "echo 'db: no config' >&2; exit 3"],
        },
        { name: BUSYBOX_TEST_IMAGE, alias: "cache", command: ["sleep", "600"] },
      ],
    },
  });
  await executor.prepare(never());
  // Nothing was said: the job only found its alias gone ("ping: bad address 'db'").
  assert.match(
    output.text(),
    /Service runner-test\/busybox:latest \(\S+-service-0\) probably didn't start properly\.\n\nHealth check error:\nthe service container exited with code 3\n\nService container logs:\ndb: no config\n/,
    output.text(),
  );
  assert.doesNotMatch(output.text(), /-service-1\) probably/);

  // With the health check turned off (-1), nothing is looked at, as upstream.
  const quiet = new CollectedOutput();
  await using off = createExecutor({
    output: quiet,
    config: { waitForServicesTimeout: -1 },
    job: { services: [{ name: BUSYBOX_TEST_IMAGE, command: ["sh", "-c", "exit 3"] }] },
  });
  await off.prepare(never());
  assert.doesNotMatch(quiet.text(), /probably didn't start properly/);
});

test("docker executor waits for a service under a wait_for_services_timeout longer than one timer holds", async () => {
  // A timer given more than 2^31-1 ms (24.8 days) fires after 1 ms: such a
  // timeout reported every service as not started.
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 30 * 24 * 3600 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "web",
        command: ["sh", "-c", "sleep 1; mkdir -p /www && exec httpd -f -p 8080 -h /www"],
        ports: [{ number: 8080 }],
      }],
    },
  });
  await executor.prepare(never());
  assert.match(
    output.text(),
    /Waiting for services to be up and running \(timeout 2592000 seconds\)/,
  );
  assert.doesNotMatch(output.text(), /didn't start properly/, output.text());
});

test("docker executor waits for the port a service's HEALTHCHECK_TCP_PORT names", async () => {
  const output = new CollectedOutput();
  // The image exposes nothing; the service listens on 8080 after 3 s.
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 30 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "web",
        command: ["sh", "-c", "sleep 3; exec nc -ll -p 8080 -e true"],
        variables: [{ key: "HEALTHCHECK_TCP_PORT", value: "8080", public: true }],
      }],
    },
  });
  await executor.prepare(never());
  assert.match(output.text(), /Waiting for services to be up and running/);
  // The variable was ignored: nothing was waited for and the script found the port closed.
  const code = await executor.run({
    stage: "step_script",
    script: "nc -w 2 web 8080 </dev/null && echo reached",
  }, never());
  assert.equal(code, 0, output.text());
  assert.doesNotMatch(output.text(), /didn't start properly/);

  const bad = new CollectedOutput();
  await using refused = createExecutor({
    output: bad,
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        command: ["sleep", "60"],
        variables: [{ key: "HEALTHCHECK_TCP_PORT", value: "http", public: true }],
      }],
    },
  });
  await assert.rejects(
    refused.prepare(never()),
    (err: unknown) =>
      err instanceof JobFailedError && err.reason === "script_failure" &&
      err.message ===
        'Cannot wait for service "runner-test/busybox:latest": HEALTHCHECK_TCP_PORT "http" ' +
          "is not a TCP port (expected a number from 1 to 65535)",
  );
});

test("docker executor waits for a service until one of its exposed ports accepts, as upstream", async () => {
  // Like docker:dind, the image exposes 2375 and 2376 and the service listens on one.
  const image = await ensureExposedPortsImage();
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 20 },
    job: {
      services: [{
        name: image,
        alias: "dind",
        command: ["sh", "-c", "sleep 2; exec nc -ll -p 2376 -e true"],
      }],
    },
  });
  const started = Date.now();
  await executor.prepare(never());
  // It waited for every port: the whole 20 s, then "probably didn't start properly".
  assert.doesNotMatch(output.text(), /didn't start properly/, output.text());
  assert.ok(Date.now() - started < 15_000, `prepare took ${Date.now() - started} ms`);
  const code = await executor.run({
    stage: "step_script",
    script: "nc -w 2 dind 2376 </dev/null && echo reached",
  }, never());
  assert.equal(code, 0, output.text());
});

test("docker executor follows a service's output into the job log under CI_DEBUG_SERVICES", async () => {
  const output = new CollectedOutput();
  const executor = new DockerExecutor({
    docker,
    config: dockerConfig({ waitForServicesTimeout: 10 }),
    job: parseJobSpec({
      id: ++nextJobId,
      token: "job-token",
      job_info: { project_id: nextJobId },
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "db",
        command: [
          "sh",
          "-c",
          "echo db starting; echo db warning >&2; " +
          "nc -ll -p 5432 -e sh -c 'echo db got a client >&2' & while sleep 0.2; do echo tick; done",
        ],
        ports: [{ number: 5432 }],
      }],
    }),
    shortToken: SHORT_TOKEN,
    concurrentProjectId: 0,
    output,
    log: new SilentLogger(),
    lease: lease!,
    isServiceLogFollowed: true,
  });
  await using _ = executor;
  await executor.prepare(never());
  assert.equal(
    await executor.run({ stage: "step_script", script: "nc -w 2 db 5432 </dev/null" }, never()),
    0,
  );
  // The client's line comes while the script runs, after the health check's.
  await output.waitFor("db got a client", 10_000);
  await executor.finishJob();
  const lines = output.text().split("\n").filter((line) => line.includes("[service:"));
  const prefix = "\x1b[0;37m[service:db-runner-test__busybox-runner-test-busybox] ";
  const stamp = "\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z";
  for (const text of ["db starting", "db warning", "db got a client"]) {
    assert.ok(
      lines.some((line) => new RegExp(`^${escape(prefix)}${stamp} ${text}\x1b\\[0;m$`).test(line)),
      `no service line "${text}" in:\n${output.text()}`,
    );
  }
  // Nothing reaches the job's log after finishJob, while the service goes on ticking.
  const before = output.text().length;
  await new Promise((resolve) => setTimeout(resolve, 800));
  assert.equal(output.text().length, before);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test("docker executor warns clearly when a service port never opens", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({
    output,
    config: { waitForServicesTimeout: 2 },
    job: {
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "silent",
        command: ["sh", "-c", "echo service-log-line; exec sleep 1000"],
        ports: [{ number: 9999 }],
      }],
    },
  });
  await executor.prepare(never());
  const text = output.text();
  assert.match(
    text,
    /WARNING: Service runner-test\/busybox:latest .* probably didn't start properly/,
  );
  assert.match(text, /no connection to "silent" on port 9999 within 2s/);
  assert.match(text, /service-log-line/);
  assert.equal(await executor.run({ stage: "step_script", script: "true" }, never()), 0);
});

test("docker executor mounts host binds and anonymous volumes from config", async () => {
  const hostDir = await Deno.makeTempDir({ prefix: "runner-docker-bind-" });
  try {
    const projectId = ++nextJobId;
    const config = { volumes: [`${hostDir}:/hostdir`, "/extra"] };
    {
      await using first = createExecutor({ config, projectId });
      await first.prepare(never());
      const code = await first.run({
        stage: "step_script",
        script: "echo from-container > /hostdir/out.txt && echo kept > /extra/kept.txt",
      }, never());
      assert.equal(code, 0);
    }
    assert.equal(await Deno.readTextFile(`${hostDir}/out.txt`), "from-container\n");
    const output = new CollectedOutput();
    await using second = createExecutor({ config, projectId, output });
    await second.prepare(never());
    assert.equal(
      await second.run({ stage: "step_script", script: "cat /extra/kept.txt" }, never()),
      0,
    );
    assert.match(output.text(), /kept/);
    await second.cleanup();
    await clearCacheVolumes(docker, { shortToken: SHORT_TOKEN, projectId });
  } finally {
    await Deno.remove(hostDir, { recursive: true }).catch(() => {});
  }
});

test("docker executor reuses the build volume for the next job of the project", async () => {
  const projectId = ++nextJobId;
  {
    await using first = createExecutor({ projectId });
    await first.prepare(never());
    assert.equal(
      await first.run({
        stage: "step_script",
        script: "mkdir -p /builds/p && echo first-job > /builds/p/marker && echo c > /cache/c",
      }, never()),
      0,
    );
  }
  const output = new CollectedOutput();
  await using second = createExecutor({ projectId, output });
  await second.prepare(never());
  assert.equal(
    await second.run({ stage: "step_script", script: "cat /builds/p/marker /cache/c" }, never()),
    0,
  );
  assert.match(output.text(), /first-job/);
  await second.cleanup();

  const cleared = await clearCacheVolumes(docker, { shortToken: SHORT_TOKEN, projectId });
  assert.equal(cleared.removed.length, 2, JSON.stringify(cleared));
  const left = await docker.listVolumes({
    filters: JSON.stringify({ label: [`${LABEL_PROJECT_ID}=${projectId}`] }),
  });
  assert.deepEqual(left.Volumes ?? [], []);
});

test("docker executor with disable_cache starts every job from empty volumes and removes them", async () => {
  const projectId = ++nextJobId;
  const config = { disableCache: true };
  {
    await using first = createExecutor({ projectId, config });
    await first.prepare(never());
    assert.equal(
      await first.run({ stage: "step_script", script: "touch /builds/marker" }, never()),
      0,
    );
  }
  const left = await docker.listVolumes({
    filters: JSON.stringify({ label: [`${LABEL_PROJECT_ID}=${projectId}`] }),
  });
  assert.deepEqual((left.Volumes ?? []).map((v) => v.Name), []);
  await using second = createExecutor({ projectId, config });
  await second.prepare(never());
  assert.equal(
    await second.run({ stage: "step_script", script: "test ! -e /builds/marker" }, never()),
    0,
  );
});

test("docker executor cancel kills the stage and cleanup leaves no container", async () => {
  const output = new CollectedOutput();
  await using executor = createExecutor({ output });
  await executor.prepare(never());
  const controller = new AbortController();
  const running = executor.run(
    { stage: "step_script", script: "echo started; sleep 1000" },
    controller.signal,
  );
  await output.waitFor("started");
  controller.abort();
  assert.equal(await running, KILLED_EXIT_CODE);
  // after_script still runs after a cancel.
  assert.equal(await executor.run({ stage: "after_script", script: "echo after" }, never()), 0);
  await executor.cleanup();
  assert.deepEqual(await jobContainers(nextJobId), []);
});

test("docker executor timeout of a stage leaves no container after cleanup", async () => {
  await using executor = createExecutor({
    job: { services: [{ name: BUSYBOX_TEST_IMAGE, alias: "svc", command: ["sleep", "1000"] }] },
  });
  const jobId = nextJobId;
  await executor.prepare(never());
  assert.notEqual(executor.networkName, "");
  const code = await executor.run(
    { stage: "step_script", script: "sleep 1000" },
    AbortSignal.timeout(1000),
  );
  assert.equal(code, KILLED_EXIT_CODE);
  await executor.cleanup();
  assert.deepEqual(await jobContainers(jobId), []);
  const networks = await docker.listNetworks({
    filters: JSON.stringify({ label: [`${LABEL_JOB_ID}=${jobId}`] }),
  });
  assert.deepEqual(networks, []);
});

test("docker executor leftovers of a kill -9 are removed by the next executor's sweep", async () => {
  const jobId = ++nextJobId;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./testdata/orphan_maker.ts", import.meta.url).pathname,
      stateDir,
      BUSYBOX_TEST_IMAGE,
      String(jobId),
    ],
    stdout: "piped",
    stderr: "inherit",
    env: { "DENO_NO_UPDATE_CHECK": "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes(`ready ${jobId}`)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  assert.match(seen, new RegExp(`ready ${jobId}`));
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  assert.equal((await jobContainers(jobId)).length, 1, "the killed executor left its container");

  await using restarted = await OwnerLease.acquire(stateDir);
  const swept = await sweepOrphans(docker, restarted);
  assert.equal(swept.failures.length, 0, JSON.stringify(swept.failures));
  assert.deepEqual(await jobContainers(jobId), []);
  // A live executor's container survives the sweep.
  await using executor = createExecutor({
    job: { variables: [{ key: "GIT_STRATEGY", value: "none" }] },
  });
  await executor.prepare(never());
  await sweepOrphans(docker, restarted);
  assert.equal((await jobContainers(nextJobId)).length, 1);
  await executor.cleanup();
  await clearCacheVolumes(docker, { shortToken: "orphan00", projectId: 777 });
});

test("docker executor fails with image_pull_failure for a missing image under pull_policy never", async () => {
  await using executor = createExecutor({
    config: { pullPolicy: ["never"] },
    job: { image: { name: "runner-test/does-not-exist:1" } },
  });
  await assert.rejects(executor.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "image_pull_failure");
    assert.match(err.message, /runner-test\/does-not-exist:1/);
    assert.match(err.message, /never/);
    return true;
  });
});

test("docker executor rejects an image outside allowed_images with a clear message", async () => {
  await using executor = createExecutor({
    // Not the runner's own image, which passes as in the official runner.
    config: { image: DEBIAN_TEST_IMAGE, allowedImages: ["runner-test/debian:*"] },
    job: { image: { name: BUSYBOX_TEST_IMAGE } },
  });
  await assert.rejects(executor.prepare(never()), (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "runner_configuration_error");
    assert.match(
      err.message,
      /"runner-test\/busybox:latest" image is not present on the list of allowed images/,
    );
    assert.match(err.message, /- runner-test\/debian:\*/);
    return true;
  });
});

test("docker executor gives tar access to the build container's files", async () => {
  await using executor = createExecutor();
  await executor.prepare(never());
  assert.equal(
    await executor.run({
      stage: "step_script",
      script: "mkdir -p /builds/a && echo content > /builds/a/f.txt",
    }, never()),
    0,
  );
  const files = executor.files();
  assert.equal((await files.stat("/builds/a/f.txt"))?.size, 8);
  assert.equal(await files.stat("/builds/a/missing"), null);
  const tar = new Uint8Array(await new Response(await files.getTar("/builds/a")).arrayBuffer());
  assert.match(new TextDecoder().decode(tar), /a\/f\.txt[\s\S]*content/);
  await files.putTar("/builds", tar.slice());
  await files.putTar("/builds/a", tar);
  assert.ok(await files.stat("/builds/a/a/f.txt"));
  await assert.rejects(files.getTar("/nope"), Deno.errors.NotFound);
});

test("docker connection factory talks to the local socket", async () => {
  const client = await connectDocker({
    host: "unix:///var/run/docker.sock",
    tlsCertPath: "",
    tlsVerify: false,
  });
  const containers = await client.listContainers({ all: true });
  assert.ok(Array.isArray(containers));
});

test("docker executor tests leave no cache volumes behind", async () => {
  await clearCacheVolumes(docker, { shortToken: SHORT_TOKEN });
  const left = await docker.listVolumes({
    filters: JSON.stringify({ label: [`${LABEL_MANAGED}=true`] }),
  });
  assert.deepEqual((left.Volumes ?? []).filter((v) => v.Name.includes(SHORT_TOKEN)), []);
});

addEventListener("unload", () => {
  lease?.release();
  Deno.removeSync(stateDir, { recursive: true });
});
