/**
 * V8 flags of the runner's processes.
 *
 * A compiled binary takes V8 flags only when built (`deno compile
 * --v8-flags`, scripts/compile.ts), the same for every process it runs as:
 * `RUNNER_V8_FLAGS`. From source, the runner's own command line carries the
 * same flags, and executor processes (`deno run`, poller/process_launcher.ts)
 * get `EXECUTOR_V8_FLAGS`.
 */

/**
 * Every process: a 1 MiB semi-space. Archiving and extracting allocate many
 * short-lived buffers: V8's default semi-space lets the young generation grow
 * by about 30 MiB before it is collected, which the peak memory shows; the
 * poller's trace pipeline keeps its throughput with it
 * (scripts/bench/trace_throughput.ts, scripts/bench/archive.ts `--v8-flags`).
 *
 * And V8's `gc()` under the name `runnerGc` (`--expose-gc-as=runnerGc`): once
 * started, the runner's two threads give back what their start-up left in
 * their heaps (cli/startup_garbage.ts), which V8 otherwise keeps as long as the
 * runner is idle, and the poller's thread what its jobs left, once none ran
 * for a while. Nothing else calls it: not as `gc`, which code (a package,
 * scripts/bench/trace_throughput.ts between its rounds) may call when it finds
 * it, and whose full collections throw away compiled code (the trace bench
 * measured 500 instead of 590 MB/s with `--expose-gc`).
 *
 * And Maglev, V8's middle optimizing tier, for code called three times as
 * often as V8's default asks (`--invocation-count-for-maglev=1200`, OSR 300):
 * at start, Deno's own bootstrap loop and fetch's header checks reached the
 * default in some runs and not in others, and a run where Maglev (or an OSR
 * TurboFan) compiled them kept ~2-3 MB of the compilers' code paged in while
 * idle, for code that runs once. The trace pipeline and a job's hot code
 * still reach both compilers. scripts/bench/job_latency.ts figure (c), 6
 * alternated pairs against V8's Maglev off (`--no-maglev`, which measured
 * 56.5-57.2 MB idle against 57.2-61.1 with V8's defaults, but 69.1-70.1 MB
 * after 6 jobs against 66.3-71.4): idle 56.8-57.6 MB either way, after 6
 * jobs 66.7-67.8 against 69.2-70.1; trace_throughput (7 rounds, 2 pairs
 * against V8's defaults) stamped 563/564 against 564/562 MB/s, RSS growth the
 * same.
 */
export const RUNNER_V8_FLAGS = [
  "--v8-flags=--max-semi-space-size=1,--expose-gc-as=runnerGc,--invocation-count-for-maglev=1200,--invocation-count-for-maglev-osr=300",
] as const;

/**
 * `runner` from source (the `runner` task, a from-source service): no V8 code
 * cache. The cache saves the long-running poller little (it starts once), while
 * loading its entries and keeping Deno's cache database open cost an idle
 * runner about 1 MB of RSS, ~1.5 MB after jobs (scripts/bench/job_latency.ts
 * figure (c)). Executor processes are started without it and keep the cache:
 * they start per job. `deno install` does not take the flag.
 */
export const RUNNER_NO_CODE_CACHE_FLAG = "--no-code-cache";

/**
 * An executor process started with `deno run`: the runner's flags, and no
 * optimizing compiler (`--max-opt=1`: V8's interpreter and its baseline
 * compiler, Sparkplug). Its JavaScript is glue around system calls, zlib and
 * child processes; Maglev and TurboFan cost it 8-10 MiB of peak memory (their
 * code pages and compile-time heaps) when an archive of 20k files made their
 * work worth doing, and ~1 MB of a job's private memory
 * (scripts/bench/archive.ts, scripts/bench/job_latency.ts). The poller keeps
 * them: its trace pipeline (masking, timestamps) runs at half speed without
 * TurboFan. A compiled binary's executor processes have the runner's flags,
 * and so do those of `runner exec` (RUNNER_V8_FLAGS, exec's own): V8 rejects a
 * module's code cache made under other flags (Deno then compiles the module
 * again and stores the new cache in place of the other's), and exec loads
 * many of the modules its executor process loads (logging, the process
 * protocol, job variables, …). A `runner` installed with `deno install` (the
 * README's way, a command that does not take RUNNER_NO_CODE_CACHE_FLAG) keeps
 * a code cache, so with these flags exec and its executor process would each
 * reject and rewrite the other's entries on every run: a one-job `runner exec`
 * took 5-7 ms more (25 of 30 alternated pairs, scripts/bench/exec_job.ts
 * under the installed runner's flags). Run as `deno task runner` does (no
 * code cache) exec is as fast either way. The price: exec's and `runner run`'s
 * executor processes on one machine compile again what the other ran last,
 * and exec's keep V8's optimizing compilers.
 */
export const EXECUTOR_V8_FLAGS = [
  "--v8-flags=--max-semi-space-size=1,--max-opt=1",
] as const;
