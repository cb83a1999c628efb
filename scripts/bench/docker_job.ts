/**
 * A trivial job (`echo hello`) end to end on the docker executor versus
 * `docker run --rm <same image> sh -c 'echo hello'`, measured in the same run,
 * alternating so both see the same machine load. Prints medians and ratios:
 *
 * - `executor`: prepare + one step_script stage + cleanup (the executor's cost)
 * - `runBuild`: the whole build (prepare_script, get_sources with
 *   GIT_STRATEGY=none, step_script, cleanup_file_variables, …) on the executor,
 *   up to its result, as the executor process runs it: the containers are
 *   removed after the result is sent (`isCleanupDeferred`), so that removal is
 *   timed apart (`+ removal`), untimed in the ratio, and done before the next run
 *
 * - `runner exec`: `runner exec --executor docker` on a one-job `echo hello`
 *   pipeline, started as `deno task runner` starts the runner: a fresh runner
 *   process and a fresh executor process, so the first docker job of an
 *   executor process with everything it loads (the Docker client's modules)
 *   and the workspace copy exec makes
 *
 *   deno run --allow-all scripts/bench/docker_job.ts [--runs 15] [--quick]
 *
 * `--quick` times 7 rounds (about 30 s on a quiet 2-core host): the four
 * take turns in each round, and medians need several rounds to sit still on
 * a shared machine. Goal: the whole build ≤ 1.3× the baseline.
 * `BENCH_STAGES=1` prints each stage's time of the whole build.
 *
 * Needs a docker daemon and the local test images `runner-test/busybox` and
 * `runner-test/debian` (no registry is reachable), which
 * `deno run -A tests/fixtures/docker_images.ts` builds (it needs busybox-static
 * and debootstrap; `.ci/run` installs both), and git for `runner exec`'s
 * project. Without them it skips, saying so.
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { runBuild } from "../../src/build/run_build.ts";
import { DockerExecutor } from "../../src/executors/docker/docker_executor.ts";
import { clearCacheVolumes } from "../../src/executors/docker/docker_resources.ts";
import { OwnerLease } from "../../src/executors/docker/owner_lease.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  hasImage,
} from "../../tests/fixtures/docker_images.ts";
import { SilentLogger } from "../../src/log/logger.ts";
import { runnerTaskFlags } from "../../tests/fixtures/runner_process.ts";
import { helloProject } from "./_hello_project.ts";
import { missingToolsReason } from "./_baseline_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.runs ??= values.quick ? "7" : "15";
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${values.runs}"`);
}

// runner exec's project is a git repository, as users have one.
const skip = (await dockerSkipReason()) ?? (await missingToolsReason(["git"]));
if (skip) {
  // deno-lint-ignore no-console -- benchmark report
  console.log(`Skipping docker job benchmark: ${skip}`);
  Deno.exit(0);
}
const missing = [];
for (const tag of [BUSYBOX_TEST_IMAGE, DEBIAN_TEST_IMAGE]) {
  if (!(await hasImage(tag))) missing.push(tag);
}
if (missing.length > 0) {
  // deno-lint-ignore no-console -- benchmark report
  console.log(
    `Skipping docker job benchmark: no test image ${missing.join(", ")}; ` +
      "build them with `deno run -A tests/fixtures/docker_images.ts` " +
      "(needs busybox-static and debootstrap, as `.ci/run` installs)",
  );
  Deno.exit(0);
}

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const stateDir = await Deno.makeTempDir({ prefix: "runner-bench-docker-" });
const lease = await OwnerLease.acquire(stateDir);
const shortToken = `bench${crypto.randomUUID().slice(0, 3)}`;
const runner = defaultRunnerConfig("docker");
runner.docker = {
  ...runner.docker,
  image: BUSYBOX_TEST_IMAGE,
  pullPolicy: ["if-not-present"],
  allowedPullPolicies: [],
  helperImage: DEBIAN_TEST_IMAGE,
};
let jobId = 1000;
const sink = { write: (_: Uint8Array) => {} };

function job() {
  return parseJobSpec({
    id: ++jobId,
    token: "bench-token",
    job_info: { project_id: 42, project_full_path: "bench/hello", name: "hello" },
    git_info: { repo_url: "https://gitlab.example.com/bench/hello.git", sha: "0".repeat(40) },
    variables: [{ key: "GIT_STRATEGY", value: "none" }],
    steps: [{ name: "script", script: ["echo hello"], when: "on_success" }],
  });
}

function executor(spec = job()): DockerExecutor {
  return new DockerExecutor({
    docker,
    config: runner.docker,
    job: spec,
    shortToken,
    concurrentProjectId: 0,
    output: sink,
    log: new SilentLogger(),
    lease,
    sweepOrphans: false,
  });
}

async function baseline(): Promise<void> {
  const out = await new Deno.Command("docker", {
    args: ["run", "--rm", BUSYBOX_TEST_IMAGE, "sh", "-c", "echo hello"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!new TextDecoder().decode(out.stdout).includes("hello")) throw new Error("docker run failed");
}

async function executorOnly(): Promise<void> {
  await using e = executor();
  const never = new AbortController().signal;
  await e.prepare(never);
  const code = await e.run({ stage: "step_script", script: "echo hello" }, never);
  if (code !== 0) throw new Error(`echo exited ${code}`);
}

const project = await helloProject(stateDir);
await Deno.mkdir(join(stateDir, "home"));
const hostEnv = Deno.env.toObject();
const execArgs = [
  "run",
  ...runnerTaskFlags(),
  "--quiet",
  fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url)),
  "exec",
  "--executor",
  "docker",
  "--docker-image",
  BUSYBOX_TEST_IMAGE,
];

/** `runner exec` of the one-job pipeline: it returns once the job's containers are removed. */
async function freshExec(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: execArgs,
    cwd: project,
    env: {
      ...hostEnv,
      "HOME": join(stateDir, "home"),
      "XDG_CACHE_HOME": join(stateDir, "cache"),
      "DENO_DIR": hostEnv["DENO_DIR"] ?? join(hostEnv["HOME"] ?? "/root", ".cache", "deno"),
      "DENO_NO_UPDATE_CHECK": "1",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || !/^hello$/m.test(text)) {
    throw new Error(
      `runner exec failed (${out.code}): ${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

let lastStage = "start";
let lastAt = 0;

/** The removal the last wholeBuild left for after its result. */
let removal: Promise<void> = Promise.resolve();

async function wholeBuild(): Promise<void> {
  lastStage = "start";
  lastAt = performance.now();
  const spec = job();
  const never = new AbortController().signal;
  const e = executor(spec);
  const result = await runBuild({
    job: spec,
    runner,
    shortToken,
    concurrentId: 0,
    concurrentProjectId: 0,
    executor: e,
    output: sink,
    cancel: { graceful: never, abort: never },
    version: {
      name: "gitlab-runner",
      version: "0.1.0",
      revision: "bench",
      os: "linux",
      arch: "amd64",
    },
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
    onStage: (stage) => {
      const now = performance.now();
      if (Deno.env.get("BENCH_STAGES")) {
        // deno-lint-ignore no-console -- benchmark report
        console.log(`  ${lastStage} ${(now - lastAt).toFixed(0)} ms`);
      }
      lastStage = stage;
      lastAt = now;
    },
    isCleanupDeferred: true,
  });
  removal = e.cleanup();
  if (Deno.env.get("BENCH_STAGES")) {
    // deno-lint-ignore no-console -- benchmark report
    console.log(`  ${lastStage} to the result ${(performance.now() - lastAt).toFixed(0)} ms`);
  }
  if (result.state !== "success") throw new Error(`build failed: ${result.message}`);
}

async function time(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// Warm-up: connections, image layers in the page cache, cache volumes.
await baseline();
await executorOnly();
await wholeBuild();
await removal;
await freshExec();

const samples = {
  baseline: [] as number[],
  executor: [] as number[],
  build: [] as number[],
  removal: [] as number[],
  exec: [] as number[],
};
const kinds = [
  [samples.baseline, baseline],
  [samples.executor, executorOnly],
  [samples.build, wholeBuild],
  [samples.exec, freshExec],
] as const;
for (let i = 0; i < runs; i++) {
  // Each round starts with another of the four, so none always follows the same one.
  for (let k = 0; k < kinds.length; k++) {
    const [list, fn] = kinds[(i + k) % kinds.length]!;
    list.push(await time(fn));
    if (fn === wholeBuild) samples.removal.push(await time(() => removal));
  }
}
await clearCacheVolumes(docker, { shortToken });
await lease.release();
await Deno.remove(stateDir, { recursive: true });

/**
 * The ratio is the median of each round's own ratio: a round's four runs
 * share the load of the same few seconds, while the load of a shared machine
 * drifts between rounds.
 */
function ratio(xs: number[]): string {
  return median(xs.map((x, i) => x / samples.baseline[i]!)).toFixed(2);
}
const b = median(samples.baseline);
const e = median(samples.executor);
const w = median(samples.build);
const lines = [
  `docker run --rm (baseline): median ${b.toFixed(0)} ms over ${runs} rounds`,
  `docker executor (prepare + step_script + cleanup): median ${e.toFixed(0)} ms, ratio ${
    ratio(samples.executor)
  }x`,
  `runBuild on docker executor (all stages, GIT_STRATEGY=none): median ${w.toFixed(0)} ms, ratio ${
    ratio(samples.build)
  }x (goal <= 1.3x); + removal after the result ${
    median(samples.removal).toFixed(0)
  } ms, ratio with it ${
    median(samples.build.map((x, i) => (x + samples.removal[i]!) / samples.baseline[i]!)).toFixed(2)
  }x`,
  `runner exec --executor docker, one job (fresh runner and executor process): median ${
    median(samples.exec).toFixed(0)
  } ms, ratio ${ratio(samples.exec)}x, ${
    median(samples.exec.map((x, i) => x - samples.baseline[i]!)).toFixed(0)
  } ms over the baseline`,
  "(ratio: median over the rounds of each round's time / that round's baseline)",
];
// deno-lint-ignore no-console -- benchmark report
console.log(lines.join("\n"));
