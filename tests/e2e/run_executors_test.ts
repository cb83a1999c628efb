/**
 * End to end: `runner run` with the docker, ssh and custom executors — the
 * same job through each, from the fake GitLab to its final state. Tests whose
 * daemon is absent say so and skip.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { sshdSkipReason, startSshd } from "../fixtures/sshd.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
const sshReason = await sshdSkipReason();
for (const [what, reason] of [["docker", dockerReason], ["ssh", sshReason]]) {
  // deno-lint-ignore no-console -- a skipped test says why
  if (reason) console.warn(`SKIP ${what} e2e tests: ${reason}`);
}

/** One docker runner on the local test image, never pulling. */
function dockerConfig(url: string, token: string): string {
  return `concurrent = 1\ncheck_interval = 1\n${runnerToml(url, token, { executor: "docker" })}` +
    `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`;
}

Deno.test({
  name: "docker executor: a job runs in its image and reports success and failure with exit codes",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: dockerConfig(gitlab.url, r.token),
    });
    const ok = gitlab.enqueueJob({
      script: ["echo in-container $(uname -s)", "cat /etc/hostname"],
      variables: NO_GIT,
    });
    const okState = await gitlab.waitForJobFinished(ok.id, { timeoutMs: 120_000 });
    assert.equal(okState.status, "success", okState.trace + runner.log);
    assert.match(okState.trace, /in-container Linux/);
    const bad = gitlab.enqueueJob({ script: ["exit 4"], variables: NO_GIT });
    const badState = await gitlab.waitForJobFinished(bad.id, { timeoutMs: 120_000 });
    assert.equal(badState.status, "failed");
    assert.equal(badState.failureReason, "script_failure");
    assert.equal(badState.exitCode, 4);
  },
});

Deno.test({
  name:
    "docker executor: a relative builds_dir or cache_dir fails the job naming the key, not with Docker's mount error",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({
      traceUpdateIntervalSeconds: 1,
      failureReasons: ["script_failure", "runner_system_failure", "runner_configuration_error"],
    });
    for (const [key, dir] of [["builds_dir", "builds"], ["cache_dir", "~/cache"]] as const) {
      const r = gitlab.createRunner({ kind: "created" });
      await using runner = await startRunner({
        config: `concurrent = 1\ncheck_interval = 1\n` +
          runnerToml(gitlab.url, r.token, { executor: "docker", [key]: dir }) +
          `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
      });
      const job = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT, runnerId: r.id });
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
      assert.equal(state.status, "failed", runner.log);
      assert.equal(state.failureReason, "runner_configuration_error", state.trace);
      assert.ok(
        state.trace.includes(
          `ERROR: Job failed: Invalid [[runners]] ${key} "${dir}": the docker executor needs an absolute path in the container`,
        ),
        state.trace,
      );
    }
  },
});

Deno.test({
  name:
    "docker executor: a cap_add, runtime, cpuset_cpus, oom_score_adjust, memory_swap or volume_driver the daemon refuses fails the job naming the key",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({
      traceUpdateIntervalSeconds: 1,
      failureReasons: ["script_failure", "runner_system_failure", "runner_configuration_error"],
    });
    const cases = [
      ['cap_add = ["BOGUS"]', /\[runners\.docker\] cap_add: invalid CapAdd: unknown capability/],
      ['runtime = "bogus"', /\[runners\.docker\] runtime: Unknown runtime specified bogus/],
      ['cpuset_cpus = "abc"', /\[runners\.docker\] cpuset_cpus: Invalid value abc for cpuset cpus/],
      ["oom_score_adjust = 5000", /\[runners\.docker\] oom_score_adjust: Invalid value 5000/],
      ['memory_swap = "1g"', /\[runners\.docker\] memory_swap: You should always set the Memory/],
      [
        'memory = "512m"\n    memory_swap = "256m"',
        /\[runners\.docker\] memory_swap: Minimum memoryswap limit should be larger/,
      ],
      ['volume_driver = "bogus"', /\[runners\.docker\] volume_driver: .*volume plugin bogus/],
    ] as const;
    for (const [setting, named] of cases) {
      const r = gitlab.createRunner({ kind: "created" });
      await using runner = await startRunner({
        config: dockerConfig(gitlab.url, r.token) + `    ${setting}\n`,
      });
      const job = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT, runnerId: r.id });
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
      assert.equal(state.status, "failed", runner.log);
      assert.equal(state.failureReason, "runner_configuration_error", state.trace);
      assert.match(state.trace, named);
    }
  },
});

Deno.test({
  name:
    "docker executor: pull_policy never with a missing image fails the job as image_pull_failure",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({
      traceUpdateIntervalSeconds: 1,
      failureReasons: ["script_failure", "runner_system_failure", "image_pull_failure"],
    });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: dockerConfig(gitlab.url, r.token),
    });
    const job = gitlab.enqueueJob({
      script: ["true"],
      variables: NO_GIT,
      image: "runner-test/does-not-exist:1",
    });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "failed", runner.log);
    assert.equal(state.failureReason, "image_pull_failure");
    assert.match(state.trace, /runner-test\/does-not-exist:1/);
  },
});

Deno.test({
  name: "ssh executor: a job runs on the remote host over SSH and its exit code comes back",
  ignore: sshReason !== null,
  async fn() {
    await using sshd = await startSshd();
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const ssh = [
      "  [runners.ssh]",
      `    host = "${sshd.host}"`,
      `    port = "${sshd.port}"`,
      `    user = "${sshd.user}"`,
      `    identity_file = "${sshd.identityFile}"`,
      `    known_hosts_file = "${sshd.knownHostsFile}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "ssh" })
      }${ssh}\n`,
    });
    const job = gitlab.enqueueJob({
      script: ["echo remote user is $(id -un)", "exit 5"],
      variables: NO_GIT,
    });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "failed", state.trace + runner.log);
    assert.match(state.trace, new RegExp(`remote user is ${sshd.user}`));
    assert.equal(state.exitCode, 5);
  },
});

Deno.test({
  name:
    "ssh executor: artifact paths and name see what the script wrote to GITLAB_ENV on the remote host",
  ignore: sshReason !== null,
  async fn() {
    await using sshd = await startSshd();
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const ssh = [
      "  [runners.ssh]",
      `    host = "${sshd.host}"`,
      `    port = "${sshd.port}"`,
      `    user = "${sshd.user}"`,
      `    identity_file = "${sshd.identityFile}"`,
      `    known_hosts_file = "${sshd.knownHostsFile}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "ssh" })
      }${ssh}\n`,
    });
    const job = gitlab.enqueueJob({
      name: "build",
      script: [
        `echo "OUT_DIR=dist" >> "$GITLAB_ENV"`,
        "mkdir -p dist",
        "echo built > dist/app.txt",
      ],
      artifacts: [{ name: "$OUT_DIR-files", paths: ["$OUT_DIR/"], when: "on_success" }],
      variables: NO_GIT,
    });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.deepEqual(gitlab.artifactsOf(job.id).map((a) => a.fileName), ["dist-files.zip"]);
  },
});

Deno.test("custom executor: the documented example driver runs a job end to end", async () => {
  const example = fileURLToPath(new URL("../../docs/examples/custom-driver/", import.meta.url));
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const builds = await Deno.makeTempDir({ prefix: "runner-custom-builds-" });
  const custom = [
    "  [runners.custom]",
    `    config_exec = "${join(example, "config.sh")}"`,
    `    prepare_exec = "${join(example, "prepare.sh")}"`,
    `    run_exec = "${join(example, "run.sh")}"`,
    `    cleanup_exec = "${join(example, "cleanup.sh")}"`,
  ].join("\n");
  await using runner = await startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n${
      runnerToml(gitlab.url, r.token, {
        executor: "custom",
        builds_dir: builds,
        cache_dir: join(builds, "cache"),
      })
    }${custom}\n`,
  });
  const job = gitlab.enqueueJob({ script: ["echo through the driver"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /through the driver/);
  assert.match(state.trace, /Using Custom executor/);
  await Deno.remove(builds, { recursive: true }).catch(() => {});
});

Deno.test("custom executor: config_exec and prepare_exec see the predefined variables, as the docs' example uses them", async () => {
  // The official docs (and ours) name builds_dir after CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID in config_exec.
  const dir = await Deno.makeTempDir({ prefix: "runner-custom-vars-" });
  const script = (name: string, text: string) =>
    Deno.writeTextFile(join(dir, name), `#!/bin/bash\n${text}\n`, { mode: 0o755 });
  await script(
    "config.sh",
    `echo "config sees slot [$CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID] token [$CUSTOM_ENV_CI_RUNNER_SHORT_TOKEN]" >&2\n` +
      `echo "{\\"builds_dir\\": \\"${dir}/b/$CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID\\"}"`,
  );
  await script("prepare.sh", 'echo "prepare sees project dir [$CUSTOM_ENV_CI_PROJECT_DIR]"');
  await script("run.sh", 'exec bash "$1"');
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const custom = ["config", "prepare", "run"]
    .map((role) => `    ${role}_exec = "${join(dir, `${role}.sh`)}"`).join("\n");
  await using runner = await startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n${
      runnerToml(gitlab.url, r.token, { executor: "custom", cache_dir: join(dir, "cache") })
    }  [runners.custom]\n${custom}\n`,
  });
  const job = gitlab.enqueueJob({ script: ["true"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /config sees slot \[0\] token \[\w{8,}\]/);
  assert.match(state.trace, new RegExp(`prepare sees project dir \\[${dir}/b/0/acme/widget\\]`));
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

Deno.test("custom executor: a driver in a directory whose name holds a comma runs a job", async () => {
  // Deno's --allow-run list cannot hold a comma: such a grant goes through a scoped Worker.
  const dir = await Deno.makeTempDir({ prefix: "runner-custom-comma-" });
  const driver = join(dir, "drivers,v2", "run.sh");
  await Deno.mkdir(join(dir, "drivers,v2"));
  await Deno.writeTextFile(driver, '#!/bin/sh\nexec bash "$1"\n', { mode: 0o755 });
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: `concurrent = 1\ncheck_interval = 1\n${
      runnerToml(gitlab.url, r.token, {
        executor: "custom",
        builds_dir: join(dir, "builds"),
        cache_dir: join(dir, "cache"),
      })
    }  [runners.custom]\n    run_exec = "${driver}"\n`,
  });
  const job = gitlab.enqueueJob({ script: ["echo through the comma"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /through the comma/);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

Deno.test({
  name:
    "docker executor: a project's second job reuses its cache volume; runner cache clear removes it",
  ignore: dockerReason !== null,
  async fn() {
    const { LABEL_MANAGED, LABEL_RUNNER_SHORT_TOKEN, LABEL_TYPE } = await import(
      "../../src/executors/docker/docker_labels.ts"
    );
    const { shortToken } = await import("../../src/config/short_token.ts");
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: dockerConfig(gitlab.url, r.token),
    });
    const first = gitlab.enqueueJob({ script: ["echo kept > /cache/marker"], variables: NO_GIT });
    assert.equal(
      (await gitlab.waitForJobFinished(first.id, { timeoutMs: 120_000 })).status,
      "success",
    );
    const second = gitlab.enqueueJob({ script: ["cat /cache/marker"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(second.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(
      state.trace,
      /\nkept\n/,
      "the second job saw what the first left in its cache volume",
    );

    const volumes = async () => {
      const out = await new Deno.Command("docker", {
        args: [
          "volume",
          "ls",
          "-q",
          "--filter",
          `label=${LABEL_MANAGED}=true`,
          "--filter",
          `label=${LABEL_TYPE}=cache`,
          "--filter",
          `label=${LABEL_RUNNER_SHORT_TOKEN}=${shortToken(r.token)}`,
        ],
      }).output();
      return new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean);
    };
    assert.ok((await volumes()).length > 0, "the runner created cache volumes");
    const { runCli } = await import("../fixtures/runner_process.ts");
    const cleared = await runCli(["cache", "clear", "--config", runner.configPath]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /Removed volume runner-/);
    assert.deepEqual(await volumes(), []);
  },
});
