/**
 * Start-up garbage: what compiling the modules, reading config.toml and
 * starting the poller leave in a thread's V8 heap once the runner is idle.
 * V8 collects it, but keeps the pages it freed (and a young generation the
 * size start-up needed) for allocations to come, and an idle runner makes too
 * few to start V8's memory reducer: the pages stay in its RSS for as long as
 * it waits for jobs. A last-resort collection (V8's memory-reducing full GC,
 * compacting and flushing bytecode not run since) gives them back: 2-3 MB in
 * the poller's Worker, 1-2 MB in the supervising thread
 * (scripts/bench/job_latency.ts figure (c)).
 *
 * V8 offers it to JavaScript only as `gc()`, which `--expose-gc-as=runnerGc`
 * (RUNNER_V8_FLAGS, poller/v8_flags.ts) names `runnerGc`; a runner started
 * without the flag keeps its start-up garbage.
 */
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";

/** V8's `gc()` (`--expose-gc-as=runnerGc`) with its options. */
type ExposedGc = (options: {
  type: "major";
  execution: "sync";
  flavor: "last-resort";
}) => void;

/**
 * Collects this thread's garbage with V8's memory-reducing full GC and logs
 * the heap it holds before and after at debug. Does nothing when V8 has no
 * `runnerGc()`. Synchronous: the thread does nothing else meanwhile (a few ms).
 */
export function releaseStartupGarbage(log: Logger, thread: "supervisor" | "poller"): void {
  const gc = (globalThis as { runnerGc?: ExposedGc }).runnerGc;
  if (typeof gc !== "function") return;
  const before = Deno.memoryUsage().heapTotal;
  const started = performance.now();
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  log.debug("Released start-up garbage", {
    [F.THREAD]: thread,
    [F.HEAP_BEFORE_BYTES]: before,
    [F.HEAP_BYTES]: Deno.memoryUsage().heapTotal,
    [F.DURATION_S]: Number(((performance.now() - started) / 1000).toFixed(4)),
  });
}
