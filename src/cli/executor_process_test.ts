import assert from "node:assert/strict";
import {
  type CancelMessage,
  encodeMessage,
  FRAME_MESSAGE,
  FRAME_TRACE,
  FRAME_TRACE_STDERR,
  FrameDecoder,
  type FromExecutor,
  type StartMessage,
  type ToExecutor,
} from "../executors/process_protocol.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import {
  type ControlChannel,
  ControlReader,
  FrameWriter,
  runExecutorProcess,
} from "./executor_process.ts";
import { SilentLogger } from "../log/logger.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import { directSink, directSource } from "./direct_io.ts";

function start(id: number): StartMessage {
  return { type: "start", job: { id } } as unknown as StartMessage;
}

/** The next job's channel; fails the test on a sweep or the end of stdin. */
async function nextJob(reader: ControlReader): Promise<ControlChannel> {
  const job = await reader.nextJob();
  assert.ok(job !== null && "start" in job, "a job");
  return job;
}

/** A stdin the test writes frames to, several messages per chunk when asked. */
function stdin() {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  return {
    readable,
    send: (...messages: ToExecutor[]) => {
      const frames = messages.map(encodeMessage);
      const chunk = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let at = 0;
      for (const frame of frames) {
        chunk.set(frame, at);
        at += frame.length;
      }
      return writer.write(chunk);
    },
    close: () => writer.close(),
  };
}

Deno.test("ControlReader: messages in the same read as the start message reach that job", async () => {
  const input = stdin();
  const reader = new ControlReader(input.readable);
  void input.send(start(1), { type: "cancel", graceful: true }, { type: "terminal-open", id: 4 });
  const job = await nextJob(reader);
  assert.equal(job.start.job.id, 1);
  const cancels: CancelMessage[] = [];
  job.onCancel((m) => cancels.push(m));
  const terminals: ToExecutor[] = [];
  job.onTerminal((m) => terminals.push(m));
  assert.deepEqual(cancels, [{ type: "cancel", graceful: true }]);
  assert.deepEqual(terminals, [{ type: "terminal-open", id: 4 }]);
  await input.close();
});

Deno.test("ControlReader: a cancel between two jobs is dropped, the next job's reach it; stdin's end ends the wait", async () => {
  const input = stdin();
  const reader = new ControlReader(input.readable);
  await input.send(start(1));
  const first = await nextJob(reader);
  const late: CancelMessage[] = [];
  first.onCancel((m) => late.push(m));
  reader.endJob(first);
  await input.send({ type: "cancel", graceful: false });
  await input.send(start(2), { type: "cancel", graceful: true });
  const second = await nextJob(reader);
  assert.equal(second.start.job.id, 2);
  const cancels: CancelMessage[] = [];
  second.onCancel((m) => cancels.push(m));
  assert.deepEqual(late, []);
  assert.deepEqual(cancels, [{ type: "cancel", graceful: true }]);
  let isClosed = false;
  second.onClosed(() => isClosed = true);
  reader.endJob(second);
  const next = reader.nextJob();
  await input.close();
  assert.equal(await next, null);
  // stdin ended after the job was over: not the job's concern.
  assert.equal(isClosed, false);
});

Deno.test("FrameWriter: frames sent while a write is on its way go out together, in order; close() sends the rest first", async () => {
  const chunks: Uint8Array[] = [];
  let release = () => {};
  const out = new WritableStream<Uint8Array>({
    write: (chunk) => {
      chunks.push(chunk);
      return new Promise<void>((resolve) => release = resolve);
    },
  });
  const writer = new FrameWriter(out);
  writer.write(new TextEncoder().encode("one\n"));
  writer.event({ type: "stage", stage: "step_script" });
  writer.write(new TextEncoder().encode("two\n"), "stderr");
  await Promise.resolve();
  assert.equal(chunks.length, 1, "the first frame goes out at once");
  const closed = writer.close();
  release();
  await new Promise((r) => setTimeout(r, 0));
  release();
  await closed;
  assert.equal(chunks.length, 2, "the frames sent meanwhile went out in one write");
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (joined.set(c, at), at + c.length), 0);
  const frames = new FrameDecoder().push(joined);
  assert.deepEqual(frames.map((f) => f.type), [FRAME_TRACE, FRAME_MESSAGE, FRAME_TRACE_STDERR]);
  assert.equal(new TextDecoder().decode(frames[2]!.payload), "two\n");
});

Deno.test("ControlReader hands out a sweep message in the place of a job; what follows it is dropped", async () => {
  const input = stdin();
  const reader = new ControlReader(input.readable);
  const runner = defaultRunnerConfig("docker");
  await input.send({ type: "sweep", runner, stateDir: "/state" }, {
    type: "cancel",
    graceful: false,
  });
  assert.deepEqual(await reader.nextJob(), { type: "sweep", runner, stateDir: "/state" });
  const next = reader.nextJob();
  await input.close();
  assert.equal(await next, null);
});

Deno.test("An executor process given a sweep answers with one swept event and exits; a shell runner has nothing in docker", async () => {
  const input = stdin();
  const written: Uint8Array[] = [];
  const stdout = new WritableStream<Uint8Array>({ write: (chunk) => void written.push(chunk) });
  void input.send({ type: "sweep", runner: defaultRunnerConfig("shell"), stateDir: "/state" });
  const code = await runExecutorProcess({
    stdin: input.readable,
    stdout,
    env: {},
    log: new SilentLogger(),
    version: { name: "gitlab-runner", version: "0", revision: "x", os: "linux", arch: "amd64" },
  });
  assert.equal(code, 0);
  const decoder = new FrameDecoder();
  const events = written.flatMap((chunk) => decoder.push(chunk))
    .map((f) => JSON.parse(new TextDecoder().decode(f.payload)) as FromExecutor);
  assert.deepEqual(events, [
    { type: "swept", containers: [], networks: [], volumes: [], failures: [] },
  ]);
  await input.close();
});

Deno.test("An executor process reads stdin and writes stdout by plain read and write calls (direct_io.ts): messages split across reads, frames across short writes, stdout closed at the end", async () => {
  const message = encodeMessage({
    type: "sweep",
    runner: defaultRunnerConfig("shell"),
    stateDir: "/state",
  });
  let at = 0;
  // A pipe that hands out 5 bytes per read, then its end.
  const stdinFile = {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= message.length) return Promise.resolve(null);
      const n = Math.min(5, p.length, message.length - at);
      p.set(message.subarray(at, at + n), 0);
      at += n;
      return Promise.resolve(n);
    },
  };
  // A pipe that takes at most 3 bytes per write.
  const written: number[] = [];
  let isClosed = false;
  const stdoutFile = {
    write(p: Uint8Array): Promise<number> {
      assert.ok(!isClosed, "written after close");
      const n = Math.min(3, p.length);
      written.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
    close() {
      isClosed = true;
    },
  };
  const code = await runExecutorProcess({
    stdin: directSource(stdinFile),
    stdout: directSink(stdoutFile),
    env: {},
    log: new SilentLogger(),
    version: { name: "gitlab-runner", version: "0", revision: "x", os: "linux", arch: "amd64" },
  });
  assert.equal(code, 0);
  assert.ok(isClosed);
  const events = new FrameDecoder().push(new Uint8Array(written))
    .map((f) => JSON.parse(new TextDecoder().decode(f.payload)) as FromExecutor);
  assert.deepEqual(events, [
    { type: "swept", containers: [], networks: [], volumes: [], failures: [] },
  ]);
});

Deno.test("A configuration error before the build starts is logged as 'Job failed:', not as a system failure", async () => {
  const input = stdin();
  const runner = {
    ...defaultRunnerConfig("ssh"),
    ssh: { ...defaultRunnerConfig("ssh").ssh, host: "example.com:2222" },
  };
  // Never made: the job fails before anything is written there.
  const tempDir = "/nonexistent/runner-executor-process";
  const out: Uint8Array[] = [];
  const run = runExecutorProcess({
    stdin: input.readable,
    stdout: new WritableStream({ write: (chunk) => void out.push(chunk) }),
    env: {},
    log: new SilentLogger(),
    version: { name: "gitlab-runner", version: "0", revision: "x", os: "linux", arch: "amd64" },
  });
  await input.send({
    type: "start",
    job: parseJobSpec({ id: 7, token: "job-token" }),
    runner,
    shortToken: "abc",
    systemId: "s_x",
    concurrentId: 0,
    concurrentProjectId: 0,
    cwd: tempDir,
    stateDir: tempDir,
    tempDir,
  });
  await input.close();
  await run;
  const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  out.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  const frames = new FrameDecoder().push(all);
  const log = frames.filter((f) => f.type === FRAME_TRACE || f.type === FRAME_TRACE_STDERR)
    .map((f) => new TextDecoder().decode(f.payload)).join("");
  assert.match(log, /ERROR: Job failed: Invalid \[runners\.ssh\] host "example\.com:2222"/);
  assert.doesNotMatch(log, /system failure/);
  const result = frames.filter((f) => f.type === FRAME_MESSAGE)
    .map((f) => JSON.parse(new TextDecoder().decode(f.payload)) as FromExecutor)
    .find((e) => e.type === "result");
  assert.equal(
    result && "failureReason" in result && result.failureReason,
    "runner_configuration_error",
  );
});
