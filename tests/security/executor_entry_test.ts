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
import { LAZY_IMPORTS_FLAG, SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import { COMPILED_GRANT_FLAGS } from "../../src/poller/compiled_grants.ts";
import { MAIN_MODULE } from "../fixtures/runner_process.ts";
import { testEnv } from "../fixtures/test_env.ts";

const hasStrace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
const NO_STRACE = "strace is not installed (apt-get install strace; .ci/run does)";
if (!hasStrace) {
  // deno-lint-ignore no-console -- the skip reason belongs in the test output
  console.log(`SKIP compiled executor process start test: ${NO_STRACE}`);
}

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
  revision?: string,
): Promise<Outcome> {
  const tempDir = join(root, "tmp");
  const stateDir = join(root, ".runner");
  await Deno.mkdir(tempDir, { recursive: true });
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping: "worker",
    env: testEnv(),
    ...(revision ? { revision } : {}),
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

Deno.test("compiled executor process's job log names the revision the poller passed", async () => {
  // From source the poller passes its revision (--revision): the job's Worker
  // takes it from the process's arguments, as an executor process scoped by
  // flags does, not from a message of the process's thread.
  await using tmp = await tempRoot();
  const root = tmp.path;
  const r = shellRunner(join(root, "builds"));
  const out = await runJob(root, r, r, ["true"], {}, "f00dcafe");
  assert.equal(out.result?.["state"], "success", out.trace);
  assert.match(out.trace, /Running with gitlab-runner \S+ \(f00dcafe\)/);
});

Deno.test({
  name: "compiled executor process's own thread loads only what starts the job's Worker",
  ignore: !hasStrace,
  async fn() {
    // Creating the Worker's isolate blocks the process's thread (~10 ms) and
    // the job waits for it: that thread loads neither the job's code nor the
    // permission table first. With lazy dynamic imports each module is read by
    // the thread that imports it, when it does (strace: which thread opens it).
    await using tmp = await tempRoot();
    const root = tmp.path;
    const log = join(root, "strace.log");
    const permissions = executorPermissions({
      runner: shellRunner(join(root, "builds")),
      cwd: root,
      tempDir: join(root, "tmp"),
      stateDir: join(root, ".runner"),
      env: () => undefined,
    });
    const out = await new Deno.Command("strace", {
      args: [
        ...["-f", "-q", "-e", "trace=openat", "-o", log, "--", Deno.execPath(), "run", "--quiet"],
        ...[LAZY_IMPORTS_FLAG, ...COMPILED_GRANT_FLAGS, MAIN_MODULE, "executor-process"],
        ...["--permissions", JSON.stringify(permissions)],
      ],
      env: testEnv(),
      stdin: "null", // no job: the process exits as an unused spare does
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const src = new URL("../../src/", import.meta.url).pathname;
    const opened = new Map<string, Set<string>>(); // thread id -> modules under src/
    let processThread: string | undefined;
    for (const line of (await Deno.readTextFile(log)).split("\n")) {
      const m = line.match(/^(\d+)\s+openat\([^"]*"([^"]+)"/);
      if (!m) continue;
      processThread ??= m[1]!;
      if (!m[2]!.startsWith(src) || !m[2]!.endsWith(".ts")) continue;
      if (!opened.has(m[1]!)) opened.set(m[1]!, new Set());
      opened.get(m[1]!)!.add(m[2]!.slice(src.length));
    }
    const own = opened.get(processThread!) ?? new Set();
    assert.ok(own.has("cli/scoped_worker.ts"), `process thread read: ${[...own]}`);
    for (const module of ["cli/executor_process.ts", "poller/executor_permissions.ts"]) {
      assert.ok(!own.has(module), `the process thread read ${module}: ${[...own]}`);
    }
    const worker = [...opened.entries()].find(([id]) => id !== processThread)?.[1] ?? new Set();
    assert.ok(worker.has("cli/executor_process.ts"), `worker read: ${[...worker]}`);
  },
});
