/**
 * Executor processes from source run with EXECUTOR_V8_FLAGS: V8 without its
 * optimizing compilers (the flag V8 must accept, or the process would not
 * start), and the job runs as usual. The runner's own flags (RUNNER_V8_FLAGS)
 * let Maglev compile a function only after three times V8's default count.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { executorPermissions } from "./executor_permissions.ts";
import { SubprocessLauncher } from "./process_launcher.ts";
import { RUNNER_V8_FLAGS } from "./v8_flags.ts";
import { MAIN_MODULE } from "../../tests/fixtures/runner_process.ts";
import { testEnv } from "../../tests/fixtures/test_env.ts";
import { executorCommandLine, runExecutorJob } from "../../tests/fixtures/executor_job.ts";

Deno.test("an executor process from source runs a job without V8's optimizing compilers", async () => {
  const root = await Deno.makeTempDir({ prefix: "runner-v8-flags-" });
  try {
    const tempDir = join(root, "tmp");
    const stateDir = join(root, ".runner");
    await Deno.mkdir(tempDir);
    const runner = defaultRunnerConfig("shell");
    runner.url = "http://127.0.0.1:9";
    runner.buildsDir = join(root, "builds");
    runner.cacheDir = join(root, "cache");
    const launcher = new SubprocessLauncher({
      execPath: Deno.execPath(),
      mainModule: MAIN_MODULE,
      env: testEnv(),
    });
    const permissions = executorPermissions({
      runner,
      cwd: root,
      tempDir,
      stateDir,
      env: () => undefined,
    });
    await using proc = launcher.launch(permissions);
    const argv = await executorCommandLine(proc.pid);
    assert.ok(argv.includes("--v8-flags=--max-semi-space-size=1,--max-opt=1"), argv.join(" "));
    const { trace, state } = await runExecutorJob(proc, {
      job: parseJobSpec({
        id: 7,
        token: "glcbt-job-token",
        steps: [{
          name: "script",
          script: ["echo hello"],
          timeout: 60,
          when: "on_success",
          allow_failure: false,
        }],
        variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
        job_info: { project_id: 1, name: "v8-flags" },
        git_info: {
          repo_url: "http://127.0.0.1:9/acme/widget.git",
          ref: "main",
          sha: "0".repeat(40),
        },
      }),
      runner,
      cwd: root,
      stateDir,
      tempDir,
    });
    assert.equal(state, "success", trace + proc.stderrTail());
    assert.match(trace, /\nhello\r?\n/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("under RUNNER_V8_FLAGS code run a few hundred times stays unoptimized, hot code is optimized", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-v8-maglev-" });
  try {
    const script = join(dir, "tiers.js");
    await Deno.writeTextFile(
      script,
      "function lukewarm(x) { return (x * 31 + 7) % 1013; }\n" +
        "function hot(x) { return (x * 17 + 3) % 1013; }\n" +
        "let t = 0;\nfor (let i = 0; i < 700; i++) t += lukewarm(i);\n" +
        "for (let i = 0; i < 3e6; i++) t += hot(i);\nconsole.log(t > 0);\n",
    );
    const flags = RUNNER_V8_FLAGS.map((flag) => `${flag},--trace-opt`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...flags, script],
      env: testEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    // V8's default Maglev count (400) compiles `lukewarm`, as start-up code that runs once.
    assert.doesNotMatch(text, /completed compiling .*JSFunction lukewarm/);
    assert.match(text, /completed compiling .*JSFunction hot /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
