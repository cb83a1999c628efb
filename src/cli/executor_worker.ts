/**
 * The thread of a compiled binary's executor process that runs the job: a
 * Worker created by `runner executor-process --permissions <json>` with
 * exactly the executor's permission set (cli/scoped_worker.ts), while the
 * process's own thread revokes every kind it holds. It reads the start message
 * from stdin and writes frames to stdout itself, as the process would, and
 * takes its version from the process's arguments (`executorVersion`).
 *
 * Posts `{ type: "ready" }` once loaded, then runs jobs at once: the process's
 * thread sends it nothing but `terminate`. Last message out: `{ type: "exit", code }`.
 */
import { LogSink, StreamLogger } from "../log/mod.ts";
import { runExecutorProcess } from "./executor_process.ts";
import { executorVersion } from "./version.ts";
import type { WorkerExit, WorkerReady } from "./scoped_worker.ts";

/** Posted by the process's thread on SIGTERM: stop the job as if the poller were gone. */
export interface ExecutorWorkerTerminate {
  type: "terminate";
}

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
const terminate = new AbortController();
scope.onmessage = (m: MessageEvent) => {
  if ((m.data as Partial<ExecutorWorkerTerminate>)?.type === "terminate") terminate.abort();
};
// Loaded: the creating thread may now drop its own permissions.
scope.postMessage({ type: "ready" } satisfies WorkerReady);
const sink = new LogSink({ output: Deno.stderr, level: "debug", format: "json" });
const code = await runExecutorProcess({
  stdin: Deno.stdin.readable,
  stdout: Deno.stdout.writable,
  env: Deno.env.toObject(),
  log: new StreamLogger(sink),
  version: executorVersion(Deno.args),
  terminate: terminate.signal,
});
scope.postMessage({ type: "exit", code } satisfies WorkerExit);
