/**
 * The scoped poller: `runner run` in a Worker created by
 * cli/poller_supervisor.ts with the poller's permission set. It runs the
 * command as main.ts would, with the supervisor's copy of the environment,
 * and checks each reloaded config against the permissions it holds.
 *
 * Posts `{ type: "ready" }` once loaded; first message in: PollerWorkerInit;
 * last message out: `{ type: "exit", code }`. `{ type: "procfs-wanted" }` goes
 * out once the metrics endpoint is loaded; `{ type: "procfs", snapshot }`
 * messages come in after it.
 */
import { missingPermissions, pollerPermissions } from "../poller/poller_permissions.ts";
import { main } from "./main.ts";
import type { ProcfsSnapshot } from "../metrics/procfs_snapshot.ts";
import type { PollerWorkerInit } from "./poller_supervisor.ts";
import type { WorkerExit, WorkerReady } from "./scoped_worker.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

let procfs: ProcfsSnapshot | undefined;
let firstProcfs: PromiseWithResolvers<void> | undefined;

scope.onmessage = async (e: MessageEvent) => {
  // After the init message, only procfs snapshots come in.
  scope.onmessage = (next: MessageEvent) => {
    const m = next.data as { type?: string; snapshot?: ProcfsSnapshot };
    if (m.type === "procfs") {
      procfs = m.snapshot;
      firstProcfs?.resolve();
    }
  };
  const init = e.data as PollerWorkerInit;
  const execPath = Deno.execPath();
  const code = await main(init.args, {
    stdout: Deno.stdout,
    stderr: Deno.stderr,
    stdin: Deno.stdin.readable,
    env: init.env,
    cwd: init.cwd,
    version: init.version,
    pollerScope: {
      tempDir: init.tempDir,
      previous: init.previous,
      loaded: init.loaded,
      isStale: init.isStale,
      staleReason: init.staleReason,
      onRefuse: (text, reason) => scope.postMessage({ type: "refuse", text, reason }),
      onRescope: (config) => scope.postMessage({ type: "rescope", config }),
      watchProcfs: async () => {
        if (!firstProcfs) {
          firstProcfs = Promise.withResolvers();
          scope.postMessage({ type: "procfs-wanted" });
        }
        await firstProcfs.promise;
        return () => procfs;
      },
      missing: (config) => {
        let target: string | null;
        try {
          const real = Deno.realPathSync(init.configPath);
          target = real === init.configPath ? null : real;
        } catch {
          // The link now leads where this poller may not look: a new poller must.
          return [`read:${init.configPath} (its link target)`];
        }
        return missingPermissions(pollerPermissions({
          config,
          configPath: init.configPath,
          configTarget: target,
          cwd: init.cwd,
          tempDir: init.tempDir,
          execPath,
          listenAddress: init.listenAddress,
          user: init.user,
          sourceDir: init.sourceDir,
        }));
      },
    },
  });
  scope.postMessage({ type: "exit", code } satisfies WorkerExit);
};
scope.postMessage({ type: "ready" } satisfies WorkerReady);
