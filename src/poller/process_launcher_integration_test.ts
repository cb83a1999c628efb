/**
 * From source, `runner run` starts executor processes with lazy dynamic
 * imports and read access to the runner's source directory (`sourceDir`):
 * the modules a job needs beyond the start (here the cache and archive code)
 * still load, and the process holds its row's cells plus that directory,
 * nothing more.
 */
import assert from "node:assert/strict";
import { join } from "../path/host_path.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { executorPermissions } from "./executor_permissions.ts";
import {
  type ExecutorProcess,
  LAZY_IMPORTS_FLAG,
  SPARE_BURST_GAP_MS,
  SPARE_REPLACE_DELAY_MS,
  SubprocessLauncher,
} from "./process_launcher.ts";
import { cleanHome } from "../../tests/fixtures/test_env.ts";
import { executorCommandLine, runExecutorJob } from "../../tests/fixtures/executor_job.ts";
import { childProcesses } from "../../tests/fixtures/child_processes.ts";

const SOURCE_DIR = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const ENTRY = new URL("../cli/executor_entry.ts", import.meta.url).pathname;

Deno.test("executor process from source with sourceDir: lazy imports, its row's read cells plus the source directory, and a job with a cache stage runs", async () => {
  const root = await Deno.makeTempDir({ prefix: "runner-lazy-" });
  const tempDir = join(root, "tmp");
  await Deno.mkdir(tempDir);
  const runner = {
    ...defaultRunnerConfig("shell"),
    url: "http://127.0.0.1:9",
    buildsDir: join(root, "builds"),
    cacheDir: join(root, "cache"),
  };
  const permissions = executorPermissions({
    runner,
    cwd: root,
    tempDir,
    stateDir: join(root, "state"),
    env: () => undefined,
  });
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: ENTRY,
    sourceDir: SOURCE_DIR,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...cleanHome() },
  });
  const proc = launcher.launch(permissions);
  try {
    const args = await executorCommandLine(proc.pid);
    assert.ok(args.includes(LAZY_IMPORTS_FLAG), args.join(" "));
    assert.deepEqual(
      args.filter((arg) => arg.startsWith("--allow-read")),
      [`--allow-read=${[...new Set(permissions.read)].join(",")},${SOURCE_DIR}`],
    );
    assert.deepEqual(
      args.filter((arg) => arg.startsWith("--allow-write")),
      [`--allow-write=${[...new Set(permissions.write)].join(",")}`],
    );
    const { trace, state } = await runExecutorJob(proc, {
      job: parseJobSpec({
        id: 1,
        token: "job-token-1",
        steps: [{
          name: "script",
          script: ["mkdir -p vendor", "echo lib > vendor/lib.txt"],
          when: "on_success",
          timeout: 3600,
        }],
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
        cache: [{
          key: "deps",
          paths: ["vendor/"],
          policy: "pull-push",
          when: "on_success",
          "fallback_keys": [],
        }],
        "job_info": { name: "job", stage: "test", "project_id": 1, "project_full_path": "g/p" },
        "git_info": { "repo_url": "http://127.0.0.1:9/g/p.git", ref: "main", sha: "0".repeat(40) },
        "runner_info": { timeout: 3600 },
      }),
      runner,
      cwd: root,
      stateDir: join(root, "state"),
      tempDir,
    });
    assert.equal(state, "success", trace + proc.stderrTail());
    assert.match(trace, /Created cache/, trace);
  } finally {
    await proc[Symbol.asyncDispose]();
    launcher.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

/** What the spare tests launch: from source, a shell runner's row under `root`. */
function spareSetup(root: string) {
  const options = {
    execPath: Deno.execPath(),
    mainModule: ENTRY,
    sourceDir: SOURCE_DIR,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...cleanHome() },
  };
  const permissions = executorPermissions({
    runner: { ...defaultRunnerConfig("shell"), url: "http://127.0.0.1:9" },
    cwd: root,
    tempDir: root,
    stateDir: join(root, "state"),
    env: () => undefined,
  });
  return { options, permissions };
}

/** Until a launch's replacement spare is due (SPARE_REPLACE_DELAY_MS), with a margin. */
function untilSpareDue(): Promise<void> {
  return new Promise((r) => setTimeout(r, SPARE_REPLACE_DELAY_MS + 300));
}

Deno.test("launches in a burst start no spare; a launch after a pause starts one for the next job", async () => {
  const root = await Deno.makeTempDir({ prefix: "runner-spare-" });
  let now = 0;
  const { options, permissions } = spareSetup(root);
  const launcher = new SubprocessLauncher({ ...options, spareIdleMs: 60_000, now: () => now });
  const launched: ExecutorProcess[] = [];
  try {
    const prestarted = (at: number) => {
      now = at;
      const proc = launcher.launch(permissions);
      launched.push(proc);
      return proc.isPrestarted === true;
    };
    assert.equal(prestarted(0), false, "the first launch has no spare to take");
    await untilSpareDue();
    assert.equal(prestarted(10), true, "the first launch started a spare");
    await untilSpareDue();
    assert.equal(prestarted(20), false, "a launch in a burst started a spare");
    now = 20 + SPARE_BURST_GAP_MS;
    assert.equal(prestarted(now), false);
    await untilSpareDue();
    assert.equal(prestarted(now + 10), true, "a launch after a pause started no spare");
  } finally {
    launcher.close();
    await Promise.all(launched.map((proc) => proc[Symbol.asyncDispose]()));
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

/**
 * Pids of this process's children started with permissions under `root`: `deno test --parallel`
 * runs other test modules in this process, and their children are its children too.
 */
function childPids(root: string): number[] {
  return childProcesses(Deno.pid).filter((c) => c.cmdline.includes(root)).map((c) => c.pid);
}

Deno.test({
  name: "prestart starts one spare per permission set, which the set's first launch takes",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "runner-prestart-" });
    const { options, permissions } = spareSetup(root);
    const launcher = new SubprocessLauncher({ ...options, spareIdleMs: 60_000 });
    const launched: ExecutorProcess[] = [];
    try {
      launcher.prestart(permissions);
      launcher.prestart(permissions);
      const started = childPids(root);
      assert.equal(started.length, 1, "a second prestart of the set starts nothing");
      const first = launcher.launch(permissions);
      launched.push(first);
      assert.equal(first.isPrestarted, true, "the first launch takes the prestarted process");
      assert.equal(first.pid, started[0]);

      // Spares off (spareIdleMs 0): prestart starts nothing.
      const running = new Set(childPids(root));
      const off = new SubprocessLauncher(options);
      off.prestart(permissions);
      assert.deepEqual(childPids(root).filter((pid) => !running.has(pid)), []);
      off.close();
    } finally {
      launcher.close();
      await Promise.all(launched.map((proc) => proc[Symbol.asyncDispose]()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a launch's spare starts only once its job had the CPU for a while, and not at all when a process of the set is idle again by then",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "runner-spare-delay-" });
    const { options, permissions } = spareSetup(root);
    const started = () => childPids(root).sort();
    const launched: ExecutorProcess[] = [];
    const busy = new SubprocessLauncher({ ...options, spareIdleMs: 60_000 });
    const quick = new SubprocessLauncher({ ...options, spareIdleMs: 60_000 });
    try {
      // A job still running when the spare is due: its spare starts then, not beside it.
      const first = busy.launch(permissions);
      launched.push(first);
      assert.deepEqual(started(), [first.pid], "a spare started at once, beside the job");
      await untilSpareDue();
      const withSpare = started();
      assert.equal(withSpare.length, 2, "no spare for the next job once it was due");
      const next = busy.launch(permissions);
      launched.push(next);
      assert.equal(next.isPrestarted, true);
      assert.deepEqual(started(), withSpare, "the next job did not take the spare");
      // `next` was a burst launch only if it came within SPARE_BURST_GAP_MS of `first`; on a
      // loaded machine it may not, and its own spare would then start during the part below.
      busy.close();

      // A job whose process is back (idle) before the spare is due: that one is the next job's.
      const running = new Set(started());
      const own = () => started().filter((pid) => !running.has(pid));
      const quickJob = quick.launch(permissions);
      quick.release(quickJob);
      await untilSpareDue();
      assert.deepEqual(own(), [quickJob.pid], "a spare started beside an idle process of its set");
      const after = quick.launch(permissions);
      launched.push(after);
      assert.equal(after.pid, quickJob.pid, "the next job did not get the idle process");
      assert.equal(after.isPrestarted, true);
    } finally {
      busy.close();
      quick.close();
      await Promise.all(launched.map((proc) => proc[Symbol.asyncDispose]()));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
