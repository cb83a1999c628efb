/**
 * The thread of a compiled binary's executor process that runs the job: a
 * Worker created by `runner executor-process --permissions <json>` with
 * exactly the executor's permission set (cli/scoped_worker.ts), while the
 * process's own thread revokes every kind it holds. It reads the start message
 * from stdin and writes frames to stdout itself, as the process would.
 *
 * Posts `{ type: "ready" }` once loaded; first message in: `{ version }`; last
 * message out: `{ type: "exit", code }`.
 */
import type { RunnerVersion } from "../build/job_variables.ts";
import { LogSink, StreamLogger } from "../log/mod.ts";
import { runExecutorProcess } from "./executor_process.ts";
import type { WorkerExit, WorkerReady } from "./scoped_worker.ts";

/** The first message a scoped executor worker receives. */
export interface ExecutorWorkerInit {
  version: RunnerVersion;
}

/** Posted by the process's thread on SIGTERM: stop the job as if the poller were gone. */
export interface ExecutorWorkerTerminate {
  type: "terminate";
}

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = async (e: MessageEvent) => {
  const terminate = new AbortController();
  scope.onmessage = (m: MessageEvent) => {
    if ((m.data as Partial<ExecutorWorkerTerminate>)?.type === "terminate") terminate.abort();
  };
  const { version } = e.data as ExecutorWorkerInit;
  const sink = new LogSink({ output: Deno.stderr, level: "debug", format: "json" });
  const code = await runExecutorProcess({
    stdin: Deno.stdin.readable,
    stdout: Deno.stdout.writable,
    env: Deno.env.toObject(),
    log: new StreamLogger(sink),
    version,
    terminate: terminate.signal,
  });
  scope.postMessage({ type: "exit", code } satisfies WorkerExit);
};
// Loaded: the creating thread may now drop its own permissions.
scope.postMessage({ type: "ready" } satisfies WorkerReady);
