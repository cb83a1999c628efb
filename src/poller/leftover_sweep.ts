/**
 * The sweep after a docker job's executor process died without a result: a
 * fresh process of the dead one's permission row gets a `sweep` message
 * instead of a job (executors/process_protocol.ts) and removes what dead
 * executor processes of this runner host left in docker (their owner lease is
 * free, see executors/docker/owner_lease.ts). Neither the poller nor `runner
 * exec`'s own process holds docker access; this keeps it so.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { executorSettings, type SweptEvent } from "../executors/process_protocol.ts";
import { systemClock } from "../time/clock.ts";
import type { ExecutorPermissions } from "./executor_permissions.ts";
import type { ExecutorLauncher, ExecutorProcess } from "./process_launcher.ts";

/**
 * How long a sweep may take, its process start included; past it the sweep
 * process is killed, and the next docker job's executor sweeps again
 * (docs/executors/docker.md).
 */
export const SWEEP_TIMEOUT_MS = 10_000;

/** Executors whose jobs leave docker objects owned by their executor process (OwnerLease). */
export function isDockerOwner(runner: RunnerConfig): boolean {
  return runner.executor === "docker" || runner.executor === "docker+ssh";
}

export interface SweepOptions {
  runner: RunnerConfig;
  /** The dead process's row: the docker socket and the state dir with the leases. */
  permissions: ExecutorPermissions;
  /** As in the start message: where the owner leases are. */
  stateDir: string;
  /** Default SWEEP_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Runs one sweep; resolves what the process answered (its `error` says when
 * it could not sweep), or "timeout" (the process was killed). Rejects when
 * no process could be started or none answered; a prestarted one that died
 * before it got the message is replaced once.
 */
export async function sweepLeftovers(
  launcher: ExecutorLauncher,
  options: SweepOptions,
): Promise<SweptEvent | "timeout"> {
  const deadline = new AbortController();
  const timedOut = systemClock().sleep(options.timeoutMs ?? SWEEP_TIMEOUT_MS, deadline.signal)
    .then(() => "timeout" as const, () => "timeout" as const);
  try {
    for (let attempt = 1;; attempt++) {
      const proc = launcher.launch(options.permissions);
      let swept: SweptEvent | "timeout" | null = null;
      try {
        await proc.send({
          type: "sweep",
          runner: executorSettings(options.runner),
          stateDir: options.stateDir,
        });
        swept = await Promise.race([untilSwept(proc), timedOut]);
      } catch {
        // The process could not take the message: it died; as no answer below.
      } finally {
        if (swept === "timeout") proc.kill("SIGKILL");
        await proc[Symbol.asyncDispose]();
      }
      if (swept !== null) return swept;
      if (!proc.isPrestarted || attempt >= 2) {
        const tail = proc.stderrTail().trim().split("\n").slice(-3).join(" | ");
        throw new Error(`the sweep process ended without an answer${tail ? `: ${tail}` : ""}`);
      }
    }
  } finally {
    deadline.abort();
  }
}

/** The `swept` answer to a sweep message; null when the process ended without one. */
async function untilSwept(proc: ExecutorProcess): Promise<SweptEvent | null> {
  for await (const item of proc.events()) {
    if ("event" in item && item.event.type === "swept") return item.event;
  }
  return null;
}
