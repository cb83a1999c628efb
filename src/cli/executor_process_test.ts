import assert from "node:assert/strict";
import {
  type CancelMessage,
  encodeMessage,
  type StartMessage,
  type ToExecutor,
} from "../executors/process_protocol.ts";
import { ControlReader } from "./executor_process.ts";

function start(id: number): StartMessage {
  return { type: "start", job: { id } } as unknown as StartMessage;
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
  const job = await reader.nextJob();
  assert.equal(job?.start.job.id, 1);
  const cancels: CancelMessage[] = [];
  job!.onCancel((m) => cancels.push(m));
  const terminals: ToExecutor[] = [];
  job!.onTerminal((m) => terminals.push(m));
  assert.deepEqual(cancels, [{ type: "cancel", graceful: true }]);
  assert.deepEqual(terminals, [{ type: "terminal-open", id: 4 }]);
  await input.close();
});

Deno.test("ControlReader: a cancel between two jobs is dropped, the next job's reach it; stdin's end ends the wait", async () => {
  const input = stdin();
  const reader = new ControlReader(input.readable);
  await input.send(start(1));
  const first = (await reader.nextJob())!;
  const late: CancelMessage[] = [];
  first.onCancel((m) => late.push(m));
  reader.endJob(first);
  await input.send({ type: "cancel", graceful: false });
  await input.send(start(2), { type: "cancel", graceful: true });
  const second = (await reader.nextJob())!;
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
