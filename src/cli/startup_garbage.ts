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
 * The same holds once jobs have run and the runner waits again: a job's trace
 * pipeline, its Node compatibility modules and its buffers leave garbage and
 * grown spaces in the poller's heap that an idle runner keeps. The poller
 * collects again once no job has run for JOB_GARBAGE_DELAY_MS
 * (IdleCollector), never while a job runs.
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
  collect(log, thread, "Released start-up garbage");
}

/**
 * What jobs left in the poller's heap, as releaseStartupGarbage collects
 * start-up's (IdleCollector calls it once the runner waits again).
 */
export function releaseJobGarbage(log: Logger): void {
  collect(log, "poller", "Released job garbage");
}

function collect(log: Logger, thread: "supervisor" | "poller", msg: string): void {
  const gc = (globalThis as { runnerGc?: ExposedGc }).runnerGc;
  if (typeof gc !== "function") return;
  const before = Deno.memoryUsage().heapTotal;
  const started = performance.now();
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  log.debug(msg, {
    [F.THREAD]: thread,
    [F.HEAP_BEFORE_BYTES]: before,
    [F.HEAP_BYTES]: Deno.memoryUsage().heapTotal,
    [F.DURATION_S]: Number(((performance.now() - started) / 1000).toFixed(4)),
  });
}

/** How long the poller waits with no job running before it collects what jobs left. */
export const JOB_GARBAGE_DELAY_MS = 10_000;

/**
 * Collects the poller's heap (releaseJobGarbage) once JOB_GARBAGE_DELAY_MS
 * passed since the last job ended with none running: `jobStarted` disarms it,
 * `jobFinished` arms it again; when it fires while `running()` counts a job,
 * that job's end arms it.
 */
export class IdleCollector {
  readonly #running: () => number;
  readonly #collect: () => void;
  readonly #delayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: { running: () => number; collect: () => void; delayMs?: number }) {
    this.#running = opts.running;
    this.#collect = opts.collect;
    this.#delayMs = opts.delayMs ?? JOB_GARBAGE_DELAY_MS;
  }

  jobStarted(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  jobFinished(): void {
    this.arm();
  }

  /**
   * Collects JOB_GARBAGE_DELAY_MS from now unless a job runs then: after a
   * job, or other work that left garbage (a config reload).
   */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running() === 0) this.#collect();
    }, this.#delayMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
