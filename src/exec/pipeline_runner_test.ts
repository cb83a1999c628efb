import assert from "node:assert/strict";
import { type JobSpec, variableValue } from "../job/job_spec.ts";
import type { GitState } from "../pipeline/git_state.ts";
import { loadPipeline } from "../pipeline/load_pipeline.ts";
import { type Plan, planPipeline } from "../pipeline/pipeline_plan.ts";
import {
  type ArtifactLedger,
  type AttemptOptions,
  type AttemptResult,
  type JobAttemptRunner,
  type PipelineResult,
  runPipeline,
} from "./pipeline_runner.ts";
import { MemoryProjectFiles } from "../pipeline/memory_project_files.ts";

const GIT: GitState = {
  sha: "3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
  beforeSha: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
  ref: "main",
  refType: "branch",
  defaultBranch: "main",
  commitMessage: "init",
  commitAuthor: "Ada <ada@example.com>",
  commitTimestamp: "2024-05-01T10:00:00+02:00",
  changedFiles: [],
  remotePath: "acme/widget",
};

async function plan(yaml: string, jobs: string[] = []): Promise<Plan> {
  const files = new MemoryProjectFiles({ ".gitlab-ci.yml": yaml });
  const pipeline = await loadPipeline("/home/ada/widget", { files });
  return await planPipeline(pipeline, { git: GIT, files, jobs });
}

type Script = (job: JobSpec, attempt: number) => AttemptResult | Promise<AttemptResult>;

/** Runs jobs by name from a table; records starts, slots and overlap. */
class FakeRunner implements JobAttemptRunner {
  readonly started: string[] = [];
  readonly specs = new Map<string, JobSpec>();
  readonly slots: number[] = [];
  running = 0;
  maxRunning = 0;
  readonly #attempts = new Map<string, number>();
  constructor(readonly script: Script = () => ({ state: "success" })) {}

  async run(job: JobSpec, options: AttemptOptions): Promise<AttemptResult> {
    const name = job.jobInfo.name;
    const attempt = (this.#attempts.get(name) ?? 0) + 1;
    this.#attempts.set(name, attempt);
    this.started.push(name);
    this.specs.set(name, job);
    this.slots.push(options.slot);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      options.onLog(new TextEncoder().encode(`${name} attempt ${attempt}\n`));
      await Promise.resolve();
      return await this.script(job, attempt);
    } finally {
      this.running--;
    }
  }
}

class FakeLedger implements ArtifactLedger {
  constructor(
    readonly archives: Record<number, { filename: string; size: number }> = {},
    readonly dotenv: Record<number, Array<{ key: string; value: string }>> = {},
  ) {}
  archiveOf(jobId: number) {
    return this.archives[jobId] ?? null;
  }
  dotenvOf(jobId: number) {
    return Promise.resolve(this.dotenv[jobId] ?? []);
  }
}

async function run(
  p: Plan,
  runner: JobAttemptRunner,
  options: { concurrent?: number; ledger?: ArtifactLedger; signal?: AbortSignal } = {},
): Promise<PipelineResult> {
  return await runPipeline(p, {
    runner,
    artifacts: options.ledger ?? new FakeLedger(),
    concurrent: options.concurrent ?? 1,
    signal: options.signal ?? new AbortController().signal,
  });
}

const statuses = (r: PipelineResult) =>
  Object.fromEntries(r.outcomes.map((o) => [o.name, o.status]));
const fail = (exitCode = 1): AttemptResult => ({
  state: "failed",
  failureReason: "script_failure",
  exitCode,
});

const STAGES = `
stages: [build, test, deploy]
build: { stage: build, script: [b] }
unit: { stage: test, script: [u] }
lint: { stage: test, script: [l] }
deploy: { stage: deploy, script: [d] }
`;

Deno.test("runPipeline runs jobs in plan order and passes when every job passes", async () => {
  const runner = new FakeRunner();
  const result = await run(await plan(STAGES), runner);
  assert.deepEqual(runner.started, ["build", "unit", "lint", "deploy"]);
  assert.equal(result.isSuccess, true);
  assert.deepEqual(statuses(result), {
    build: "passed",
    unit: "passed",
    lint: "passed",
    deploy: "passed",
  });
});

Deno.test("runPipeline skips later on_success jobs after a failure and fails the pipeline", async () => {
  const runner = new FakeRunner((job) =>
    job.jobInfo.name === "unit" ? fail(2) : { state: "success" }
  );
  const result = await run(await plan(STAGES), runner);
  assert.equal(result.isSuccess, false);
  assert.deepEqual(statuses(result), {
    build: "passed",
    unit: "failed",
    lint: "passed",
    deploy: "skipped",
  });
  const unit = result.outcomes.find((o) => o.name === "unit")!;
  assert.equal(unit.detail, "script failure, exit code 2");
  assert.equal(result.outcomes.find((o) => o.name === "deploy")!.detail, '"unit" failed');
});

Deno.test("runPipeline lets an allowed failure through without failing the pipeline", async () => {
  const p = await plan(`
stages: [test, deploy]
lint: { stage: test, script: [l], allow_failure: true }
deploy: { stage: deploy, script: [d] }
`);
  const result = await run(
    p,
    new FakeRunner((j) => j.jobInfo.name === "lint" ? fail() : { state: "success" }),
  );
  assert.equal(result.isSuccess, true);
  assert.deepEqual(statuses(result), { lint: "failed (allowed)", deploy: "passed" });
});

Deno.test("runPipeline allows only the listed exit codes with allow_failure: exit_codes", async () => {
  const yaml = `
a: { script: [x], allow_failure: { exit_codes: [3] } }
b: { script: [x], allow_failure: { exit_codes: [3] } }
`;
  const result = await run(
    await plan(yaml),
    new FakeRunner((j) => fail(j.jobInfo.name === "a" ? 3 : 4)),
  );
  assert.deepEqual(statuses(result), { a: "failed (allowed)", b: "failed" });
  assert.equal(result.isSuccess, false);
});

Deno.test("runPipeline runs on_failure jobs only after a failure, always jobs in any case", async () => {
  const yaml = `
stages: [build, cleanup]
build: { stage: build, script: [b] }
rescue: { stage: cleanup, script: [r], when: on_failure }
tidy: { stage: cleanup, script: [t], when: always }
`;
  const ok = await run(await plan(yaml), new FakeRunner());
  assert.deepEqual(statuses(ok), { build: "passed", rescue: "skipped", tidy: "passed" });
  assert.equal(ok.isSuccess, true);
  const broken = await run(
    await plan(yaml),
    new FakeRunner((j) => j.jobInfo.name === "build" ? fail() : { state: "success" }),
  );
  assert.deepEqual(statuses(broken), { build: "failed", rescue: "passed", tidy: "passed" });
  assert.equal(broken.isSuccess, false);
});

Deno.test("runPipeline skips a job whose needed job was skipped because of a failure", async () => {
  const yaml = `
stages: [a, b, c]
one: { stage: a, script: [x] }
two: { stage: b, script: [x], needs: [one] }
three: { stage: c, script: [x], needs: [two] }
`;
  const result = await run(
    await plan(yaml),
    new FakeRunner((j) => j.jobInfo.name === "one" ? fail() : { state: "success" }),
  );
  assert.deepEqual(statuses(result), { one: "failed", two: "skipped", three: "skipped" });
});

Deno.test("runPipeline retries a failed job up to retry times, then reports the last result", async () => {
  const yaml = `
flaky: { script: [x], retry: 2 }
broken: { script: [x], retry: 1 }
`;
  const runner = new FakeRunner((j, attempt) =>
    j.jobInfo.name === "flaky" && attempt === 3 ? { state: "success" } : fail()
  );
  const result = await run(await plan(yaml), runner);
  assert.deepEqual(runner.started, ["flaky", "flaky", "flaky", "broken", "broken"]);
  assert.deepEqual(statuses(result), { flaky: "passed", broken: "failed" });
  assert.equal(result.outcomes[0]!.attempts, 3);
});

Deno.test("runPipeline retries only on the listed failure types and exit codes", async () => {
  const yaml = `
timeouts: { script: [x], retry: { max: 2, when: [job_execution_timeout] } }
code137: { script: [x], retry: { max: 2, exit_codes: [137] } }
`;
  const runner = new FakeRunner(() => fail(1));
  await run(await plan(yaml), runner);
  assert.deepEqual(runner.started, ["timeouts", "code137"]);
  const again = new FakeRunner((j) =>
    j.jobInfo.name === "code137"
      ? fail(137)
      : { state: "failed", failureReason: "job_execution_timeout" }
  );
  await run(await plan(yaml), again);
  assert.deepEqual(again.started, [
    "timeouts",
    "timeouts",
    "timeouts",
    "code137",
    "code137",
    "code137",
  ]);
});

Deno.test("runPipeline runs independent jobs in parallel up to concurrent, each in its own slot", async () => {
  const yaml = `
a: { script: [x] }
b: { script: [x] }
c: { script: [x] }
d: { script: [x] }
`;
  const gates: Array<() => void> = [];
  const runner = new FakeRunner(() =>
    new Promise<AttemptResult>((resolve) => gates.push(() => resolve({ state: "success" })))
  );
  const done = run(await plan(yaml), runner, { concurrent: 2 });
  while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
  assert.equal(runner.running, 2);
  assert.deepEqual(runner.slots, [0, 1]);
  gates.shift()!();
  while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(runner.slots, [0, 1, 0]);
  while (gates.length > 0 || runner.running > 0) {
    gates.shift()?.();
    await new Promise((r) => setTimeout(r, 1));
  }
  const result = await done;
  assert.equal(runner.maxRunning, 2);
  assert.equal(result.isSuccess, true);
});

Deno.test("runPipeline with concurrent 1 never overlaps jobs", async () => {
  const runner = new FakeRunner();
  await run(await plan(STAGES), runner, { concurrent: 1 });
  assert.equal(runner.maxRunning, 1);
});

Deno.test("runPipeline hands downstream jobs the uploaded archive (to download with their own job token) and the dotenv variables", async () => {
  const p = await plan(
    `
stages: [build, test]
build: { stage: build, script: [b], artifacts: { paths: [out/], reports: { dotenv: build.env } } }
test: { stage: test, script: [t], variables: { VERSION: from-yaml } }
`,
    [],
  );
  const buildId = p.jobs[0]!.jobSpec.id;
  const ledger = new FakeLedger(
    { [buildId]: { filename: "artifacts.zip", size: 120 } },
    { [buildId]: [{ key: "VERSION", value: "1.2.3" }] },
  );
  const runner = new FakeRunner();
  await run(p, runner, { ledger });
  const test = runner.specs.get("test")!;
  assert.deepEqual(test.dependencies.map((d) => [d.name, d.token, d.artifactsFile]), [
    ["build", test.token, { filename: "artifacts.zip", size: 120 }],
  ]);
  // dotenv beats the YAML, as in GitLab.
  assert.equal(variableValue(test, "VERSION"), "1.2.3");
});

Deno.test("runPipeline leaves artifacts_file empty when the upstream job uploaded nothing", async () => {
  const p = await plan(`
stages: [build, test]
build: { stage: build, script: [b] }
test: { stage: test, script: [t] }
`);
  const runner = new FakeRunner();
  await run(p, runner);
  assert.deepEqual(runner.specs.get("test")!.dependencies.map((d) => d.artifactsFile), [
    { filename: "", size: 0 },
  ]);
});

Deno.test("runPipeline cancels the jobs that have not started once the signal is aborted", async () => {
  const stop = new AbortController();
  const runner = new FakeRunner((j) => {
    if (j.jobInfo.name === "build") stop.abort();
    return { state: "failed", failureReason: "job_canceled" };
  });
  const result = await run(await plan(STAGES), runner, { signal: stop.signal });
  assert.deepEqual(runner.started, ["build"]);
  assert.equal(result.isCanceled, true);
  assert.equal(result.isSuccess, false);
  assert.deepEqual(statuses(result), {
    build: "canceled",
    unit: "canceled",
    lint: "canceled",
    deploy: "canceled",
  });
});

Deno.test("runPipeline reports a job whose attempt runner throws as failed", async () => {
  const runner: JobAttemptRunner = {
    run: () => Promise.reject(new Error("boom")),
  };
  const result = await run(await plan("a: { script: [x] }"), runner);
  assert.equal(result.outcomes[0]!.status, "failed");
  assert.match(result.outcomes[0]!.detail, /boom/);
});

Deno.test("runPipeline refuses a concurrency below 1", async () => {
  await assert.rejects(
    () => run({ ...STAGES_PLAN }, new FakeRunner(), { concurrent: 0 }),
    RangeError,
  );
});

const STAGES_PLAN: Plan = {
  isCreated: true,
  stages: [],
  jobs: [],
  skipped: [],
  workspace: {
    mode: "copy",
    sourceDir: "/",
    files: [],
    isGitDirCopied: false,
    gitStrategy: "none",
  },
  warnings: [],
  notes: [],
};

Deno.test("a trigger job whose child pipeline cannot be created fails, as in GitLab, and later stages do not run", async () => {
  const files = new MemoryProjectFiles({
    ".gitlab-ci.yml":
      "a:\n  trigger:\n    include: child.yml\nb:\n  stage: deploy\n  script: [echo after]\n",
    "child.yml": "workflow:\n  rules:\n    - when: never\nc:\n  script: [echo child]\n",
  });
  const pipeline = await loadPipeline("/home/ada/widget", { files });
  const p = await planPipeline(pipeline, { git: GIT, files, jobs: [] });
  const runner = new FakeRunner();
  const result = await run(p, runner);
  assert.deepEqual(runner.started, []);
  assert.deepEqual(statuses(result), { a: "failed", b: "skipped" });
  assert.equal(
    result.outcomes[0]!.detail,
    "downstream pipeline cannot be created: its workflow:rules filter it out",
  );
  assert.equal(result.isSuccess, false);
});
