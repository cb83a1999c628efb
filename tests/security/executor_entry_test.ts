/**
 * The executor process entry as the compiled binary runs it: `deno run` with
 * the binary's global grants (COMPILED_GRANT_FLAGS) and `src/cli/main.ts
 * executor-process --permissions <json>`, exactly the argv a compiled binary
 * gets minus the runtime. A real job runs in it; when the start message names
 * something outside the permission set the poller computed (here another
 * builds directory; compiled_executor_jobs_test.ts does the other executors),
 * the executor is denied and the job fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { executorSettings } from "../../src/executors/process_protocol.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { executorPermissions } from "../../src/poller/executor_permissions.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import { MAIN_MODULE } from "../fixtures/runner_process.ts";
import { testEnv } from "../fixtures/test_env.ts";

interface Outcome {
  trace: string;
  result: Record<string, unknown> | null;
}

/** Runs one job: permissions from `allowed`, start message from `sent`. */
async function runJob(
  root: string,
  allowed: RunnerConfig,
  sent: RunnerConfig,
  script: string[],
  wire: Record<string, unknown> = {},
): Promise<Outcome> {
  const tempDir = join(root, "tmp");
  const stateDir = join(root, ".runner");
  await Deno.mkdir(tempDir, { recursive: true });
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping: "worker",
    env: testEnv(),
  });
  const permissions = executorPermissions({
    runner: allowed,
    cwd: root,
    tempDir,
    stateDir,
    env: () => undefined,
  });
  await using proc = launcher.launch(permissions);
  await proc.send({
    type: "start",
    job: parseJobSpec({
      id: 7,
      token: "glcbt-job-token",
      steps: [{ name: "script", script, timeout: 60, when: "on_success", allow_failure: false }],
      variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
      job_info: { project_id: 1, name: "probe" },
      git_info: {
        repo_url: "http://127.0.0.1:9/acme/widget.git",
        ref: "main",
        sha: "0".repeat(40),
      },
      ...wire,
    }),
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
  let result: Record<string, unknown> | null = null;
  const decoder = new TextDecoder();
  for await (const item of proc.events()) {
    if ("trace" in item) trace += decoder.decode(item.trace);
    else if (item.event.type === "result") result = { ...item.event };
  }
  return { trace: trace + proc.stderrTail(), result };
}

async function tempRoot(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "runner-entry-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function shellRunner(builds: string): RunnerConfig {
  const r = defaultRunnerConfig("shell");
  r.url = "http://127.0.0.1:9";
  r.buildsDir = builds;
  r.cacheDir = join(builds, "..", "cache");
  return r;
}

Deno.test("compiled executor process runs a shell job inside its builds dir", async () => {
  await using tmp = await tempRoot();
  const root = tmp.path;
  const r = shellRunner(join(root, "builds"));
  const out = await runJob(root, r, r, ["echo hello from $(pwd)"]);
  assert.equal(out.result?.["state"], "success", out.trace);
  assert.match(out.trace, new RegExp(`hello from ${join(root, "builds")}`));
});

Deno.test("compiled executor process cannot read a builds dir outside its permission set", async () => {
  await using tmp = await tempRoot();
  const root = tmp.path;
  const outside = join(root, "elsewhere");
  // The script is not Deno code: it writes anywhere its OS user may. Collecting the
  // artifact is: the executor process itself reads the file, and is denied.
  const out = await runJob(
    root,
    shellRunner(join(root, "builds")),
    shellRunner(outside),
    ["echo secret > out.txt"],
    {
      artifacts: [{
        name: "a",
        paths: ["out.txt"],
        when: "on_success",
        artifact_type: "archive",
        artifact_format: "zip",
      }],
    },
  );
  assert.equal(out.result?.["state"], "failed", out.trace);
  assert.match(out.trace, new RegExp(`Requires read access to "${outside}`));
});
