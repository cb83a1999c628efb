/**
 * Runs whole jobs through the worked example driver of
 * docs/executors/custom.md (docs/examples/custom-driver/), so that the
 * example keeps working as the runner changes.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runBuild } from "../../build/run_build.ts";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { RunnerConfig } from "../../config/runner_config.ts";
import { type JobSpec, parseJobSpec } from "../../job/job_spec.ts";
import type { Logger } from "../../log/logger.ts";
import { CollectedOutput } from "../executor_contract.ts";
import { CustomExecutor } from "./custom_executor.ts";

const EXAMPLE = fileURLToPath(new URL("../../../docs/examples/custom-driver/", import.meta.url));
const VERSION = {
  name: "gitlab-runner",
  version: "19.4.0",
  revision: "test",
  os: "linux",
  arch: "amd64",
};
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function job(id: number, script: string[]): JobSpec {
  return parseJobSpec({
    id,
    token: "glcbt-example",
    "job_info": { name: "example", stage: "test", "project_id": 7 },
    "git_info": { "repo_url": "https://gitlab.example.com/acme/widget.git", ref: "main" },
    "runner_info": { timeout: 600 },
    variables: [
      { key: "CI_JOB_ID", value: String(id), public: true },
      { key: "GIT_STRATEGY", value: "none", public: true },
    ],
    steps: [{ name: "script", script, when: "on_success" }],
  });
}

async function runJob(spec: JobSpec, root: string) {
  const runner: RunnerConfig = {
    ...defaultRunnerConfig("custom"),
    name: "example",
    url: "https://gitlab.example.com",
    executor: "custom",
  };
  runner.custom = {
    ...runner.custom,
    configExec: `${EXAMPLE}config.sh`,
    prepareExec: `${EXAMPLE}prepare.sh`,
    runExec: `${EXAMPLE}run.sh`,
    cleanupExec: `${EXAMPLE}cleanup.sh`,
  };
  const output = new CollectedOutput();
  const executor = new CustomExecutor({
    config: runner.custom,
    shell: "",
    buildsDir: "",
    cacheDir: "",
    cwd: root,
    env: { ...Deno.env.toObject(), CUSTOM_DRIVER_ROOT: root },
    tempDir: root,
    job: spec,
    variables: spec.variables,
    output,
    log: silent,
  });
  const result = await runBuild({
    job: spec,
    runner,
    shortToken: "abcd1234",
    concurrentId: 0,
    concurrentProjectId: 0,
    executor,
    output,
    cancel: { graceful: new AbortController().signal, abort: new AbortController().signal },
    version: VERSION,
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  });
  return { result, text: output.text() };
}

Deno.test("The example custom driver runs a job in a throwaway directory and removes it", async () => {
  const root = await Deno.makeTempDir({ prefix: "custom-driver-example-" });
  try {
    const { result, text } = await runJob(
      job(101, ['echo "hello from $CI_JOB_ID in $PWD"', 'echo "job-pid=$$"', "touch made-by-job"]),
      root,
    );
    assert.deepEqual(result, { state: "success" }, text);
    assert.match(text, /Using Custom executor with driver throwaway-dir v1\.0\.0\.\.\./);
    assert.match(text, new RegExp(`hello from 101 in ${root}/job-101/builds/`));
    if (text.includes("isolated with unshare")) {
      // The script is PID 1 of its own PID namespace.
      assert.match(text, /job-pid=1\b/);
    }
    // cleanup.sh removed the job's directory; the shared cache dir stays.
    await assert.rejects(Deno.stat(`${root}/job-101`), Deno.errors.NotFound);
    assert.ok((await Deno.stat(`${root}/cache`)).isDirectory);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("The example custom driver reports the job's exit code and still cleans up", async () => {
  const root = await Deno.makeTempDir({ prefix: "custom-driver-example-" });
  try {
    const { result, text } = await runJob(job(102, ["echo failing", "exit 3"]), root);
    assert.equal(result.state, "failed", text);
    assert.equal(result.failureReason, "script_failure");
    assert.equal(result.exitCode, 3);
    assert.match(text, /ERROR: Job failed: exit status 3/);
    await assert.rejects(Deno.stat(`${root}/job-102`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
