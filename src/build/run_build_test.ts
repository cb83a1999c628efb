import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { CollectedOutput } from "../executors/executor_contract.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import { FakeClock } from "./_fake_clock.ts";
import { FEATURE_FLAG_DEFAULTS, IMPLEMENTED_FEATURE_FLAGS } from "./feature_flags.ts";
import { aborted, FakeExecutor, type StageBehaviour } from "./_fake_executor.ts";
import {
  type BuildResult,
  type BuildTerminal,
  runBuild,
  type RunBuildOptions,
} from "./run_build.ts";
import type { ExecutorStep } from "../executors/executor_stage.ts";
import type { BuildStageHooks, HookStage } from "./stage_hooks.ts";
import { RunnerInterrupt } from "../job/runner_interrupt.ts";

const VERSION = {
  name: "gitlab-runner",
  version: "17.5.0",
  revision: "abc12345",
  os: "linux",
  arch: "amd64",
};

function jobSpec(overrides: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    id: 4711,
    token: "glcbt-secret",
    "allow_git_fetch": true,
    "job_info": {
      name: "test",
      stage: "test",
      "project_id": 42,
      "project_full_path": "acme/widget",
    },
    "git_info": {
      "repo_url": "https://gitlab-ci-token:glcbt-secret@gitlab.example.com/acme/widget.git",
      ref: "main",
      sha: "3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
      refspecs: ["+refs/heads/main:refs/remotes/origin/main"],
      depth: 20,
    },
    "runner_info": { timeout: 3600 },
    variables: [
      { key: "CI_PROJECT_PATH", value: "acme/widget", public: true },
      { key: "GREETING", value: "hello $CI_PROJECT_PATH" },
    ],
    steps: [
      { name: "script", script: ["echo hi"], when: "on_success" },
      { name: "after_script", script: ["echo after"], when: "always" },
    ],
    features: { "trace_sections": true },
    ...overrides,
  });
}

function runner(patch: Partial<RunnerConfig> = {}): RunnerConfig {
  return {
    ...defaultRunnerConfig("shell"),
    name: "box-01",
    url: "https://gitlab.example.com",
    token: "",
    ...patch,
  };
}

interface Harness {
  output: CollectedOutput;
  executor: FakeExecutor;
  clock: FakeClock;
  graceful: AbortController;
  abort: AbortController;
  stages: string[];
  steps: ExecutorStep[];
}

async function build(
  options: {
    job?: JobSpec;
    runner?: RunnerConfig;
    behaviour?: (h: Harness) => Record<string, StageBehaviour>;
    hooks?: (h: Harness) => BuildStageHooks;
    prepareErrors?: Error[];
    terminal?: (h: Harness) => BuildTerminal;
    isCleanupDeferred?: boolean;
    workspaceArchive?: Uint8Array;
  } = {},
): Promise<{ result: BuildResult } & Harness> {
  const output = new CollectedOutput();
  const clock = new FakeClock();
  const h = {
    output,
    clock,
    graceful: new AbortController(),
    abort: new AbortController(),
    stages: [] as string[],
    steps: [] as ExecutorStep[],
  } as Harness;
  h.executor = new FakeExecutor(output, options.behaviour?.(h) ?? {}, {
    prepareErrors: options.prepareErrors ?? [],
  });
  const runOptions: RunBuildOptions = {
    job: options.job ?? jobSpec(),
    runner: options.runner ?? runner(),
    shortToken: "abc12345",
    systemId: "s_0123456789ab",
    concurrentId: 0,
    concurrentProjectId: 2,
    executor: h.executor,
    output,
    cancel: { graceful: h.graceful.signal, abort: h.abort.signal },
    version: VERSION,
    clock,
    onStage: (stage) => h.stages.push(stage),
    onExecutorStep: (step) => h.steps.push(step),
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  };
  if (options.hooks) runOptions.hooks = options.hooks(h);
  if (options.terminal) runOptions.terminal = options.terminal(h);
  if (options.isCleanupDeferred) runOptions.isCleanupDeferred = true;
  if (options.workspaceArchive) runOptions.workspaceArchive = options.workspaceArchive;
  const result = await runBuild(runOptions);
  return { result, ...h };
}

/** A stage that "runs" until killed, `ms` of fake time after it started. */
function hangs(h: Harness, ms: number, code = 143): StageBehaviour {
  return async (_stage, signal) => {
    h.clock.advance(ms);
    await aborted(signal);
    return code;
  };
}

Deno.test("runBuild with isCleanupDeferred ends the job with the executor's finishJob and leaves cleanup to its caller", async () => {
  const deferred = await build({ isCleanupDeferred: true });
  assert.deepEqual(deferred.result, { state: "success" });
  assert.equal(deferred.executor.finishes, 1);
  assert.equal(deferred.executor.cleanups, 0);
  assert.match(deferred.output.text(), /Job succeeded/);
  const plain = await build();
  assert.equal(plain.executor.finishes, 0);
  assert.equal(plain.executor.cleanups, 1);
});

Deno.test("runBuild reports its executor steps: prepare, run for each stage's script, finish, cleanup", async () => {
  const plain = await build();
  assert.deepEqual(plain.steps, [
    "prepare",
    ...plain.executor.stages.map(() => "run"),
    "finish",
    "cleanup",
  ]);
  // With the cleanup left to the caller, the build ends at finish.
  const deferred = await build({ isCleanupDeferred: true });
  assert.equal(deferred.steps.at(-1), "finish");
});

Deno.test("runBuild runs the stages in the official order and reports success", async () => {
  const { result, executor, output, stages } = await build();
  assert.deepEqual(result, { state: "success" });
  assert.deepEqual(executor.stages, [
    "prepare_script",
    "get_sources",
    "step_script",
    "after_script",
    "cleanup_file_variables",
  ]);
  assert.deepEqual(stages, ["prepare_executor", ...executor.stages]);
  assert.equal(executor.cleanups, 1);
  const log = output.text();
  assert.ok(log.startsWith("\x1b[0KRunning with gitlab-runner 17.5.0 (abc12345)\x1b[0;m\n"));
  assert.ok(log.includes("\x1b[0K  on box-01 abc12345, system ID: s_0123456789ab\x1b[0;m\n"));
  assert.ok(
    log.includes(
      'section_start:1700000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the "shell" executor\x1b[0;m\x1b[0;m\n',
    ),
  );

  assert.match(log, /Executing "step_script" stage of the job script/);
  assert.ok(log.includes("section_end:1700000000:step_script\r\x1b[0K"));
  assert.match(log, /Cleaning up project directory and file based variables/);
  assert.ok(log.endsWith("\x1b[32;1mJob succeeded\x1b[0;m\n"));
});

Deno.test("runBuild omits section markers when the server does not want them", async () => {
  const { output } = await build({ job: jobSpec({ features: { "trace_sections": false } }) });
  assert.doesNotMatch(output.text(), /section_start|section_end/);
  assert.match(output.text(), /Preparing environment/);
});

Deno.test("runBuild exports the runner's variables with the shared builds dir layout", async () => {
  const { executor } = await build({
    runner: runner({
      environment: ["FROM_RUNNER=env $GREETING"],
      featureFlags: { "FF_SCRIPT_SECTIONS": true },
    }),
    job: jobSpec({
      variables: [
        { key: "CI_PROJECT_PATH", value: "acme/widget" },
        { key: "GREETING", value: "hello $CI_PROJECT_PATH and $$HOME" },
        { key: "RAW", value: "$GREETING", raw: true },
        { key: "KEYFILE", value: "secret", file: true },
        { key: "USES_FILE", value: "path=$KEYFILE" },
        { key: "FF_SCRIPT_SECTIONS", value: "false" },
      ],
    }),
  });
  const script = executor.scriptOf("step_script");
  for (
    const line of [
      "export CI_PROJECT_DIR=/builds/abc12345/2/acme/widget",
      "export CI_BUILDS_DIR=/builds",
      "export CI_CONCURRENT_ID=0",
      "export CI_CONCURRENT_PROJECT_ID=2",
      "export CI_SERVER=yes",
      "export CI_JOB_STATUS=running",
      "export CI_JOB_TIMEOUT=3600",
      "export CI_RUNNER_SHORT_TOKEN=abc12345",
      "export CI_SHARED_ENVIRONMENT=true",
      "export CI_RUNNER_VERSION=17.5.0",
      "export CI_RUNNER_REVISION=abc12345",
      "export CI_RUNNER_EXECUTABLE_ARCH=linux/amd64",
      "export RUNNER_TEMP_PROJECT_DIR=/builds/abc12345/2/acme/widget.tmp",
      "export GITLAB_ENV=/builds/abc12345/2/acme/widget.tmp/gitlab_runner_env",
      // Expanded once; `$$` is a literal dollar; raw values stay as they are.
      `export GREETING='hello acme/widget and $HOME'`,
      `export RAW='$GREETING'`,
      // The runner's environment is expanded against the final list too (before job variables).
      `export FROM_RUNNER='env hello $CI_PROJECT_PATH and $$HOME'`,
      "export KEYFILE=/builds/abc12345/2/acme/widget.tmp/KEYFILE",
      "export USES_FILE=path=/builds/abc12345/2/acme/widget.tmp/KEYFILE",
      // config.toml beats the job's FF_ variable.
      "export FF_SCRIPT_SECTIONS=true",
    ]
  ) {
    assert.ok(
      script.includes(line),
      `missing ${JSON.stringify(line)} in ${
        script.split("\n").filter((l) => l.includes("GREETING")).join("\n")
      }`,
    );
  }
  assert.ok(!script.includes("export FF_SCRIPT_SECTIONS=false"));
});

Deno.test("runBuild fails with script_failure and the exit code, still running after_script", async () => {
  const { result, executor, output } = await build({
    behaviour: () => ({ "step_script": () => 3 }),
  });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "script_failure",
    exitCode: 3,
    message: "exit status 3",
  });
  assert.ok(executor.scriptOf("after_script").includes("export CI_JOB_STATUS=failed"));
  assert.ok(output.text().endsWith("\x1b[31;1mERROR: Job failed: exit status 3\x1b[0;m\n"));
});

Deno.test("runBuild stops at the first failing step", async () => {
  const job = jobSpec({
    steps: [
      { name: "script", script: ["exit 1"] },
      { name: "release", script: ["release-cli create --name $CI_PROJECT_PATH"] },
    ],
  });
  const { executor } = await build({ job, behaviour: () => ({ "step_script": () => 1 }) });
  assert.ok(!executor.stages.includes("step_release"));
  const ok = await build({ job });
  assert.deepEqual(ok.executor.stages.filter((s) => s.startsWith("step_")), [
    "step_script",
    "step_release",
  ]);
  assert.ok(ok.executor.scriptOf("step_release").includes("release-cli create --name acme/widget"));
});

Deno.test("runBuild wraps every step with the runner's pre and post build scripts", async () => {
  const { executor } = await build({
    runner: runner({ preBuildScript: "echo pre-build", postBuildScript: "echo post-build" }),
  });
  const script = executor.scriptOf("step_script");
  const order = ["echo pre-build", "echo hi", "echo post-build"].map((c) =>
    script.indexOf(`\n${c}\n`)
  );
  assert.ok(order.every((i) => i > 0), script);
  assert.deepEqual([...order].sort((a, b) => a - b), order);
});

Deno.test("runBuild runs after_script as canceled when the job is canceled gracefully", async () => {
  const { result, executor, output } = await build({
    behaviour: (h) => ({
      "step_script": async (_s, signal) => {
        h.graceful.abort();
        await aborted(signal);
        return 1;
      },
    }),
    hooks: () => recordingHooks(),
  });
  assert.deepEqual(result, { state: "failed", failureReason: "job_canceled", message: "canceled" });
  assert.ok(executor.scriptOf("after_script").includes("export CI_JOB_STATUS=canceled"));
  assert.ok(executor.stages.includes("upload_artifacts_on_failure"));
  assert.ok(executor.stages.includes("cleanup_file_variables"));
  assert.match(output.text(), /WARNING: script canceled externally \(UI, API\)/);
  assert.match(output.text(), /ERROR: Job failed: canceled/);
});

Deno.test("runBuild ends at once when the job is aborted", async () => {
  const { result, executor } = await build({
    behaviour: (h) => ({
      "step_script": async (_s, signal) => {
        h.abort.abort();
        await aborted(signal);
        return 137;
      },
    }),
    hooks: () => recordingHooks(),
  });
  assert.deepEqual(result, { state: "failed", failureReason: "job_canceled", message: "canceled" });
  assert.deepEqual(executor.stages, [
    "prepare_script",
    "get_sources",
    "restore_cache",
    "download_artifacts",
    "step_script",
  ]);
  assert.equal(executor.cleanups, 1);
});

Deno.test("runBuild aborted because the runner stops on a signal fails as runner_interrupted, saying so", async () => {
  const { result, output } = await build({
    behaviour: (h) => ({
      "step_script": async (_s, signal) => {
        h.abort.abort(new RunnerInterrupt("SIGINT"));
        await aborted(signal);
        return 137;
      },
    }),
  });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "runner_interrupted",
    message: "aborted: interrupt",
  });
  assert.match(output.text(), /ERROR: Job failed: aborted: interrupt/);
  assert.doesNotMatch(output.text(), /canceled/);
});

Deno.test("runBuild fails with job_execution_timeout when the job timeout passes", async () => {
  const { result, executor, output } = await build({
    behaviour: (h) => ({ "step_script": hangs(h, 3_600_000) }),
  });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "job_execution_timeout",
    message: "execution took longer than 1h0m0s seconds",
  });
  assert.ok(!executor.stages.includes("after_script"));
  // File variables are still removed (we deviate from upstream for secrets' sake).
  assert.equal(executor.stages.at(-1), "cleanup_file_variables");
  assert.match(
    output.text(),
    /WARNING: step_script could not run to completion because the timeout was exceeded/,
  );
  assert.match(output.text(), /ERROR: Job failed: execution took longer than 1h0m0s seconds/);
});

Deno.test("runBuild runs after_script as timedout when RUNNER_SCRIPT_TIMEOUT passes", async () => {
  const job = jobSpec();
  job.variables.push({
    key: "RUNNER_SCRIPT_TIMEOUT",
    value: "10m",
    public: false,
    file: false,
    masked: false,
    raw: false,
  });
  const { result, executor } = await build({
    job,
    behaviour: (h) => ({ "step_script": hangs(h, 600_000) }),
  });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "job_execution_timeout",
    message: "script timeout: context deadline exceeded",
  });
  assert.ok(executor.scriptOf("after_script").includes("export CI_JOB_STATUS=timedout"));
});

Deno.test("runBuild gives after_script its own timeout and ignores its failure by default", async () => {
  const { result, output } = await build({
    behaviour: (h) => ({ "after_script": hangs(h, 300_000, 1) }),
  });
  assert.deepEqual(result, { state: "success" });
  assert.match(
    output.text(),
    /after_script could not run to completion because the timeout was exceeded/,
  );
  assert.match(output.text(), /WARNING: after_script failed, but job will continue unaffected: /);
});

Deno.test("runBuild fails the job on an after_script error when AFTER_SCRIPT_IGNORE_ERRORS=false", async () => {
  const job = jobSpec();
  job.variables.push({
    key: "AFTER_SCRIPT_IGNORE_ERRORS",
    value: "false",
    public: false,
    file: false,
    masked: false,
    raw: false,
  });
  const { result } = await build({ job, behaviour: () => ({ "after_script": () => 2 }) });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "script_failure",
    exitCode: 2,
    message: "exit status 2",
  });
});

Deno.test("runBuild reports runner_system_failure when the executor cannot be prepared", async () => {
  const errors = [new Error("no shell"), new Error("no shell"), new Error("still no shell")];
  const { result, executor, output } = await build({ prepareErrors: errors });
  assert.deepEqual(result, {
    state: "failed",
    failureReason: "runner_system_failure",
    message: "still no shell",
  });
  assert.equal(executor.prepareFailures, 3);
  assert.deepEqual(executor.stages, []);
  assert.equal(executor.cleanups, 1);
  assert.match(output.text(), /ERROR: Preparation failed: no shell/);
  assert.match(output.text(), /ERROR: Job failed \(system failure\): still no shell/);
});

Deno.test("runBuild retries preparation and succeeds on the second try", async () => {
  const { result, executor } = await build({ prepareErrors: [new Error("flaky")] });
  assert.deepEqual(result, { state: "success" });
  assert.equal(executor.prepareFailures, 1);
});

Deno.test("runBuild reports runner_system_failure when the executor breaks mid-stage", async () => {
  const { result } = await build({
    behaviour: () => ({
      "get_sources": () => {
        throw new Error("container vanished");
      },
    }),
  });
  assert.equal(result.failureReason, "runner_system_failure");
  assert.match(result.message ?? "", /container vanished/);
});

Deno.test("runBuild retries get_sources after clearing the work tree", async () => {
  const job = jobSpec();
  job.variables.push({
    key: "GET_SOURCES_ATTEMPTS",
    value: "2",
    public: false,
    file: false,
    masked: false,
    raw: false,
  });
  let tries = 0;
  const { result, executor } = await build({
    job,
    behaviour: () => ({ "get_sources": () => (++tries === 1 ? 128 : 0) }),
  });
  assert.deepEqual(result, { state: "success" });
  assert.deepEqual(executor.stages.slice(0, 4), [
    "prepare_script",
    "get_sources",
    "clear_worktree",
    "get_sources",
  ]);
});

Deno.test("runBuild prints get_sources itself for GIT_STRATEGY=none and creates the project dir in prepare_script", async () => {
  const none = { key: "GIT_STRATEGY", value: "none" };
  const { result, executor, output, stages } = await build({
    job: jobSpec({ variables: [none] }),
  });
  assert.deepEqual(result, { state: "success" });
  assert.deepEqual(executor.stages, [
    "prepare_script",
    "step_script",
    "after_script",
    "cleanup_file_variables",
  ]);
  assert.deepEqual(stages, [
    "prepare_executor",
    "prepare_script",
    "get_sources",
    "step_script",
    "after_script",
    "cleanup_file_variables",
  ]);
  assert.ok(
    output.text().includes(
      "section_start:1700000000:get_sources\r\x1b[0K" +
        "\x1b[0K\x1b[36;1mGetting source from Git repository\x1b[0;m\x1b[0;m\n" +
        "\x1b[32;1mSkipping Git repository setup\x1b[0;m\n" +
        "\x1b[32;1mSkipping Git checkout\x1b[0;m\n" +
        "\x1b[32;1mSkipping Git submodules setup\x1b[0;m\n" +
        "section_end:1700000000:get_sources\r\x1b[0K",
    ),
    output.text(),
  );
  assert.match(
    executor.scriptOf("prepare_script"),
    /^\[ -d \/builds\/abc12345\/2\/acme\/widget \] && \[ -d \/builds\/abc12345\/2\/acme\/widget\.tmp \] \|\| mkdir -p \/builds\/abc12345\/2\/acme\/widget \/builds\/abc12345\/2\/acme\/widget\.tmp$/m,
  );
});

Deno.test("runBuild runs get_sources for GIT_STRATEGY=none with CI_DEBUG_TRACE or a custom executor", async () => {
  const none = { key: "GIT_STRATEGY", value: "none" };
  const traced = await build({
    job: jobSpec({ variables: [none, { key: "CI_DEBUG_TRACE", value: "true" }] }),
  });
  assert.ok(traced.executor.stages.includes("get_sources"));
  assert.doesNotMatch(traced.executor.scriptOf("prepare_script"), /mkdir -p/);
  const custom = await build({
    job: jobSpec({ variables: [none] }),
    runner: runner({ executor: "custom" }),
  });
  assert.ok(custom.executor.stages.includes("get_sources"));
  assert.match(custom.executor.scriptOf("get_sources"), /Skipping Git repository setup/);
  assert.doesNotMatch(custom.executor.scriptOf("prepare_script"), /mkdir -p/);
});

Deno.test("runBuild skips the user's script but not cleanup when get_sources fails", async () => {
  const { result, executor } = await build({ behaviour: () => ({ "get_sources": () => 128 }) });
  assert.equal(result.failureReason, "script_failure");
  assert.deepEqual(executor.stages, ["prepare_script", "get_sources", "cleanup_file_variables"]);
});

Deno.test("runBuild ends without cleanup stages when prepare_script fails", async () => {
  const { result, executor } = await build({ behaviour: () => ({ "prepare_script": () => 1 }) });
  assert.equal(result.failureReason, "script_failure");
  assert.match(
    result.message ?? "",
    /^prepare environment: exit status 1\. Check https:\/\/docs.gitlab.com/,
  );
  assert.deepEqual(executor.stages, ["prepare_script"]);
});

function recordingHooks(failing: HookStage[] = []): BuildStageHooks {
  const hooks: BuildStageHooks = {};
  const all: HookStage[] = [
    "restore_cache",
    "download_artifacts",
    "archive_cache",
    "archive_cache_on_failure",
    "upload_artifacts_on_success",
    "upload_artifacts_on_failure",
  ];
  for (const stage of all) {
    hooks[stage] = {
      isNeeded: () => true,
      run: async (context) => {
        const code = await context.runScript([`echo ${stage}`]);
        if (code !== 0) throw new Error(`${stage} script exited ${code}`);
        if (failing.includes(stage)) throw new JobFailedError("script_failure", `${stage} broke`);
      },
    };
  }
  return hooks;
}

Deno.test("runBuild calls the cache and artifact stages in order around the user's script", async () => {
  const { result, executor, output } = await build({ hooks: () => recordingHooks() });
  assert.deepEqual(result, { state: "success" });
  assert.deepEqual(executor.stages, [
    "prepare_script",
    "get_sources",
    "restore_cache",
    "download_artifacts",
    "step_script",
    "after_script",
    "archive_cache",
    "upload_artifacts_on_success",
    "cleanup_file_variables",
  ]);
  assert.match(output.text(), /Restoring cache/);
  assert.match(output.text(), /Uploading artifacts for successful job/);
  assert.ok(executor.scriptOf("restore_cache").includes("cd /builds/abc12345/2/acme/widget"));
});

Deno.test("runBuild uses the failure variants of archive and upload after a failed script", async () => {
  const { executor } = await build({
    hooks: () => recordingHooks(),
    behaviour: () => ({ "step_script": () => 1 }),
  });
  assert.deepEqual(executor.stages.slice(-3), [
    "archive_cache_on_failure",
    "upload_artifacts_on_failure",
    "cleanup_file_variables",
  ]);
});

Deno.test("runBuild fails a successful job when an upload fails, keeping the script error first", async () => {
  const failing = await build({ hooks: () => recordingHooks(["upload_artifacts_on_success"]) });
  assert.deepEqual(failing.result, {
    state: "failed",
    failureReason: "script_failure",
    message: "upload_artifacts_on_success broke",
  });
  const both = await build({
    hooks: () => recordingHooks(["upload_artifacts_on_failure"]),
    behaviour: () => ({ "step_script": () => 4 }),
  });
  assert.equal(both.result.exitCode, 4);
});

Deno.test("runBuild skips a hook stage with nothing to do, without a section", async () => {
  const { executor, output } = await build({
    hooks: () => ({
      "restore_cache": {
        isNeeded: () => false,
        run: () => Promise.reject(new Error("must not run")),
      },
    }),
  });
  assert.ok(!executor.stages.includes("restore_cache"));
  assert.doesNotMatch(output.text(), /restore_cache|Restoring cache/);
});

Deno.test("runBuild rejects GIT_CLONE_PATH unless custom_build_dir is enabled", async () => {
  const job = jobSpec();
  job.variables.push({
    key: "GIT_CLONE_PATH",
    value: "/builds/mine",
    public: false,
    file: false,
    masked: false,
    raw: false,
  });
  const refused = await build({ job });
  assert.equal(refused.result.failureReason, "runner_configuration_error");
  const allowed = await build({ job, runner: runner({ customBuildDirEnabled: true }) });
  assert.deepEqual(allowed.result, { state: "success" });
  assert.ok(
    allowed.executor.scriptOf("step_script").includes("export CI_PROJECT_DIR=/builds/mine"),
  );
  const outside = jobSpec();
  outside.variables.push({
    key: "GIT_CLONE_PATH",
    value: "/etc/x",
    public: false,
    file: false,
    masked: false,
    raw: false,
  });
  const escaped = await build({ job: outside, runner: runner({ customBuildDirEnabled: true }) });
  assert.match(escaped.result.message ?? "", /has to be within "\/builds"/);
});

Deno.test("runner exec's workspace archive is never extracted into the builds directory itself, which get_sources would empty", async () => {
  const cloneInto = (value: string) => {
    const job = jobSpec();
    job.variables.push({
      key: "GIT_CLONE_PATH",
      value,
      public: true,
      file: false,
      masked: false,
      raw: false,
    });
    return job;
  };
  const workspaceArchive = new Uint8Array(1024);
  const customBuildDir = runner({ customBuildDirEnabled: true });
  for (const value of ["/builds", "/builds/", "/builds/.", "$CI_BUILDS_DIR"]) {
    const { result, executor } = await build({
      job: cloneInto(value),
      runner: customBuildDir,
      workspaceArchive,
    });
    assert.equal(result.failureReason, "runner_configuration_error", value);
    assert.match(result.message ?? "", /is the builds directory "\/builds"/);
    assert.ok(!executor.stages.includes("get_sources"), value);
  }
  // A directory below it is the job's to choose; without the archive (runner run) so is the builds directory.
  const below = await build({
    job: cloneInto("/builds/mine"),
    runner: customBuildDir,
    workspaceArchive,
  });
  assert.deepEqual(below.result, { state: "success" });
  assert.match(below.executor.scriptOf("get_sources"), /^cd \/builds\/mine$/m);
  const run = await build({ job: cloneInto("/builds"), runner: customBuildDir });
  assert.deepEqual(run.result, { state: "success" });
});

Deno.test("runner exec's workspace archive too large for a job script fails the job saying so, before get_sources runs", async () => {
  // 400 MiB: as base64 in the script, more than the longest string JavaScript holds.
  // Untouched, the zeroed pages are not allocated.
  const { result, executor, output } = await build({
    workspaceArchive: new Uint8Array(400 << 20),
  });
  assert.equal(result.failureReason, "runner_system_failure");
  assert.match(
    result.message ?? "",
    /^The working tree from runner exec is 400 MiB as an archive \(with \.git\), more than the \d+ MiB a get_sources script can carry/,
  );
  assert.ok(!executor.stages.includes("get_sources"));
  assert.doesNotMatch(output.text(), /Latin1|Invalid string length/);
});

Deno.test("a job variable setting a feature flag this runner ignores gets a warning in the job log", async () => {
  const { output } = await build({
    job: jobSpec({
      variables: [
        { key: "FF_NETWORK_PER_BUILD", value: "true", public: true, masked: false },
        { key: "FF_SCRIPT_SECTIONS", value: "true", public: true, masked: false },
      ],
    }),
  });
  assert.match(
    output.text(),
    /WARNING: Feature flag FF_NETWORK_PER_BUILD=true is not supported by this runner and has no effect/,
  );
  assert.doesNotMatch(output.text(), /Feature flag FF_SCRIPT_SECTIONS/);
});

Deno.test("a job variable or environment entry setting a flag read only from [runners.feature_flags] warns in the job log", async () => {
  const variable = (key: string, value: string) => ({ key, value, public: true, masked: false });
  const { output } = await build({
    job: jobSpec({
      variables: [
        variable("FF_USE_ADAPTIVE_REQUEST_CONCURRENCY", "false"),
        variable("FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL", "true"),
      ],
    }),
    runner: runner({ environment: ["FF_DISABLE_AUTOMATIC_TOKEN_ROTATION=1"] }),
  });
  // The header lists the job's flags as upstream does; the warnings say they do nothing.
  assert.match(
    output.text(),
    /feature flags: FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL:true, FF_DISABLE_AUTOMATIC_TOKEN_ROTATION:true, FF_USE_ADAPTIVE_REQUEST_CONCURRENCY:false/,
  );
  for (
    const flag of [
      "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION=true",
      "FF_USE_ADAPTIVE_REQUEST_CONCURRENCY=false",
      "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL=true",
    ]
  ) {
    assert.match(
      output.text(),
      new RegExp(
        `WARNING: Feature flag ${flag} has no effect as a job variable or environment entry: ` +
          "this runner reads it only from \\[runners.feature_flags\\]",
      ),
    );
  }
  // Set in config.toml too (which wins), or at its default: nothing to say.
  const quiet = await build({
    job: jobSpec({
      variables: [
        variable("FF_USE_ADAPTIVE_REQUEST_CONCURRENCY", "false"),
        variable("FF_DISABLE_AUTOMATIC_TOKEN_ROTATION", "false"),
      ],
    }),
    runner: runner({ featureFlags: { FF_USE_ADAPTIVE_REQUEST_CONCURRENCY: true } }),
  });
  assert.doesNotMatch(quiet.output.text(), /has no effect/);
});

Deno.test("a job variable or environment entry setting a flag upstream removed warns in the job log and reaches the job as a plain variable", async () => {
  const variable = (key: string, value: string) => ({ key, value, public: true, masked: false });
  const { output, executor } = await build({
    job: jobSpec({ variables: [variable("FF_SKIP_NOOP_BUILD_STAGES", "false")] }),
    runner: runner({ environment: ["FF_USE_NEW_BASH_EVAL_STRATEGY=true"] }),
  });
  for (const name of ["FF_SKIP_NOOP_BUILD_STAGES", "FF_USE_NEW_BASH_EVAL_STRATEGY"]) {
    assert.match(
      output.text(),
      new RegExp(`WARNING: Feature flag ${name} was removed from GitLab Runner and has no effect`),
    );
  }
  assert.ok(executor.scriptOf("step_script").includes("export FF_SKIP_NOOP_BUILD_STAGES=false"));
  const quiet = await build({ job: jobSpec({ variables: [variable("FF_MY_APP_FLAG", "1")] }) });
  assert.doesNotMatch(quiet.output.text(), /FF_MY_APP_FLAG/);
});

Deno.test("FF_POSIXLY_CORRECT_ESCAPES=true is what this runner always does: POSIX single quotes, no warning", async () => {
  const variable = (key: string, value: string) => ({ key, value, public: true, masked: false });
  const { output, executor } = await build({
    job: jobSpec({
      variables: [
        variable("FF_POSIXLY_CORRECT_ESCAPES", "true"),
        variable("GREETING", "it's\n$$HOME"),
      ],
    }),
  });
  assert.doesNotMatch(output.text(), /FF_POSIXLY_CORRECT_ESCAPES.*(not supported|no effect)/);
  assert.match(output.text(), /feature flags: FF_POSIXLY_CORRECT_ESCAPES:true/);
  // Not bash's $'…': dash, the usual /bin/sh, reads this the same way (script_writer_integration_test.ts).
  assert.ok(executor.scriptOf("step_script").includes(`export GREETING='it'\\''s\n$HOME'`));
});

Deno.test("a prepare_timeout or get_sources_timeout below 0 or above the job timeout warns in the job log and gives way to it", async () => {
  // A negative value was dropped without a word; the official runner warns so.
  const { result, output } = await build({
    runner: runner({ prepareTimeout: -5, getSourcesTimeout: 7200 }),
  });
  assert.deepEqual(result, { state: "success" });
  assert.match(
    output.text(),
    /WARNING: prepare_timeout \(-5s\) must be greater than 0; using job timeout \(1h0m0s\)/,
  );
  assert.match(
    output.text(),
    /WARNING: get_sources_timeout \(2h0m0s\) exceeds job timeout \(1h0m0s\); using job timeout/,
  );
  const quiet = await build({ runner: runner({ prepareTimeout: 0, getSourcesTimeout: 60 }) });
  assert.doesNotMatch(quiet.output.text(), /_timeout/);
});

/** A web terminal that is connected; `onWait` runs when the build starts waiting for it. */
class FakeTerminal implements BuildTerminal {
  closes = 0;
  readonly #gone = Promise.withResolvers<void>();
  constructor(
    readonly sessionTimeoutSeconds: number,
    readonly isConnected: boolean,
    readonly onWait: (terminal: FakeTerminal) => void = () => {},
  ) {}
  disconnected(): Promise<void> {
    // After the build's timer is registered: the test moves time or disconnects then.
    setTimeout(() => this.onWait(this), 0);
    return this.#gone.promise;
  }
  disconnect(): void {
    this.#gone.resolve();
  }
  close(): Promise<void> {
    this.closes++;
    return Promise.resolve();
  }
}

Deno.test("a terminal still connected after the script keeps the job open until session_timeout", async () => {
  let terminal: FakeTerminal | null = null;
  const { result, output, executor } = await build({
    terminal: (h) => terminal = new FakeTerminal(5, true, () => h.clock.advance(5000)),
  });
  assert.deepEqual(result, { state: "success" });
  const log = output.text();
  assert.match(
    log,
    // deno-lint-ignore no-control-regex -- the log's colour codes are the point
    /cleanup_file_variables[\s\S]*\x1b\[32;1mTerminal is connected, will time out in 5s\.\.\.\x1b\[0;m\n\x1b\[32;1mterminal session timed out \(maximum time allowed - 5s\)\x1b\[0;m\n\x1b\[32;1mJob succeeded/,
  );
  assert.equal(terminal!.closes, 1, "the timed-out terminal is closed");
  assert.equal(executor.cleanups, 1);
});

Deno.test("the terminal wait ends when it disconnects, and never outlasts the job timeout", async () => {
  const disconnected = await build({
    terminal: () => new FakeTerminal(1800, true, (t) => t.disconnect()),
  });
  assert.deepEqual(disconnected.result, { state: "success" });
  assert.match(
    disconnected.output.text(),
    // deno-lint-ignore no-control-regex -- the log's colour codes are the point
    /will time out in 30m0s\.\.\.\x1b\[0;m\n\x1b\[32;1mTerminal disconnected\x1b\[0;m\n/,
  );
  // 3600 s job timeout, 3590 s of it used by the script: 10 s are left for the terminal.
  const capped = await build({
    behaviour: (h) => ({ step_script: () => (h.clock.advance(3_590_000), 0) }),
    terminal: () => new FakeTerminal(1800, true, (t) => t.disconnect()),
  });
  assert.match(capped.output.text(), /Terminal is connected, will time out in 10s\.\.\./);
  const idle = await build({ terminal: () => new FakeTerminal(1800, false) });
  assert.doesNotMatch(idle.output.text(), /Terminal/, "no terminal connected: no wait");
});

Deno.test("every listed feature flag this runner does not act on warns in the job log when a job variable sets it off its default", async () => {
  const ignored = Object.keys(FEATURE_FLAG_DEFAULTS).filter((n) =>
    !IMPLEMENTED_FEATURE_FLAGS.has(n)
  );
  assert.ok(ignored.length > 0);
  const all = Object.entries(FEATURE_FLAG_DEFAULTS).map(([key, fallback]) => ({
    key,
    value: String(!fallback),
    public: true,
    masked: false,
  }));
  const { output } = await build({ job: jobSpec({ variables: all }) });
  const warned = [
    ...output.text().matchAll(
      /WARNING: Feature flag (FF_\w+)=(true|false) is not supported by this runner and has no effect/g,
    ),
  ].map((m) => [m[1], m[2] === "true"]);
  assert.deepEqual(warned, ignored.map((n) => [n, !FEATURE_FLAG_DEFAULTS[n]]));
  // At its default value a flag changes nothing, so it gets no warning.
  const defaults = await build({
    job: jobSpec({
      variables: all.map((v) => ({ ...v, value: String(FEATURE_FLAG_DEFAULTS[v.key]) })),
    }),
  });
  assert.doesNotMatch(defaults.output.text(), /WARNING: Feature flag/);
  // Marking a flag implemented silences its warnings: it needs an effect test first.
  assert.deepEqual([...IMPLEMENTED_FEATURE_FLAGS].sort(), [
    "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION",
    "FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR",
    "FF_ENABLE_BASH_EXIT_CODE_CHECK",
    "FF_ENABLE_JOB_CLEANUP",
    "FF_EXPORT_HIGH_CARDINALITY_METRICS",
    "FF_LOG_IMAGES_CONFIGURED_FOR_JOB",
    "FF_MASK_ALL_DEFAULT_TOKENS",
    "FF_POSIXLY_CORRECT_ESCAPES",
    "FF_SCRIPT_SECTIONS",
    "FF_TIMESTAMPS",
    "FF_USE_ADAPTIVE_REQUEST_CONCURRENCY",
    "FF_USE_DIRECT_DOWNLOAD",
    "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL",
    "FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY",
    "FF_USE_FASTZIP",
    "FF_USE_GITALY_CORRELATION_ID",
    "FF_USE_GIT_BUNDLE_URIS",
    "FF_USE_INIT_WITH_DOCKER_EXECUTOR",
    "FF_USE_LEGACY_BASH_EVAL",
  ]);
});

Deno.test("GIT_SUBMODULE_DEPTH takes any integer, as the official runner: 0 or less is full history, not git_info.depth", async () => {
  const updateLine = async (depth?: string) => {
    const variables = [{ key: "GIT_SUBMODULE_STRATEGY", value: "normal" }];
    if (depth !== undefined) variables.push({ key: "GIT_SUBMODULE_DEPTH", value: depth });
    const { result, executor, output } = await build({ job: jobSpec({ variables }) });
    assert.deepEqual(result, { state: "success" });
    const script = executor.scriptOf("get_sources");
    const line = script.split("\n").find((l) => /submodule.* update --init/.test(l));
    assert.ok(line, script);
    return {
      line: line.replace(/^if /, "").replace(/(?: >\/dev\/null 2>&1)?; then$/, ""),
      log: output.text(),
    };
  };
  assert.match((await updateLine()).line, / update --init --depth 20$/);
  assert.match((await updateLine("3")).line, / update --init --depth 3$/);
  assert.match((await updateLine("0")).line, / update --init$/);
  const negative = await updateLine("-1");
  assert.match(negative.line, / update --init$/);
  assert.doesNotMatch(negative.log, /GIT_SUBMODULE_DEPTH/);
  const odd = await updateLine("1e1");
  assert.match(odd.line, / update --init --depth 20$/);
  assert.match(odd.log, /Invalid GIT_SUBMODULE_DEPTH "1e1": ignoring it/);
  // Past int64 Go's strconv.ParseInt fails: git_info.depth, not a depth git refuses.
  const huge = await updateLine("99999999999999999999");
  assert.match(huge.line, / update --init --depth 20$/);
  assert.match(huge.log, /Invalid GIT_SUBMODULE_DEPTH "99999999999999999999": ignoring it/);
});

Deno.test("a clone_url that is not a URL fails the job naming it before get_sources, instead of being ignored", async () => {
  const { result, stages } = await build({ runner: runner({ cloneUrl: "gitlab.internal" }) });
  assert.equal(result.state, "failed");
  assert.equal(result.failureReason, "runner_configuration_error");
  assert.match(
    result.message ?? "",
    /\[\[runners\]\] clone_url "gitlab\.internal" is not an absolute URL such as https:\/\/gitlab\.example\.com/,
  );
  assert.deepEqual(stages, ["prepare_executor"]);
  const used = await build({ runner: runner({ cloneUrl: "https://mirror.example.com" }) });
  assert.deepEqual(used.result, { state: "success" });
});

Deno.test("a NUL byte in a [[runners]] script or environment entry fails the job naming the setting, before any stage", async () => {
  const cases: [Partial<RunnerConfig>, string][] = [
    [{ preBuildScript: "echo a\0b" }, "pre_build_script"],
    [{ postBuildScript: "echo a\0b" }, "post_build_script"],
    [{ preGetSourcesScript: "echo a\0b" }, "pre_get_sources_script"],
    [{ postGetSourcesScript: "echo a\0b" }, "post_get_sources_script"],
    [{ environment: ["GOOD=1", "ENV_NUL=a\0b"] }, 'the value of variable "ENV_NUL"'],
  ];
  for (const [patch, named] of cases) {
    const { result, stages } = await build({ runner: runner(patch) });
    assert.equal(result.state, "failed", named);
    assert.equal(result.failureReason, "runner_configuration_error", named);
    assert.match(result.message ?? "", new RegExp(`^The job cannot run: .*${named}`), named);
    assert.match(result.message ?? "", /contains a NUL byte, which a shell cannot hold$/);
    assert.deepEqual(stages, [], named);
  }
});

Deno.test("a runner-behaviour variable of type file acts by its value, as the official runner reads it (Variables.Value), not by its file's path", async () => {
  const job = jobSpec();
  job.variables.push({
    key: "AFTER_SCRIPT_IGNORE_ERRORS",
    value: "false",
    public: false,
    file: true,
    masked: false,
    raw: false,
  });
  const { result, output } = await build({ job, behaviour: () => ({ "after_script": () => 2 }) });
  assert.doesNotMatch(output.text(), /Invalid AFTER_SCRIPT_IGNORE_ERRORS/);
  assert.equal(result.state, "failed", output.text());
});
