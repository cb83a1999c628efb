/**
 * End to end: nothing a job started outlives the poller. kill -9 of `runner
 * run` or `runner exec` mid-job, SIGTERM to an executor process, or a shutdown
 * whose executor process hangs past `shutdown_timeout`, leaves no job process
 * (and for docker no job container) behind within a few seconds.
 * Job processes are found by a marker in their command line, by scanning
 * every /proc/<pid>/cmdline of the host.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab, type FakeJobState } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import {
  MAIN_MODULE,
  type RunnerProcess,
  runnerToml,
  startRunner,
} from "../fixtures/runner_process.ts";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { executorSettings } from "../../src/executors/process_protocol.ts";
import { executorPermissions } from "../../src/poller/executor_permissions.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { SampleProject } from "../exec/_exec_cli.ts";
import { config, executorPid, killByMarker, NO_GIT } from "./_runner_setup.ts";
import { denoDir } from "../fixtures/test_env.ts";
import { shortToken } from "../../src/config/short_token.ts";
import {
  LABEL_JOB_ID,
  LABEL_RUNNER_SHORT_TOKEN,
} from "../../src/executors/docker/docker_labels.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
// deno-lint-ignore no-console -- a skipped test says why
if (dockerReason) console.warn(`SKIP docker orphan test: ${dockerReason}`);

/**
 * A clean HOME for the job's login shell (root's profile is slow), keeping
 * the module cache of the user who runs the tests.
 */
async function cleanHome(): Promise<{ HOME: string; DENO_DIR: string } & AsyncDisposable> {
  const home = await Deno.makeTempDir({ prefix: "runner-home-" });
  const env = {
    HOME: home,
    DENO_DIR: denoDir(),
  };
  return Object.assign(env, {
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }).catch(() => {}),
  });
}

/** A script line whose process carries `marker` in its command line while it sleeps. */
function sleeper(marker: string): string {
  return `sh -c 'sleep 300; :' ${marker}`;
}

/** Pids whose command line holds `marker` (zombies have an empty one). */
async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(marker)) pids.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Whether `pid` is still running (a zombie nobody reaped counts as gone). */
async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Milliseconds until `check` holds, polling; fails the test after `timeoutMs`. */
async function msUntil(check: () => Promise<boolean>, what: string, timeoutMs: number) {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) {
      assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - started;
}

async function containersLabelled(labels: string[]): Promise<string[]> {
  const out = await new Deno.Command("docker", {
    args: ["ps", "-aq", ...labels.flatMap((label) => ["--filter", `label=${label}`])],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "");
}

/**
 * Runs `body` once a shell job of a fresh `runner run` prints "started" and a
 * process carrying the returned marker sleeps; `script` gets the marker.
 * Whatever the body leaves is killed by marker afterwards.
 */
async function withSleepingJob(
  options: {
    script: (marker: string) => string[];
    global?: Record<string, string | number>;
    /** The `[[runners]]` block; default a shell runner. */
    runner?: (url: string, token: string) => string;
  },
  body: (
    job: { runner: RunnerProcess; executor: number; marker: string; state(): FakeJobState },
  ) => Promise<void>,
): Promise<void> {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    failureReasons: ["runner_interrupted"],
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using home = await cleanHome();
  await using runner = await startRunner({
    config: config((options.runner ?? runnerToml)(gitlab.url, r.token), {
      log_level: "debug",
      ...options.global,
    }),
    env: { HOME: home.HOME, DENO_DIR: home.DENO_DIR },
  });
  const marker = `runner-orphan-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({ script: options.script(marker), variables: NO_GIT });
  try {
    await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
      what: `job ${job.id} started`,
    });
    const executor = executorPid(runner.log, job.id);
    assert.ok(executor, `executor pid of job ${job.id} in the runner log:\n${runner.log}`);
    await msUntil(async () => (await processesWith(marker)).length >= 1, "the sleep", 10_000);
    await body({ runner, executor, marker, state: () => gitlab.jobOf(job.id) });
  } finally {
    await killByMarker(marker);
  }
}

Deno.test("kill -9 of runner run mid-job: the executor process and the job's processes are gone within 2 s", async () => {
  await withSleepingJob({
    // A background child and a foreground one: the whole process group must go.
    script: (marker) => [`${sleeper(marker)} &`, "echo started", sleeper(marker)],
  }, async ({ runner, executor, marker }) => {
    await msUntil(async () => (await processesWith(marker)).length >= 2, "both sleeps", 10_000);
    runner.signal("SIGKILL");
    await runner.exited();
    const gone = await msUntil(
      async () => (await processesWith(marker)).length === 0 && !(await isRunning(executor)),
      "job processes and executor process gone",
      5_000,
    );
    assert.ok(gone < 2_500, `gone after ${gone.toFixed(0)} ms`);
  });
});

for (const scoping of ["flags", "worker"] as const) {
  Deno.test(`SIGTERM to an executor process (${scoping} scoping) kills its job and the process exits within 2 s`, async () => {
    // The executor process alone, started by the real launcher: no poller kills the groups for it.
    await using home = await cleanHome();
    const root = await Deno.makeTempDir({ prefix: "runner-sigterm-" });
    const tempDir = join(root, "tmp");
    await Deno.mkdir(tempDir);
    const runner = { ...defaultRunnerConfig("shell"), url: "http://127.0.0.1:9" };
    const marker = `runner-sigterm-${crypto.randomUUID()}`;
    const launcher = new SubprocessLauncher({
      execPath: Deno.execPath(),
      mainModule: MAIN_MODULE,
      scoping,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...home },
    });
    const permissions = executorPermissions({
      runner,
      cwd: root,
      tempDir,
      stateDir: join(root, "state"),
      env: () => undefined,
    });
    const proc = launcher.launch(permissions);
    try {
      await proc.send({
        type: "start",
        // The script ignores SIGTERM: only the executor's SIGKILL of the group ends it.
        job: parseJobSpec({
          id: 7,
          token: "job-token",
          steps: [{
            name: "script",
            script: ["trap '' TERM", "echo started", sleeper(marker)],
            when: "on_success",
            timeout: 3600,
          }],
          variables: [{ key: "GIT_STRATEGY", value: "none" }],
          "job_info": { name: "sleep", stage: "test", "project_id": 1, "project_full_path": "g/p" },
          "git_info": {
            "repo_url": "http://127.0.0.1:9/g/p.git",
            ref: "main",
            sha: "0".repeat(40),
          },
          "runner_info": { timeout: 3600 },
        }),
        runner: executorSettings(runner),
        shortToken: "abcd1234",
        systemId: "s_test",
        concurrentId: 0,
        concurrentProjectId: 0,
        cwd: root,
        stateDir: join(root, "state"),
        tempDir,
      });
      const decoder = new TextDecoder();
      let trace = "";
      let failureReason: string | undefined;
      const events = (async () => {
        for await (const item of proc.events()) {
          if ("trace" in item) trace += decoder.decode(item.trace);
          else if (item.event.type === "result") failureReason = item.event.failureReason;
        }
      })();
      await msUntil(
        async () => (await processesWith(marker)).length >= 1,
        "the sleep",
        60_000,
      ).catch((err) => {
        throw new Error(`${err.message}\n${trace}\n${proc.stderrTail()}`);
      });
      assert.match(trace, /started/);
      proc.kill("SIGTERM");
      const gone = await msUntil(
        async () => (await processesWith(marker)).length === 0 && !(await isRunning(proc.pid)),
        "job processes and executor process gone",
        5_000,
      );
      assert.ok(gone < 2_500, `gone after ${gone.toFixed(0)} ms`);
      await events;
      // Nobody canceled the job: it was interrupted, and its log says so as upstream's does.
      assert.equal(failureReason, "runner_interrupted", trace);
      assert.match(trace, /ERROR: Job failed: aborted: terminated/);
    } finally {
      await killByMarker(marker);
      proc.kill("SIGKILL");
      await proc[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  });
}

Deno.test("kill -9 of runner exec mid-job: no job process is left", async () => {
  const marker = `runner-exec-orphan-${crypto.randomUUID()}`;
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `job:\n  script:\n    - echo started\n    - ${sleeper(marker)}\n`,
  });
  const child = project.spawn(["job"]);
  const stderr = child.stderr.pipeTo(new WritableStream());
  try {
    const decoder = new TextDecoder();
    let out = "";
    const reader = child.stdout.getReader();
    const deadline = performance.now() + 60_000;
    while (!out.includes("\nstarted")) {
      const { value, done } = await reader.read();
      if (done || performance.now() > deadline) {
        assert.fail(`exec never printed "started":\n${out}`);
      }
      out += decoder.decode(value);
    }
    await msUntil(async () => (await processesWith(marker)).length >= 1, "the sleep", 10_000);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const gone = await msUntil(
      async () => (await processesWith(marker)).length === 0,
      "job processes gone",
      5_000,
    );
    assert.ok(gone < 2_500, `gone after ${gone.toFixed(0)} ms`);
  } finally {
    await stderr.catch(() => {});
    await killByMarker(marker);
  }
});

Deno.test({
  name: "kill -9 of runner run mid docker job: the job container is removed within a few seconds",
  ignore: dockerReason !== null,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: config(
        runnerToml(gitlab.url, r.token, { executor: "docker" }) +
          `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
        { log_level: "debug" },
      ),
    });
    const marker = `runner-docker-orphan-${crypto.randomUUID()}`;
    const job = gitlab.enqueueJob({
      script: ["echo started", sleeper(marker)],
      variables: NO_GIT,
    });
    // Every fake GitLab numbers its jobs from 1000: the runner's token tells this
    // test's container from those of tests running at the same time.
    const label = [
      `${LABEL_JOB_ID}=${job.id}`,
      `${LABEL_RUNNER_SHORT_TOKEN}=${shortToken(r.token)}`,
    ];
    try {
      await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("started"), {
        what: `job ${job.id} started`,
        timeoutMs: 60_000,
      });
      assert.ok((await containersLabelled(label)).length > 0, "the job container is labelled");
      const executor = executorPid(runner.log, job.id);
      assert.ok(executor, `executor pid of job ${job.id} in the runner log`);
      runner.signal("SIGKILL");
      await runner.exited();
      await msUntil(
        async () =>
          (await processesWith(marker)).length === 0 && !(await isRunning(executor)) &&
          (await containersLabelled(label)).length === 0,
        "job container, its processes and the executor process gone",
        5_000,
      );
    } finally {
      for (const id of await containersLabelled(label)) {
        await new Deno.Command("docker", { args: ["rm", "-f", id], stdout: "null", stderr: "null" })
          .output();
      }
    }
  },
});

Deno.test("SIGTERM past shutdown_timeout with a shell job whose executor process hangs: no job process outlives the runner", async () => {
  await withSleepingJob({
    script: (marker) => ["trap '' TERM", "echo started", sleeper(marker)],
    global: { shutdown_timeout: 1 },
  }, async ({ runner, executor, marker, state }) => {
    // A hung executor process: it never acts on the cancel, nor kills its job's processes.
    Deno.kill(executor, "SIGSTOP");
    runner.signal("SIGTERM");
    assert.equal((await runner.exited()).code, 1, "shutdown did not finish");
    assert.deepEqual(await processesWith(marker), []);
    assert.ok(!(await isRunning(executor)), "the executor process is gone");
    // Its job is not left running on GitLab, and its log says why it ended.
    assert.equal(state().status, "failed", runner.log);
    assert.equal(state().failureReason, "runner_interrupted");
    assert.match(
      state().trace,
      /ERROR: Job failed: aborted: terminated: the runner exited before the job stopped/,
    );
    assert.match(runner.log, /Shutdown did not finish in time +jobs=\d+/);
  });
});

Deno.test("a second signal while aborting exits at once and still reports the job failed", async () => {
  await withSleepingJob({
    script: (marker) => ["echo started", sleeper(marker)],
    global: { shutdown_timeout: 120 },
  }, async ({ runner, executor, marker, state }) => {
    Deno.kill(executor, "SIGSTOP");
    runner.signal("SIGTERM");
    await runner.waitForLog(/aborting running jobs/);
    const at = performance.now();
    runner.signal("SIGINT");
    assert.equal((await runner.exited()).code, 1);
    assert.ok(performance.now() - at < 20_000, "exited without waiting for shutdown_timeout");
    assert.deepEqual(await processesWith(marker), []);
    assert.equal(state().status, "failed", runner.log);
    assert.equal(state().failureReason, "runner_interrupted");
    assert.match(state().trace, /ERROR: Job failed: aborted: terminated: the runner exited/);
  });
});

Deno.test("SIGTERM past shutdown_timeout with a custom job whose executor process hangs: no driver process outlives the runner", async () => {
  // Drivers run in their own session: only the poller, told their process groups, can kill them.
  const driver = await Deno.makeTempDir({ prefix: "runner-orphan-driver-" });
  await Deno.writeTextFile(join(driver, "run.sh"), '#!/bin/sh\ntrap "" TERM\nexec bash "$1"\n', {
    mode: 0o755,
  });
  try {
    await withSleepingJob({
      script: (marker) => ["echo started", sleeper(marker)],
      global: { shutdown_timeout: 1 },
      runner: (url, token) => {
        const dirs = { "builds_dir": join(driver, "builds"), "cache_dir": join(driver, "cache") };
        return `${runnerToml(url, token, { executor: "custom", ...dirs })}  [runners.custom]\n` +
          `    run_exec = "${join(driver, "run.sh")}"\n`;
      },
    }, async ({ runner, executor, marker }) => {
      Deno.kill(executor, "SIGSTOP");
      runner.signal("SIGTERM");
      assert.equal((await runner.exited()).code, 1, "shutdown did not finish");
      assert.deepEqual(await processesWith(marker), []);
      assert.ok(!(await isRunning(executor)), "the executor process is gone");
    });
  } finally {
    await Deno.remove(driver, { recursive: true }).catch(() => {});
  }
});
