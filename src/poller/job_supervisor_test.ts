import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import type { FromExecutor, SweptEvent, ToExecutor } from "../executors/process_protocol.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import { type Logger, SilentLogger } from "../log/logger.ts";
import type {
  JobRef,
  JobUpdate,
  PatchResult,
  TraceTransport,
  UpdateResult,
} from "../trace/transport.ts";
import type { ExecutorPermissions } from "./executor_permissions.ts";
import {
  type JobResult,
  JobSupervisor,
  type TraceSession,
  type TraceSessionFactory,
} from "./job_supervisor.ts";
import type { ExecutorLauncher, ExecutorProcess } from "./process_launcher.ts";

/** Says its result at once, then takes until `exit()` to end, as a process tearing down. */
class LingeringProcess implements ExecutorProcess {
  readonly pid = 4242;
  readonly #exit = Promise.withResolvers<Deno.CommandStatus>();
  readonly status = this.#exit.promise;
  isDisposed = false;

  exit(): void {
    this.#exit.resolve({ success: true, code: 0, signal: null });
  }

  send(_message: ToExecutor): Promise<void> {
    return Promise.resolve();
  }

  async *events(): AsyncIterable<{ trace: Uint8Array } | { event: FromExecutor }> {
    yield { trace: new TextEncoder().encode("hello\n") };
    yield { event: { type: "result", state: "success" } };
    // Its stdout closes only when it has exited.
    await this.status;
  }

  kill(): void {
    this.exit();
  }

  stderrTail(): string {
    return "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.status;
    this.isDisposed = true;
  }
}

class OneProcessLauncher implements ExecutorLauncher {
  constructor(readonly process: ExecutorProcess) {}
  launch(_permissions: ExecutorPermissions): ExecutorProcess {
    return this.process;
  }
}

class AcceptingTransport implements TraceTransport {
  patchTrace(_job: JobRef, _chunk: Uint8Array, _start: number): Promise<PatchResult> {
    return Promise.resolve({ kind: "accepted" });
  }
  updateJob(_job: JobRef, _update: JobUpdate): Promise<UpdateResult> {
    return Promise.resolve({ kind: "ok" });
  }
}

class RecordedTraces implements TraceSessionFactory {
  finished: JobResult[] = [];
  text = "";
  open(_runner: RunnerConfig, _job: JobSpec): TraceSession | Promise<TraceSession> {
    return {
      write: (chunk) => this.text += new TextDecoder().decode(chunk),
      finish: (result) => {
        this.finished.push(result);
        return Promise.resolve(true);
      },
    };
  }
}

const RUNNER = { ...defaultRunnerConfig("shell"), token: "glrt-test", url: "http://gitlab" };

/** A supervisor that gives every job to `process` and reports to `traces`. */
/** `supervisor.handle` of a job (a spec, or the id of a plain one) in slot 0. */
function handleJob(
  supervisor: JobSupervisor,
  runner: RunnerConfig,
  job: JobSpec | number,
  signal: AbortSignal = new AbortController().signal,
): Promise<void> {
  return supervisor.handle(
    runner,
    typeof job === "number" ? parseJobSpec({ id: job, token: "job-token" }) : job,
    { concurrentId: 0, concurrentProjectId: 0 },
    signal,
  );
}

function supervisorOf(
  process: ExecutorProcess,
  traces: RecordedTraces,
  extra: { timeoutGraceSeconds?: number } = {},
): JobSupervisor {
  return new JobSupervisor({
    log: new SilentLogger(),
    launcher: new OneProcessLauncher(process),
    traces,
    transportFor: () => new AcceptingTransport(),
    systemId: "s_test",
    cwd: "/nonexistent",
    tempDir: "/nonexistent/tmp",
    stateDir: "/nonexistent/state",
    env: () => undefined,
    ...extra,
  });
}

Deno.test("JobSupervisor reports the job when the executor process gives its result, not when it has exited", async () => {
  const process = new LingeringProcess();
  const traces = new RecordedTraces();
  const supervisor = supervisorOf(process, traces);
  const job = parseJobSpec({ id: 7, token: "job-token" });
  const handled = handleJob(supervisor, RUNNER, job).then(() => "reported" as const);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    handled,
    new Promise<"still waiting">((r) => timer = setTimeout(() => r("still waiting"), 5000)),
  ]);
  clearTimeout(timer);
  if (outcome !== "reported") {
    process.exit();
    await handled;
  }
  assert.equal(outcome, "reported");
  // The final update went out while the process was still exiting.
  assert.deepEqual(traces.finished, [{ state: "success" }]);
  assert.equal(traces.text, "hello\n");
  assert.equal(process.isDisposed, false);
  // settled() waits for the exiting process, which is then cleaned up.
  let isSettled = false;
  const settled = supervisor.settled().then(() => isSettled = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(isSettled, false);
  process.exit();
  await settled;
  assert.equal(process.isDisposed, true);
});

/** Runs until `finish()`, recording the cancel messages it is sent meanwhile. */
class FinishingProcess implements ExecutorProcess {
  readonly pid = 4343;
  readonly #done = Promise.withResolvers<void>();
  readonly status = this.#done.promise.then(() => ({ success: true, code: 0, signal: null }));
  cancels: ToExecutor[] = [];
  /** The type of every message sent, in order. */
  sent: string[] = [];

  finish(): void {
    this.#done.resolve();
  }

  send(message: ToExecutor): Promise<void> {
    this.sent.push(message.type);
    if (message.type === "cancel") this.cancels.push(message);
    return Promise.resolve();
  }

  async *events(): AsyncIterable<{ trace: Uint8Array } | { event: FromExecutor }> {
    await this.#done.promise;
    yield { event: { type: "result", state: "success" } };
  }

  kill(): void {
    this.finish();
  }

  stderrTail(): string {
    return "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.status;
  }
}

Deno.test("JobSupervisor lets a job with a month-long timeout run: its watchdog does not fire at once", async () => {
  // A single timer takes at most 2^31-1 ms (24.8 days); a longer one fired after 1 ms.
  const process = new FinishingProcess();
  const traces = new RecordedTraces();
  const supervisor = supervisorOf(process, traces, { timeoutGraceSeconds: 0 });
  const job = parseJobSpec({ id: 8, token: "job-token", runner_info: { timeout: 30 * 24 * 3600 } });
  assert.equal(job.timeout, 2_592_000);
  const handled = handleJob(supervisor, RUNNER, job);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(process.cancels, []);
  process.finish();
  await handled;
  await supervisor.settled();
  assert.deepEqual(traces.finished, [{ state: "success" }]);
});

Deno.test("JobSupervisor cancels a job whose runner was stopped before its executor process got it", async () => {
  // SIGTERM between the job's acceptance and its launch: the stop signal is
  // already aborted when the supervisor starts watching it.
  const process = new FinishingProcess();
  const traces = new RecordedTraces();
  const supervisor = supervisorOf(process, traces);
  const stop = new AbortController();
  stop.abort();
  const handled = handleJob(supervisor, RUNNER, 9, stop.signal);
  for (let i = 0; i < 100 && process.cancels.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  // Sent after the start message, which the process would otherwise drop it before.
  assert.deepEqual(process.sent, ["start", "cancel"]);
  assert.deepEqual(process.cancels, [{ type: "cancel", graceful: false }]);
  process.finish();
  await handled;
  await supervisor.settled();
  assert.equal(traces.finished.length, 1);
});

/** Opens each trace once `release()` is called, recording into `order` when it was asked to. */
class SlowTraces extends RecordedTraces {
  readonly #released = Promise.withResolvers<void>();
  constructor(readonly order: string[]) {
    super();
  }
  release(): void {
    this.#released.resolve();
  }
  override open(runner: RunnerConfig, job: JobSpec): Promise<TraceSession> {
    this.order.push("open trace");
    return this.#released.promise.then(() => super.open(runner, job));
  }
}

Deno.test("JobSupervisor sends the job to its executor process before it opens the job's trace, and relays all output once it is open", async () => {
  // A fresh runner's first job loads the trace pipeline as its trace opens:
  // the executor process runs the job meanwhile, its output waits for the trace.
  const order: string[] = [];
  const process = new LingeringProcess();
  const send = process.send.bind(process);
  process.send = (message) => {
    order.push(message.type);
    return send(message);
  };
  const traces = new SlowTraces(order);
  const supervisor = supervisorOf(process, traces);
  const handled = handleJob(supervisor, RUNNER, 10);
  for (let i = 0; i < 100 && order.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(order, ["start", "open trace"]);
  assert.equal(traces.text, "");
  traces.release();
  await handled;
  assert.equal(traces.text, "hello\n");
  assert.deepEqual(traces.finished, [{ state: "success" }]);
  process.exit();
  await supervisor.settled();
});

/** Records the job updates it is sent. */
class RecordingTransport extends AcceptingTransport {
  updates: JobUpdate[] = [];
  override updateJob(job: JobRef, update: JobUpdate): Promise<UpdateResult> {
    this.updates.push(update);
    return super.updateJob(job, update);
  }
}

Deno.test("JobSupervisor stops the job and fails it as runner_system_failure when its trace cannot open", async () => {
  const process = new FinishingProcess();
  const transport = new RecordingTransport();
  const supervisor = new JobSupervisor({
    log: new SilentLogger(),
    launcher: new OneProcessLauncher(process),
    traces: { open: () => Promise.reject(new Error("no trace today")) },
    transportFor: () => transport,
    systemId: "s_test",
    cwd: "/nonexistent",
    tempDir: "/nonexistent/tmp",
    stateDir: "/nonexistent/state",
    env: () => undefined,
  });
  const handled = handleJob(supervisor, RUNNER, 11);
  for (let i = 0; i < 100 && process.cancels.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(process.sent, ["start", "cancel"]);
  assert.deepEqual(process.cancels, [{ type: "cancel", graceful: false }]);
  process.finish();
  await handled;
  await supervisor.settled();
  assert.deepEqual(transport.updates, [
    { state: "running" },
    { state: "failed", failureReason: "runner_system_failure" },
  ]);
});

/** Says nothing and never ends its job until killed, as a hung or crashing executor process. */
class HungProcess implements ExecutorProcess {
  readonly pid = 4444;
  readonly #killed = Promise.withResolvers<Deno.Signal>();
  readonly status = this.#killed.promise.then((signal) => ({ success: false, code: 1, signal }));
  signals: Deno.Signal[] = [];
  sent: string[] = [];

  send(message: ToExecutor): Promise<void> {
    this.sent.push(message.type);
    return Promise.resolve();
  }

  async *events(): AsyncIterable<{ trace: Uint8Array } | { event: FromExecutor }> {
    // Its stdout closes, with nothing said, when it dies.
    const ended: ({ trace: Uint8Array } | { event: FromExecutor })[] = [];
    await this.status;
    yield* ended;
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.signals.push(signal);
    if (signal === "SIGKILL") this.#killed.resolve(signal);
  }

  stderrTail(): string {
    return "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.status;
  }
}

/** A process given a `sweep` message: answers once `answer()` is called, then exits. */
class SweepProcess implements ExecutorProcess {
  readonly pid = 4545;
  readonly #answer = Promise.withResolvers<SweptEvent | null>();
  readonly #exited = Promise.withResolvers<Deno.CommandStatus>();
  readonly status = this.#exited.promise;
  messages: ToExecutor[] = [];
  signals: Deno.Signal[] = [];

  answer(swept: SweptEvent): void {
    this.#answer.resolve(swept);
    this.#exited.resolve({ success: true, code: 0, signal: null });
  }

  send(message: ToExecutor): Promise<void> {
    this.messages.push(message);
    return Promise.resolve();
  }

  async *events(): AsyncIterable<{ trace: Uint8Array } | { event: FromExecutor }> {
    const swept = await this.#answer.promise;
    if (swept) yield { event: swept };
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    this.signals.push(signal);
    this.#answer.resolve(null);
    this.#exited.resolve({ success: false, code: 137, signal });
  }

  stderrTail(): string {
    return "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.status;
  }
}

/** Hands out `processes` in order, recording the permission set of each launch. */
class QueueLauncher implements ExecutorLauncher {
  launched: ExecutorPermissions[] = [];
  constructor(readonly processes: ExecutorProcess[]) {}
  launch(permissions: ExecutorPermissions): ExecutorProcess {
    this.launched.push(permissions);
    const process = this.processes.shift();
    if (!process) throw new Error("no process left");
    return process;
  }
}

class RecordingLogger implements Logger {
  lines: string[] = [];
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push(`debug ${msg} ${JSON.stringify(fields ?? {})}`);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push(`info ${msg} ${JSON.stringify(fields ?? {})}`);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push(`warn ${msg} ${JSON.stringify(fields ?? {})}`);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push(`error ${msg} ${JSON.stringify(fields ?? {})}`);
  }
  child(): Logger {
    return this;
  }
}

const DOCKER_RUNNER = {
  ...defaultRunnerConfig("docker"),
  token: "glrt-docker",
  url: "http://gitlab",
};

const SWEPT: SweptEvent = {
  type: "swept",
  containers: ["runner-x-job-1-build"],
  networks: ["runner-x-job-1-network"],
  volumes: [],
  failures: [],
};

function sweepingSupervisor(
  launcher: ExecutorLauncher,
  traces: RecordedTraces,
  extra: { log?: Logger; sweepTimeoutMs?: number } = {},
): JobSupervisor {
  return new JobSupervisor({
    log: extra.log ?? new SilentLogger(),
    launcher,
    traces,
    transportFor: () => new AcceptingTransport(),
    systemId: "s_test",
    cwd: "/nonexistent",
    tempDir: "/nonexistent/tmp",
    stateDir: "/nonexistent/state",
    env: () => undefined,
    ...(extra.sweepTimeoutMs ? { sweepTimeoutMs: extra.sweepTimeoutMs } : {}),
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

for (const executor of ["docker", "docker+ssh"] as const) {
  Deno.test(`JobSupervisor has a fresh process of the job's permission set remove what a crashed ${executor} job's executor process left`, async () => {
    const crashed = new HungProcess();
    const sweeper = new SweepProcess();
    const launcher = new QueueLauncher([crashed, sweeper]);
    const traces = new RecordedTraces();
    const log = new RecordingLogger();
    const supervisor = sweepingSupervisor(launcher, traces, { log });
    const handled = handleJob(supervisor, {
      ...defaultRunnerConfig(executor),
      token: "glrt-docker",
      url: "http://gitlab",
    }, 10);
    await until(() => crashed.sent.includes("start"), "the job was sent");
    crashed.kill("SIGKILL");
    // The job is reported without waiting for the sweep.
    await handled;
    assert.deepEqual(traces.finished, [{
      state: "failed",
      failureReason: "runner_system_failure",
    }]);
    await until(() => sweeper.messages.length > 0, "the sweep was sent");
    assert.equal(launcher.launched.length, 2);
    assert.deepEqual(launcher.launched[1], launcher.launched[0]);
    const [message] = sweeper.messages;
    assert.equal(message?.type, "sweep");
    if (message?.type !== "sweep") return;
    assert.equal(message.stateDir, "/nonexistent/state");
    assert.equal(message.runner.executor, executor);
    assert.equal(message.runner.token, "", "never the runner token");
    let isSettled = false;
    const settled = supervisor.settled().then(() => isSettled = true);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(isSettled, false, "settled() waits for the sweep");
    sweeper.answer(SWEPT);
    await settled;
    const removed = log.lines.find((l) => l.includes("Removed what the executor process left"));
    assert.ok(removed, log.lines.join("\n"));
    assert.match(removed, /runner-x-job-1-build/);
    assert.match(removed, /runner-x-job-1-network/);
  });
}

Deno.test("JobSupervisor sweeps nothing after a shell job's executor process crashed", async () => {
  const crashed = new HungProcess();
  const launcher = new QueueLauncher([crashed]);
  const traces = new RecordedTraces();
  const supervisor = sweepingSupervisor(launcher, traces);
  const handled = handleJob(supervisor, RUNNER, 11);
  await until(() => crashed.sent.includes("start"), "the job was sent");
  crashed.kill("SIGKILL");
  await handled;
  await supervisor.settled();
  assert.equal(launcher.launched.length, 1);
});

Deno.test("JobSupervisor.killRunning kills a docker job's executor process that ignores its cancel, then sweeps", async () => {
  const hung = new HungProcess();
  const sweeper = new SweepProcess();
  const launcher = new QueueLauncher([hung, sweeper]);
  const traces = new RecordedTraces();
  const supervisor = sweepingSupervisor(launcher, traces);
  const stop = new AbortController();
  const handled = handleJob(supervisor, DOCKER_RUNNER, 12, stop.signal);
  await until(() => hung.sent.includes("start"), "the job was sent");
  stop.abort();
  await until(() => hung.sent.includes("cancel"), "the cancel was sent");
  assert.deepEqual(hung.signals, []);
  await supervisor.killRunning();
  assert.deepEqual(hung.signals, ["SIGKILL"]);
  // By then the sweep is under way: settled() waits for it.
  assert.equal(launcher.launched.length, 2);
  sweeper.answer(SWEPT);
  await supervisor.settled();
  await handled;
  assert.deepEqual(traces.finished, [{ state: "failed", failureReason: "runner_interrupted" }]);
});

Deno.test("JobSupervisor kills a sweep process that does not answer within sweepTimeoutMs, and says so", async () => {
  const crashed = new HungProcess();
  const sweeper = new SweepProcess();
  const launcher = new QueueLauncher([crashed, sweeper]);
  const log = new RecordingLogger();
  const supervisor = sweepingSupervisor(launcher, new RecordedTraces(), {
    log,
    sweepTimeoutMs: 50,
  });
  const handled = handleJob(supervisor, DOCKER_RUNNER, 13);
  await until(() => crashed.sent.includes("start"), "the job was sent");
  crashed.kill("SIGKILL");
  await handled;
  await supervisor.settled();
  assert.deepEqual(sweeper.signals, ["SIGKILL"]);
  assert.ok(
    log.lines.some((l) => /^warn .*did not finish within 0.05 s/.test(l)),
    log.lines.join("\n"),
  );
});

/** Records the permission sets it is asked to prestart; launches from a queue. */
class PrestartingLauncher extends QueueLauncher {
  prestarted: ExecutorPermissions[] = [];
  prestart(permissions: ExecutorPermissions): void {
    this.prestarted.push(permissions);
  }
}

Deno.test("JobSupervisor prestarts the permission set each runner's first job launches with, once per set and at most concurrent", async () => {
  const docker = { ...defaultRunnerConfig("docker"), token: "glrt-docker", url: "http://gitlab" };
  const other = { ...RUNNER, token: "glrt-other", buildsDir: "/srv/other-builds" };
  const launcher = new PrestartingLauncher([new LingeringProcess(), new LingeringProcess()]);
  const supervisor = sweepingSupervisor(launcher, new RecordedTraces());
  // RUNNER twice (a second token with the same directories): one set.
  supervisor.prestart([RUNNER, { ...RUNNER, token: "glrt-same" }, docker, other], 2);
  assert.equal(launcher.prestarted.length, 2, "at most concurrent = 2 sets");

  for (const [runner, id] of [[RUNNER, 1], [docker, 2]] as const) {
    const process = launcher.processes[0] as LingeringProcess;
    const handled = handleJob(supervisor, runner, id);
    process.exit();
    await handled;
  }
  // The job's own set: what the launcher keyed the spare by is what each first job asked for.
  assert.deepEqual(launcher.prestarted, launcher.launched);

  const all = new PrestartingLauncher([]);
  sweepingSupervisor(all, new RecordedTraces()).prestart([RUNNER, docker, other], 10);
  assert.equal(all.prestarted.length, 3, "one per set");
  assert.notDeepEqual(all.prestarted[2], all.prestarted[0], "other builds_dir, other set");
});

Deno.test("JobSupervisor.prestart never throws: a launcher that cannot start a process is left for the first job to report", () => {
  class FailingLauncher extends PrestartingLauncher {
    override prestart(permissions: ExecutorPermissions): void {
      super.prestart(permissions);
      throw new Error("spawn failed");
    }
  }
  const launcher = new FailingLauncher([]);
  sweepingSupervisor(launcher, new RecordedTraces()).prestart([RUNNER], 1);
  assert.equal(launcher.prestarted.length, 1);
});

/** Says a line, then runs until killed, as a job in its script. */
class TalkingProcess extends HungProcess {
  override async *events(): AsyncIterable<{ trace: Uint8Array } | { event: FromExecutor }> {
    yield { trace: new TextEncoder().encode("compiling\n") };
    await this.status;
  }
}

Deno.test("JobSupervisor ends and reports a job whose output it cannot take, instead of waiting on its process for ever", async () => {
  const process = new TalkingProcess();
  const finished: JobResult[] = [];
  let writes = 0;
  const supervisor = new JobSupervisor({
    log: new SilentLogger(),
    launcher: new OneProcessLauncher(process),
    traces: {
      open: () => ({
        write: () => {
          if (writes++ === 0) {
            throw new Error("Cannot write job trace file: No space left on device");
          }
        },
        finish: (result) => {
          finished.push(result);
          return Promise.resolve(true);
        },
      }),
    },
    transportFor: () => new AcceptingTransport(),
    systemId: "s_test",
    cwd: "/nonexistent",
    tempDir: "/nonexistent/tmp",
    stateDir: "/nonexistent/state",
    env: () => undefined,
  });
  const handled = handleJob(supervisor, RUNNER, 12).then(() => "reported" as const);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    handled,
    new Promise<"still waiting">((r) => timer = setTimeout(() => r("still waiting"), 5000)),
  ]);
  clearTimeout(timer);
  if (outcome !== "reported") {
    process.kill("SIGKILL");
    await handled;
  }
  await supervisor.settled();
  assert.equal(outcome, "reported");
  assert.deepEqual(process.signals, ["SIGKILL"]);
  assert.deepEqual(finished, [{ state: "failed", failureReason: "runner_system_failure" }]);
});
