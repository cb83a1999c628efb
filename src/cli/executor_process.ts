/**
 * `runner executor-process` (hidden): the child the poller starts for each
 * job. It reads the start message from stdin, runs the job with the executor
 * it names, and writes trace and events to stdout (executors/process_protocol.ts).
 * Its own log lines go to stderr as JSON; the poller relays them.
 *
 * When compiled, the binary carries every permission the poller has, so the
 * child first revokes each permission kind its executor does not use
 * (Deno can only revoke whole kinds once granted globally; docs/security.md).
 */
import {
  type CancelMessage,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FRAME_MESSAGE,
  FRAME_TRACE,
  FrameDecoder,
  type FromExecutor,
  MAX_FRAME_PAYLOAD,
  type StartMessage,
  type ToExecutor,
} from "../executors/process_protocol.ts";
import type { ExecutorPermissions } from "../poller/executor_permissions.ts";
import type { JobOutput } from "../executors/executor.ts";

/** Revokes every permission kind that `perms` does not need (compiled binaries only). */
export async function revokeUnneeded(perms: ExecutorPermissions): Promise<void> {
  if (perms.run.length === 0) await Deno.permissions.revoke({ name: "run" });
  if (perms.net.length === 0) await Deno.permissions.revoke({ name: "net" });
  if (!perms.env) await Deno.permissions.revoke({ name: "env" });
  if (!perms.sys) await Deno.permissions.revoke({ name: "sys" });
  await Deno.permissions.revoke({ name: "ffi" });
}

/** Serialises frames onto stdout in order; `write` never blocks the caller. */
export class FrameWriter implements JobOutput {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #failed = false;

  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }

  write(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length; at += MAX_FRAME_PAYLOAD) {
      this.#send(encodeFrame(FRAME_TRACE, chunk.subarray(at, at + MAX_FRAME_PAYLOAD)));
    }
  }

  event(event: FromExecutor): void {
    this.#send(encodeMessage(event));
  }

  #send(frame: Uint8Array): void {
    if (this.#failed) return;
    this.#writer.write(frame).catch(() => {
      // The poller went away; the job cannot report anything more.
      this.#failed = true;
    });
  }

  async close(): Promise<void> {
    await this.#writer.ready.catch(() => {});
    await this.#writer.close().catch(() => {});
  }
}

export interface ControlChannel {
  start: StartMessage;
  /** `cancel` messages as they arrive. */
  onCancel(listener: (message: CancelMessage) => void): void;
}

/** Reads the start message, then keeps reading cancel messages in the background. */
export async function readControl(stdin: ReadableStream<Uint8Array>): Promise<ControlChannel> {
  const reader = stdin.getReader();
  const decoder = new FrameDecoder();
  const queued: ToExecutor[] = [];
  const listeners: ((m: CancelMessage) => void)[] = [];
  const pump = async (): Promise<void> => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const frame of decoder.push(value)) {
        if (frame.type !== FRAME_MESSAGE) continue;
        const message = decodeMessage<ToExecutor>(frame.payload);
        if (message.type === "cancel") {
          if (listeners.length > 0) listeners.forEach((l) => l(message));
          else queued.push(message);
        } else queued.push(message);
      }
      if (queued.length > 0 && queued[0]?.type === "start") return;
    }
  };
  await pump();
  const start = queued.shift();
  if (start?.type !== "start") throw new TypeError("Executor process got no start message on stdin");
  // A poller that closes stdin early counts as an abort: nobody can cancel us any more.
  const rest = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const frame of decoder.push(value)) {
          if (frame.type !== FRAME_MESSAGE) continue;
          const message = decodeMessage<ToExecutor>(frame.payload);
          if (message.type === "cancel") listeners.forEach((l) => l(message));
        }
      }
    } catch {
      // stdin broke: the poller is gone.
    }
  })();
  void rest;
  return {
    start,
    onCancel(listener) {
      listeners.push(listener);
      for (const m of queued.splice(0)) if (m.type === "cancel") listener(m);
    },
  };
}
