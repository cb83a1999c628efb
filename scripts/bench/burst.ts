/**
 * Burst: 100 jobs queued at once for one `runner run` with concurrent = 50.
 * All must complete. The same scripts are run with `xargs -P 50` in the same
 * run as the baseline; the ratio is the runner's overhead (job request,
 * executor process per job, stages, trace upload, final update).
 *
 *   deno run --allow-all scripts/bench/burst.ts [--jobs 100] [--concurrent 50] [--quick]
 *
 * `--quick` queues 40 jobs at concurrent = 20. Exits 1 when a job did not succeed.
 * On Linux it also prints the CPU seconds of both phases (the whole machine's)
 * and the runner's own share, and the CPU per job of the runner (poller,
 * executor processes, their stage shells and scripts) and of xargs: less
 * sensitive to other load than the ratio; and how many executor processes
 * the burst started (a job holds one while it runs, so about one per slot).
 */
import { parseArgs } from "node:util";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { runnerTaskFlags, runnerToml, startRunner } from "../../tests/fixtures/runner_process.ts";
import { childPids } from "../../tests/fixtures/child_processes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string" },
    concurrent: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.jobs ??= values.quick ? "40" : "100";
values.concurrent ??= values.quick ? "20" : "50";
const total = Number(values.jobs);
const concurrent = Number(values.concurrent);
if (!Number.isInteger(total) || total < 1) {
  throw new TypeError(`--jobs must be a positive integer: got "${values.jobs}"`);
}
if (!Number.isInteger(concurrent) || concurrent < 1) {
  throw new TypeError(`--concurrent must be a positive integer: got "${values.concurrent}"`);
}
/** What each job runs: a little work, a little waiting, some output. */
const SCRIPT = ["echo burst start", "sleep 1", "seq 1 200 | sha256sum", "echo burst done"];

async function baselineSeconds(): Promise<number> {
  const line = SCRIPT.join("\n");
  const started = performance.now();
  const child = new Deno.Command("sh", {
    args: ["-c", `seq 1 ${total} | xargs -P ${concurrent} -I{} bash -c "$0" > /dev/null`, line],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  if (!status.success) throw new Error(`xargs baseline failed with exit code ${status.code}`);
  return (performance.now() - started) / 1000;
}

/**
 * CPU seconds (user + system) of the whole machine, from /proc/stat; null off Linux.
 * A burst on a small machine is CPU-bound: its wall time follows the CPU the runner spends.
 */
function machineCpuSeconds(): number | null {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/);
    // user, nice, system (idle and iowait are not work); USER_HZ is 100 on Linux.
    return fields.slice(1, 4).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  } catch {
    return null;
  }
}

/** [own, reaped children] CPU seconds of a process (/proc/<pid>/stat), or null. */
function processCpuSeconds(pid: number): [number, number] | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [(Number(f[11]) + Number(f[12])) / 100, (Number(f[13]) + Number(f[14])) / 100];
  } catch {
    return null;
  }
}

/**
 * The runner's own CPU (poller), that of its executor processes, and that of
 * their children (stage shells and the scripts): the live executor processes'
 * (idle ones after their jobs) read directly; an exited one's, as reaped by
 * the runner, counts under `executors` with its children. Null off Linux.
 */
function runnerTreeCpu(pid: number): { poller: number; executors: number; stages: number } | null {
  const runner = processCpuSeconds(pid);
  if (runner === null) return null;
  let executors = runner[1];
  let stages = 0;
  for (const child of childPids(pid)) {
    // Null for one that exited meanwhile: the runner reaped it into its own count.
    const cpu = processCpuSeconds(child);
    if (cpu) {
      executors += cpu[0];
      stages += cpu[1];
    }
  }
  return { poller: runner[0], executors, stages };
}

/**
 * The executor processes a runner runs during the burst: its children,
 * sampled every 100 ms (each lives for at least one job of over a second, so
 * none is missed). A job needs a process of its own while it runs, so a
 * burst starts about one per slot; the jobs after those take the processes
 * the first ones release.
 */
class ExecutorProcessCount {
  readonly #before: ReadonlySet<number>;
  readonly #seen = new Set<number>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly runnerPid: number) {
    this.#before = new Set(childPids(runnerPid));
    this.#timer = setInterval(() => this.#sample(), 100);
  }

  #sample(): void {
    for (const pid of childPids(this.runnerPid)) this.#seen.add(pid);
  }

  /** Stops sampling: the processes seen that were not running before, and those that were. */
  stop(): { started: number; before: number } {
    clearInterval(this.#timer);
    this.#sample();
    const started = [...this.#seen].filter((pid) => !this.#before.has(pid)).length;
    return { started, before: this.#before.size };
  }
}

function report(line: string): void {
  // deno-lint-ignore no-console -- benchmark report on stdout
  console.log(line);
}

// GitLab (Workhorse) holds a job request until the queue changes, up to 50 s by default. A
// hold as short as check_interval left no request in flight half of the time: the burst's
// first pickup then waited up to 1 s for the next poll, by chance.
const gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 3, longPollHoldMs: 50_000 });
const r = gitlab.createRunner({ kind: "created" });
// Login shells read no profile (root's runs a slow pyenv init); Deno's cache stays put.
const home = await Deno.makeTempDir({ prefix: "runner-bench-home-" });
const denoDir = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;
// Started as `deno task runner` starts it (the task's grants and V8 flags), as users run it from source.
const runner = await startRunner({
  grants: runnerTaskFlags(),
  config: `concurrent = ${concurrent}\ncheck_interval = 1\nlog_level = "warning"\n\n` +
    runnerToml(gitlab.url, r.token, { limit: concurrent, "request_concurrency": 4 }),
  env: { HOME: home, DENO_DIR: denoDir },
});
let code = 0;
try {
  // Warm-up: the runner is polling and its module graph is loaded before the burst.
  const warm = gitlab.enqueueJob({
    script: ["true"],
    variables: [{ key: "GIT_STRATEGY", value: "none" }],
  });
  await gitlab.waitForJobFinished(warm.id, { timeoutMs: 120_000 });
  const cpuBeforeBaseline = machineCpuSeconds();
  const ownBeforeBaseline = processCpuSeconds(Deno.pid);
  const baseline = await baselineSeconds();
  const ownAfterBaseline = processCpuSeconds(Deno.pid);
  const cpuBeforeRunner = machineCpuSeconds();
  const treeBefore = runnerTreeCpu(runner.pid);
  const processes = new ExecutorProcessCount(runner.pid);
  const started = performance.now();
  const ids = Array.from(
    { length: total },
    () =>
      gitlab.enqueueJob({ script: SCRIPT, variables: [{ key: "GIT_STRATEGY", value: "none" }] }).id,
  );
  const states = await Promise.all(
    ids.map((id) => gitlab.waitForJobFinished(id, { timeoutMs: 1_800_000 })),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuAfterRunner = machineCpuSeconds();
  const treeAfter = runnerTreeCpu(runner.pid);
  const counted = processes.stop();
  const failed = states.filter((s) => s.status !== "success");
  report(
    `jobs: ${
      total - failed.length
    }/${total} succeeded (concurrent = ${concurrent}, ${navigator.hardwareConcurrency} cores)`,
  );
  report(
    `xargs -P ${concurrent}: ${baseline.toFixed(2)} s; runner: ${seconds.toFixed(2)} s (${
      (total / seconds).toFixed(2)
    } jobs/s)`,
  );
  report(
    `runner overhead: ${
      (((seconds - baseline) * 1000) / total).toFixed(0)
    } ms per job of wall time`,
  );
  if (cpuBeforeBaseline !== null && cpuBeforeRunner !== null && cpuAfterRunner !== null) {
    report(
      `machine CPU: xargs phase ${(cpuBeforeRunner - cpuBeforeBaseline).toFixed(2)} s, ` +
        `runner phase ${(cpuAfterRunner - cpuBeforeRunner).toFixed(2)} s (includes other load)`,
    );
  }
  if (treeBefore !== null && treeAfter !== null) {
    const poller = treeAfter.poller - treeBefore.poller;
    const executors = treeAfter.executors - treeBefore.executors;
    const stages = treeAfter.stages - treeBefore.stages;
    report(
      `runner CPU in the runner phase: poller ${poller.toFixed(2)} s, ` +
        `executor processes and their children ${(executors + stages).toFixed(2)} s ` +
        `(the processes ${executors.toFixed(2)} s, their stage shells and scripts ${
          stages.toFixed(2)
        } s)`,
    );
    report(
      `executor processes: ${counted.started} started during the burst for ${total} jobs ` +
        `(and ${counted.before} already running when it began)`,
    );
    // The xargs children's CPU, reaped by this process: sh, xargs, bash and the scripts.
    const xargs = ownBeforeBaseline !== null && ownAfterBaseline !== null
      ? `; xargs -P ${((ownAfterBaseline[1] - ownBeforeBaseline[1]) * 1000 / total).toFixed(1)} ms`
      : "";
    const ms = (s: number) => (s * 1000 / total).toFixed(1);
    report(
      `CPU per job (moves less with other load than the wall ratio): runner ${
        ms(poller + executors + stages)
      } ms (poller ${ms(poller)}, executor processes ${ms(executors)}, ` +
        `their stage shells and scripts ${ms(stages)})${xargs}`,
    );
  }
  report(`burst ratio ${(seconds / baseline).toFixed(2)}x runner vs xargs (lower is better)`);
  if (failed.length > 0) {
    report(
      `FAILED jobs: ${
        failed.slice(0, 10).map((s) => `${s.id} ${s.status} ${s.failureReason}`).join("; ")
      }`,
    );
    code = 1;
  }
} finally {
  await runner[Symbol.asyncDispose]();
  await Deno.remove(home, { recursive: true }).catch(() => {});
  await gitlab.close();
}
Deno.exit(code);
