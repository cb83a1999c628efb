import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import type { FromExecutor, ToExecutor } from "../executors/process_protocol.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import type { Logger } from "../log/logger.ts";
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

class SilentLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}

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
  open(_runner: RunnerConfig, _job: JobSpec): TraceSession {
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
  const handled = supervisor.handle(
    RUNNER,
    job,
    { concurrentId: 0, concurrentProjectId: 0 },
    new AbortController().signal,
  ).then(() => "reported" as const);
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
  const handled = supervisor.handle(
    RUNNER,
    job,
    { concurrentId: 0, concurrentProjectId: 0 },
    new AbortController().signal,
  );
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
  const handled = supervisor.handle(
    RUNNER,
    parseJobSpec({ id: 9, token: "job-token" }),
    { concurrentId: 0, concurrentProjectId: 0 },
    stop.signal,
  );
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
