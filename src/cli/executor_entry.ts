/**
 * `runner executor-process`: the executor process's side of main.ts, and
 * from source its own entry module (`deno run … executor_entry.ts
 * executor-process`). Deno reads, at start, every module reachable from the
 * entry through literal dynamic imports; from main.ts that is every command
 * (~290 modules, ~45 ms of CPU), from here only what a job can need;
 * `runner run` adds `--unstable-lazy-dynamic-imports`, so that only what the
 * start needs is read then (poller/process_launcher.ts, LAZY_IMPORTS_FLAG).
 */
import { LogSink, StreamLogger } from "../log/mod.ts";
import { F } from "../log/fields.ts";
import { executorVersion } from "./version.ts";
import { surviveFileSizeLimit } from "./file_size_signal.ts";
import type { ExecutorWorkerTerminate } from "./executor_worker.ts";
// Static, and small: the Worker is created before this thread loads anything else.
import { workerPermissions } from "../poller/executor_worker_permissions.ts";
import { type ByteSource, directSink, directSource } from "./direct_io.ts";
import { startScopedWorker } from "./scoped_worker.ts";

export interface ExecutorEntryIo {
  /** Read by the job's own thread only: a scoped Worker (`--permissions`) reads stdin itself. */
  readonly stdin: ByteSource;
  stderr: { writeSync(p: Uint8Array): number };
  env: Record<string, string>;
}

/** Runs the job the poller sends on stdin; `args` follow `executor-process`. */
export async function runExecutorEntry(args: string[], io: ExecutorEntryIo): Promise<number> {
  const sink = new LogSink({ output: io.stderr, level: "debug", format: "json" });
  const log = new StreamLogger(sink);
  // Ctrl-C or a hangup in a terminal reaches the whole process group, and
  // systemd's KillSignal (SIGQUIT for a graceful stop) every process of the
  // unit; the poller decides how this job stops (cancel messages), so the
  // child ignores them: SIGQUIT killed every running job of a runner told to
  // let them finish.
  if (Deno.build.os !== "windows") {
    for (const signal of ["SIGINT", "SIGQUIT", "SIGHUP"] as const) {
      Deno.addSignalListener(signal, () => {});
    }
  }
  surviveFileSizeLimit();
  // SIGTERM kills the job's processes (and containers) before this process exits.
  const terminate = new AbortController();
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGTERM", () => terminate.abort());
  }
  const at = args.indexOf("--permissions");
  if (at >= 0) {
    // A compiled binary carries the poller's global grants: the job runs in a
    // worker holding only this executor's set, and this thread drops all of its own.
    // The job waits for the worker (`new Worker` returns once its isolate is
    // created, ~10 ms on a 2-core VM: scripts/bench/scoping.ts, worker floor):
    // nothing this thread loads or sets up comes first that the worker does
    // not need, and the worker reads stdin and takes its version itself
    // (cli/executor_worker.ts).
    const { worker, exited } = startScopedWorker(
      new URL("./executor_worker.ts", import.meta.url),
      {
        permissions: workerPermissions(JSON.parse(args[at + 1] ?? "{}")),
        isRevokingOwn: true,
        onError: (message) => log.error("Executor process failed", { [F.ERROR]: message }),
      },
    );
    terminate.signal.addEventListener("abort", () => {
      worker.postMessage({ type: "terminate" } satisfies ExecutorWorkerTerminate);
    });
    return await exited;
  }
  const { runExecutorProcess } = await import("./executor_process.ts");
  return await runExecutorProcess({
    stdin: io.stdin,
    // Plain writes: no web stream to set up (direct_io.ts).
    stdout: directSink(Deno.stdout),
    env: io.env,
    log,
    terminate: terminate.signal,
    version: executorVersion(args),
  });
}

if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  if (command !== "executor-process") {
    throw new TypeError(`executor_entry.ts runs "executor-process" only: got "${command}"`);
  }
  Deno.exit(
    await runExecutorEntry(rest, {
      get stdin() {
        return directSource(Deno.stdin);
      },
      stderr: Deno.stderr,
      env: Deno.env.toObject(),
    }),
  );
}
