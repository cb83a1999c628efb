/**
 * Executor processes run several jobs of the same permission set one after
 * another (poller/process_launcher.ts, cli/executor_process.ts). What a user
 * sees: a job's shell is a child of the same executor process as the previous
 * job's (`$PPID`), a process is replaced after MAX_JOBS_PER_PROCESS jobs, one
 * killed while idle is never given a job, cancel works in a reused process, and
 * a job's processes do not outlive it there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { MAIN_MODULE, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { executorPermissions } from "../../src/poller/executor_permissions.ts";
import {
  type ExecutorProcess,
  type LauncherOptions,
  START_GATE_MAX_MS,
  SubprocessLauncher,
} from "../../src/poller/process_launcher.ts";
import {
  type JobResult,
  JobSupervisor,
  type TraceSessionFactory,
} from "../../src/poller/job_supervisor.ts";
import type { LogFields, Logger } from "../../src/log/logger.ts";
import { MAX_JOBS_PER_PROCESS } from "../../src/cli/executor_process.ts";
import { config, killByMarker, NO_GIT } from "./_runner_setup.ts";
import { runExecutorJob } from "../fixtures/executor_job.ts";

/** The pid the job printed as `executor=<pid>`: its shell's parent, the executor process. */
function executorOf(trace: string): number {
  const pid = /^executor=(\d+)$/m.exec(trace)?.[1];
  assert.ok(pid, `the job printed its executor pid:\n${trace}`);
  return Number(pid);
}

const PRINT_EXECUTOR = 'echo "executor=$PPID"';

async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function hasProcessWith(marker: string): Promise<boolean> {
  const ps = await new Deno.Command("pgrep", { args: ["-f", marker], stdout: "null" }).output();
  return ps.success;
}

async function startShellRunner(gitlab: FakeGitLab) {
  const r = gitlab.createRunner({ kind: "created" });
  return await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { log_level: "debug" }),
    env: cleanHome(),
  });
}

Deno.test("concurrent = 1: the second job runs in the same executor process as the first", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using runner = await startShellRunner(gitlab);
  const first = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
  const a = await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 });
  assert.equal(a.status, "success", a.trace + runner.log);
  const second = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
  const b = await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 });
  assert.equal(b.status, "success", b.trace + runner.log);
  assert.equal(executorOf(b.trace), executorOf(a.trace));
  assert.ok(await isRunning(executorOf(a.trace)), "the executor process waits for the next job");
});

Deno.test("an executor process killed while idle is not reused: the next job runs in a new one", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using runner = await startShellRunner(gitlab);
  const first = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
  const a = await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 });
  assert.equal(a.status, "success", a.trace + runner.log);
  const idle = executorOf(a.trace);
  // The job is reported before its process says idle: wait until it waits for a job.
  await runner.waitForLog(new RegExp(`Executor process idle.*pid[=":]+${idle}\\b`));
  Deno.kill(idle, "SIGKILL");
  await gitlab.waitFor(async () => !(await isRunning(idle)), { what: "the idle process gone" });
  const second = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
  const b = await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 });
  assert.equal(b.status, "success", b.trace + runner.log);
  assert.notEqual(executorOf(b.trace), idle);
});

Deno.test("cancel of the second job in a reused executor process stops it; the process serves on", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using runner = await startShellRunner(gitlab);
  const marker = `runner-reuse-cancel-${crypto.randomUUID()}`;
  try {
    const first = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
    const a = await gitlab.waitForJobFinished(first.id, { timeoutMs: 60_000 });
    assert.equal(a.status, "success", a.trace + runner.log);
    const second = gitlab.enqueueJob({
      script: [PRINT_EXECUTOR, "echo started", `sh -c 'sleep 300; :' ${marker}`],
      afterScript: ["echo after: $CI_JOB_STATUS"],
      variables: NO_GIT,
    });
    await gitlab.waitFor(() => gitlab.jobOf(second.id).trace.includes("started"), {
      what: "the second job started",
      timeoutMs: 60_000,
    });
    gitlab.cancelJob(second.id, { graceful: true });
    const b = await gitlab.waitForJobFinished(second.id, { timeoutMs: 60_000 });
    assert.equal(b.status, "canceled", b.trace + runner.log);
    assert.equal(executorOf(b.trace), executorOf(a.trace));
    assert.match(b.trace, /after: canceled/);
    await gitlab.waitFor(async () => !(await hasProcessWith(marker)), {
      what: "the canceled job's sleep to end",
      timeoutMs: 10_000,
    });
    const third = gitlab.enqueueJob({ script: [PRINT_EXECUTOR], variables: NO_GIT });
    const c = await gitlab.waitForJobFinished(third.id, { timeoutMs: 60_000 });
    assert.equal(c.status, "success", c.trace + runner.log);
    assert.equal(executorOf(c.trace), executorOf(a.trace));
  } finally {
    await killByMarker(marker);
  }
});

/** A shell job of `script` lines for the launcher-level tests. */
function shellJob(id: number, script: string[]) {
  return parseJobSpec({
    id,
    token: `job-token-${id}`,
    steps: [{ name: "script", script, when: "on_success", timeout: 3600 }],
    variables: [{ key: "GIT_STRATEGY", value: "none" }],
    "job_info": { name: "job", stage: "test", "project_id": 1, "project_full_path": "g/p" },
    "git_info": { "repo_url": "http://127.0.0.1:9/g/p.git", ref: "main", sha: "0".repeat(40) },
    "runner_info": { timeout: 3600 },
  });
}

/** A real launcher of shell executor processes, and one job run through it. */
async function reuseLauncher(
  scoping: "flags" | "worker",
  idleMs = 60_000,
  gate: { startLimit?: number; startGateMaxMs?: number } = {},
) {
  const root = await Deno.makeTempDir({ prefix: "runner-reuse-" });
  const tempDir = join(root, "tmp");
  await Deno.mkdir(tempDir);
  const runners = {
    a: { ...defaultRunnerConfig("shell"), url: "http://127.0.0.1:9", buildsDir: join(root, "a") },
    b: { ...defaultRunnerConfig("shell"), url: "http://127.0.0.1:9", buildsDir: join(root, "b") },
  };
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...cleanHome() },
    spareIdleMs: idleMs,
    ...gate,
  });
  const permissionsOf = (runner: typeof runners.a) =>
    executorPermissions({
      runner,
      cwd: root,
      tempDir,
      stateDir: join(root, "state"),
      env: () => undefined,
    });
  const jobs = {
    launcher,
    /** The permission set of runner `a` or `b`. */
    permissions: (which: "a" | "b") => permissionsOf(runners[which]),
    /**
     * Runs one job of runner `a` (or `b`: another builds_dir, so another row);
     * its executor's pid, and whether the process said idle (then it is released).
     */
    runJob(id: number, which: "a" | "b" = "a") {
      return jobs.runOn(launcher.launch(permissionsOf(runners[which])), id, which);
    },
    /** runJob in a process the test launched. */
    async runOn(proc: ExecutorProcess, id: number, which: "a" | "b" = "a") {
      const runner = runners[which];
      const { trace, state, isIdle } = await runExecutorJob(proc, {
        job: shellJob(id, [PRINT_EXECUTOR]),
        runner,
        cwd: root,
        stateDir: join(root, "state"),
        tempDir,
        isReusable: true,
      });
      assert.equal(state, "success", trace + proc.stderrTail());
      if (isIdle) launcher.release(proc);
      else await proc[Symbol.asyncDispose]();
      return { pid: executorOf(trace), process: proc.pid, isIdle };
    },
    close: () => launcher.close(),
    async [Symbol.asyncDispose]() {
      launcher.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  return jobs;
}

Deno.test(`an executor process serves at most ${MAX_JOBS_PER_PROCESS} jobs, then exits and the next job gets a new one`, async () => {
  await using jobs = await reuseLauncher("flags");
  const first = await jobs.runJob(1);
  assert.equal(first.pid, first.process);
  for (let n = 2; n < MAX_JOBS_PER_PROCESS; n++) {
    const job = await jobs.runJob(n);
    assert.equal(job.pid, first.pid, `job ${n} ran in the first process`);
    assert.ok(job.isIdle);
  }
  const last = await jobs.runJob(MAX_JOBS_PER_PROCESS);
  assert.equal(last.pid, first.pid);
  assert.equal(last.isIdle, false, "the process exits after its last job");
  assert.equal(await isRunning(first.pid), false);
  const next = await jobs.runJob(MAX_JOBS_PER_PROCESS + 1);
  assert.notEqual(next.pid, first.pid);
});

Deno.test("an idle executor process is given only a job of the same permission set", async () => {
  await using jobs = await reuseLauncher("flags");
  const first = await jobs.runJob(1, "a");
  assert.ok(first.isIdle);
  const other = await jobs.runJob(2, "b");
  assert.notEqual(other.pid, first.pid, "a job of another row got the idle process");
  const same = await jobs.runJob(3, "a");
  assert.equal(same.pid, first.pid);
});

Deno.test("an idle executor process is stopped after spareIdleMs unused, and at close()", async () => {
  await using jobs = await reuseLauncher("flags", 1500);
  const first = await jobs.runJob(1);
  assert.ok(first.isIdle);
  const deadline = Date.now() + 10_000;
  while (await isRunning(first.pid)) {
    assert.ok(Date.now() < deadline, "the idle process still runs 10 s after spareIdleMs");
    await new Promise((r) => setTimeout(r, 100));
  }
  const second = await jobs.runJob(2);
  assert.notEqual(second.pid, first.pid);
  assert.ok(second.isIdle && await isRunning(second.pid));
  jobs.close();
  const closed = Date.now() + 5_000;
  while (await isRunning(second.pid)) {
    assert.ok(Date.now() < closed, "the idle process still runs 5 s after close()");
    await new Promise((r) => setTimeout(r, 50));
  }
});

Deno.test("a compiled binary's executor process (scoped worker) runs the next job too", async () => {
  await using jobs = await reuseLauncher("worker");
  const first = await jobs.runJob(1);
  assert.ok(first.isIdle);
  const second = await jobs.runJob(2);
  assert.equal(second.pid, first.pid);
  assert.equal(second.process, first.process);
});

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<false>((r) => timer = setTimeout(() => r(false), ms)),
  ]);
  clearTimeout(timer);
  return settled;
}

Deno.test("with startLimit 1, a launch waits while a process starts: until it says something, or a process of its set is free", async () => {
  // Only the first output ends a start here.
  await using jobs = await reuseLauncher("flags", 60_000, {
    startLimit: 1,
    startGateMaxMs: 60_000,
  });
  const { launcher } = jobs;
  const procs: ExecutorProcess[] = [];
  try {
    // Runner a's process is starting (it was given no job, so it says nothing).
    const first = launcher.launch(jobs.permissions("a"));
    procs.push(first);
    const forB = launcher.launchWhenReady(jobs.permissions("b"));
    assert.equal(await settlesWithin(forB, 600), false, "a second start began beside the first");
    // Its first job's log is its first output: the start has ended.
    const ran = jobs.runOn(first, 1);
    assert.equal(await settlesWithin(forB, 30_000), true, "the first start's end let no launch go");
    const b = await forB;
    procs.push(b);
    assert.equal(b.isPrestarted, false);
    const job1 = await ran;
    assert.ok(job1.isIdle);
    launcher.release(first);

    // b's process is starting now; a's is free and goes to the next job of a at once.
    const forA = launcher.launchWhenReady(jobs.permissions("a"));
    assert.equal(
      await settlesWithin(forA, 100),
      true,
      "a job waited although its set's process was free",
    );
    assert.equal((await forA).pid, first.pid);
  } finally {
    jobs.close();
    await Promise.all(procs.map((proc) => proc[Symbol.asyncDispose]()));
  }
});

Deno.test("a process that says nothing holds the start gate for START_GATE_MAX_MS at most", async () => {
  // No spares (spareIdleMs 0): only the start gate decides.
  await using jobs = await reuseLauncher("flags", 0, { startLimit: 1 });
  const { launcher } = jobs;
  const procs: ExecutorProcess[] = [launcher.launch(jobs.permissions("a"))];
  try {
    const started = performance.now();
    const forB = launcher.launchWhenReady(jobs.permissions("b"));
    assert.equal(await settlesWithin(forB, START_GATE_MAX_MS - 500), false);
    assert.equal(await settlesWithin(forB, 30_000), true, "a silent process held the gate");
    procs.push(await forB);
    assert.ok(performance.now() - started >= START_GATE_MAX_MS - 50);
  } finally {
    jobs.close();
    await Promise.all(procs.map((proc) => proc[Symbol.asyncDispose]()));
  }
});

/**
 * A shell runner's row under a fresh temp directory, and a JobSupervisor that
 * gives its jobs to real executor processes of a launcher with `gate`.
 */
async function supervisedRunner(
  name: string,
  gate: Pick<LauncherOptions, "spareIdleMs" | "startLimit" | "startGateMaxMs">,
  traces: TraceSessionFactory,
  log: Logger = new RecordingLogger(),
) {
  const root = await Deno.makeTempDir({ prefix: `runner-${name}-` });
  const tempDir = join(root, "tmp");
  await Deno.mkdir(tempDir);
  const stateDir = join(root, "state");
  const runner = {
    ...defaultRunnerConfig("shell"),
    url: "http://127.0.0.1:9",
    token: `glrt-${name}`,
    buildsDir: join(root, "builds"),
  };
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    mainModule: MAIN_MODULE,
    scoping: "flags",
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...cleanHome() },
    ...gate,
  });
  const supervisor = new JobSupervisor({
    log,
    launcher,
    traces,
    transportFor: () => ({
      patchTrace: () => Promise.reject(new Error("not used")),
      updateJob: () => Promise.resolve({ kind: "ok" as const }),
    }),
    systemId: "s_0123456789ab",
    cwd: root,
    tempDir,
    stateDir,
    env: () => undefined,
  });
  const permissions = executorPermissions({
    runner,
    cwd: root,
    tempDir,
    stateDir,
    env: () => undefined,
  });
  return { root, runner, launcher, supervisor, permissions };
}

Deno.test("a job waiting behind the start gate goes once the runner stops, and is aborted like the others", async () => {
  let result: JobResult | null = null;
  let isOpened = false;
  // Only a stop ends the wait here: the silent process below holds the gate for a minute.
  const { root, runner, launcher, supervisor, permissions } = await supervisedRunner(
    "gate-stop",
    { startLimit: 1, startGateMaxMs: 60_000 },
    {
      // Opened once an executor process has the job.
      open: () => {
        isOpened = true;
        return {
          write: () => {},
          finish: (r) => {
            result = r;
            return Promise.resolve(true);
          },
        };
      },
    },
  );
  const silent = launcher.launch(permissions);
  const stop = new AbortController();
  try {
    const handled = supervisor.handle(
      runner,
      shellJob(1, ["sleep 30"]),
      { concurrentId: 0, concurrentProjectId: 0 },
      stop.signal,
    );
    assert.equal(await settlesWithin(handled, 1000), false);
    assert.equal(isOpened, false, "the job got a process beyond the start limit");
    stop.abort("SIGTERM");
    assert.equal(await settlesWithin(handled, 20_000), true, "the stop left the job waiting");
    assert.equal((result as JobResult | null)?.state, "failed");
  } finally {
    launcher.close();
    await silent[Symbol.asyncDispose]();
    await supervisor.settled();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

/** The supervisor's log lines, to see when a process went back to the launcher. */
class RecordingLogger implements Logger {
  readonly lines: string[] = [];
  #fields: LogFields;
  constructor(fields: LogFields = {}, lines?: string[]) {
    this.#fields = fields;
    if (lines) this.lines = lines;
  }
  #record(msg: string, fields?: LogFields): void {
    this.lines.push(`${msg} ${JSON.stringify({ ...this.#fields, ...fields })}`);
  }
  debug(msg: string, fields?: LogFields): void {
    this.#record(msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#record(msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#record(msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#record(msg, fields);
  }
  child(fields: LogFields): Logger {
    return new RecordingLogger({ ...this.#fields, ...fields }, this.lines);
  }
}

Deno.test("an idle executor process killed just as it is given the next job: the job runs in a new one", async () => {
  const log = new RecordingLogger();
  const traces = new Map<number, { text: string; result: JobResult | null }>();
  const traceOf = (id: number) => {
    const collected = traces.get(id);
    assert.ok(collected, `job ${id} got a trace session`);
    return collected;
  };
  const { root, runner, launcher, supervisor } = await supervisedRunner(
    "reuse-race",
    { spareIdleMs: 60_000 },
    {
      open: (_runner, job) => {
        const collected = { text: "", result: null as JobResult | null };
        traces.set(job.id, collected);
        const decoder = new TextDecoder();
        return {
          write: (chunk) => collected.text += decoder.decode(chunk, { stream: true }),
          finish: (result) => {
            collected.result = result;
            return Promise.resolve(true);
          },
        };
      },
    },
    log,
  );
  const slot = { concurrentId: 0, concurrentProjectId: 0 };
  try {
    await supervisor.handle(
      runner,
      shellJob(1, [PRINT_EXECUTOR]),
      slot,
      new AbortController().signal,
    );
    assert.equal(traceOf(1).result?.state, "success", traceOf(1).text);
    const idle = executorOf(traceOf(1).text);
    const deadline = Date.now() + 10_000;
    while (!log.lines.some((l) => l.startsWith("Executor process idle") && l.includes(`${idle}`))) {
      assert.ok(Date.now() < deadline, `the process never went idle:\n${log.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Killed in the same turn as the next job arrives: nobody has seen it exit yet.
    Deno.kill(idle, "SIGKILL");
    await supervisor.handle(
      runner,
      shellJob(2, [PRINT_EXECUTOR]),
      slot,
      new AbortController().signal,
    );
    assert.equal(traceOf(2).result?.state, "success", traceOf(2).text + log.lines.join("\n"));
    assert.notEqual(executorOf(traceOf(2).text), idle);
    assert.doesNotMatch(traceOf(2).text, /ERROR/);
    assert.ok(
      log.lines.some((l) => l.startsWith("Executor process was gone before it got the job")),
      log.lines.join("\n"),
    );
  } finally {
    launcher.close();
    await supervisor.settled();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
