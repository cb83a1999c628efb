/**
 * `runner run` against the fake GitLab, long polling on: how fast a job is
 * taken and run, and how much memory the runner and its executor processes
 * hold. Every figure is printed next to a baseline measured in the same run.
 *
 * (a) pickup: job enqueued while the runner's request is held → the runner's
 *     acceptance PUT (`state=running`) arrives. Goal: p50 at most 50 ms.
 * (b) `echo hello` end to end: enqueued → final PUT (`state=success`), minus
 *     `bash -c 'echo hello'` timed alternately in the same run. Goal: at
 *     most 150 ms.
 * (d) back-to-back: concurrent = 1, each job enqueued right after GitLab
 *     answered the runner's first job request after the previous job ended
 *     (a queue that keeps a runner busy):
 *     enqueue → final PUT minus `bash -c`. check_interval is 3 s, so a runner
 *     that waits for its next poll tick shows it. Goal: at most 150 ms.
 * (c) memory: VmRSS of the idle runner (goal: at most 60 MB), and the private
 *     memory (smaps_rollup Private_*) of the executor process of a running
 *     job (goal: at most 20 MB); baseline: a bare `deno eval` process. The
 *     runner's modules are put in Deno's emit cache first (`deno cache`): a
 *     runner that transpiles them itself, the first start after a source
 *     change, keeps 6-8 MB of Deno's transpiler memory (anonymous), and the
 *     first run after an edit would measure that instead of the edit.
 * (g) where an executor process's CPU goes (its own, not its stage shells'):
 *     starting up before the first job, the first job it runs, and each job
 *     after that in the same process. No goal: it says what a job costs that
 *     needs a process of its own (a burst's) against one that reuses one.
 *
 * Processes get an empty HOME so that bash --login reads no profile. The
 * runner starts as `deno task runner` does (the task's flags in deno.json:
 * grants, lazy dynamic imports, V8 flags), as users run it from source.
 *
 *   deno run --allow-all scripts/bench/job_latency.ts [--jobs 20] [--quick]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { FakeGitLab, type FakeRequest } from "../../tests/fixtures/fake_gitlab.ts";
import { childPids } from "../../tests/fixtures/child_processes.ts";
import {
  cacheRunnerModules,
  runnerTaskFlags,
  runnerToml,
  startRunner,
} from "../../tests/fixtures/runner_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.jobs ??= values.quick ? "5" : "20";
const jobs = Number(values.jobs);
/** Seconds after the last job of (d) at which "idle again" is read. */
const IDLE_AGAIN_S = 12;
if (!Number.isInteger(jobs) || jobs < 1) {
  throw new TypeError(`--jobs must be a positive integer: got "${values.jobs}"`);
}
const NO_GIT = [{ key: "GIT_STRATEGY", value: "none" }];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A `/proc/<pid>/status` or `smaps_rollup` field in kB. */
async function procKb(pid: number, file: string, field: string): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/${file}`);
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  if (!m) throw new Error(`No ${field} in /proc/${pid}/${file}`);
  return Number(m[1]);
}

async function privateKb(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  let kb = 0;
  for (const m of text.matchAll(/^Private_\w+:\s+(\d+) kB/gm)) kb += Number(m[1]);
  return kb;
}

/**
 * CPU time of each live child of `pid` (the runner's executor processes), in
 * ms: every thread's run time from /proc/<pid>/task/<tid>/schedstat, ns
 * precise (the 10 ms ticks of /proc/<pid>/stat are too coarse for one job).
 * Their own only: what their stage shells use is not in it.
 */
async function childCpuMs(pid: number): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const child of childPids(pid)) {
    let ns = 0;
    try {
      for await (const task of Deno.readDir(`/proc/${child}/task`)) {
        const text = await Deno.readTextFile(`/proc/${child}/task/${task.name}/schedstat`)
          .catch(() => "0");
        ns += Number(text.split(" ")[0]);
      }
    } catch {
      continue; // exited meanwhile
    }
    cpu.set(child, ns / 1e6);
  }
  return cpu;
}

/** CPU the children used between two `childCpuMs` samples; one started meanwhile counts whole. */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, at] of after) ms += at - (before.get(pid) ?? 0);
  return ms;
}

async function cmdline(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")).replaceAll("\0", " ");
}

function updateOf(gitlab: FakeGitLab, jobId: number, state: string): FakeRequest | undefined {
  return gitlab.requestsTo("update_job").find((r) =>
    r.url.pathname.endsWith(`/jobs/${jobId}`) &&
    (r.json as Record<string, unknown> | undefined)?.["state"] === state && r.status === 200
  );
}

/** True once the runner's newest job request has been held (unanswered) for a while. */
function isHeld(gitlab: FakeGitLab): boolean {
  const requests = gitlab.requestsTo("request_job");
  const last = requests[requests.length - 1];
  return requests.length >= 2 && last !== undefined && last.status === 0 &&
    performance.now() - last.receivedAt > 100;
}

async function timeBash(env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-c", "echo hello"],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (new TextDecoder().decode(out.stdout) !== "hello\n") {
    throw new Error("bash -c 'echo hello' failed");
  }
  return performance.now() - started;
}

const root = await Deno.makeTempDir({ prefix: "runner-bench-latency-" });
const home = join(root, "home");
await Deno.mkdir(home);
const denoDir = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");
const env = { HOME: home, DENO_DIR: denoDir };
const bashEnv = { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };

const gitlab = await FakeGitLab.start({ longPollHoldMs: 600_000, traceUpdateIntervalSeconds: 1 });
const registered = gitlab.createRunner({ kind: "created" });
const runnerFlags = runnerTaskFlags();
await cacheRunnerModules(env);
const runner = await startRunner({
  grants: runnerFlags,
  config: `concurrent = 1\ncheck_interval = 3\nlog_level = "debug"\n\n${
    runnerToml(gitlab.url, registered.token)
  }`,
  env,
});
const bare = new Deno.Command(Deno.execPath(), {
  args: ["eval", "await new Promise((r) => setTimeout(r, 600_000))"],
  env: { ...env, DENO_NO_UPDATE_CHECK: "1" },
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();
try {
  await runner.waitForLog(/Runner started/);
  await gitlab.waitFor(() => isHeld(gitlab), { what: "a held job request", timeoutMs: 60_000 });
  await sleep(1000);
  const idleRssKb = await procKb(runner.pid, "status", "VmRSS");
  const bareRssKb = await procKb(bare.pid, "status", "VmRSS");
  const idleAnonKb = await procKb(runner.pid, "smaps_rollup", "Anonymous");
  const bareAnonKb = await procKb(bare.pid, "smaps_rollup", "Anonymous");
  const barePrivateKb = await privateKb(bare.pid);

  // (a) + (b): one warm-up job, then `jobs` measured ones.
  const pickup: number[] = [];
  const untilRequest: number[] = [];
  const requestToAccept: number[] = [];
  const acceptToFinal: number[] = [];
  const endToEnd: number[] = [];
  const bash: number[] = [];
  let firstJob = 0;
  let firstBash = 0;
  // (g) the executor processes' own CPU before the first job (started, idle) and per job.
  const executorCpu = [await childCpuMs(runner.pid)];
  for (let i = 0; i <= jobs; i++) {
    bash.push(await timeBash(bashEnv));
    await gitlab.waitFor(() => isHeld(gitlab), { what: "a held job request", timeoutMs: 60_000 });
    if (i > 0) executorCpu.push(await childCpuMs(runner.pid));
    const enqueued = performance.now();
    const job = gitlab.enqueueJob({ script: ["echo hello"], variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    if (state.status !== "success") {
      throw new Error(`Job ${job.id} ${state.status}:\n${state.trace}`);
    }
    if (i === 0) {
      // The first job of a fresh runner: in the executor process it started at
      // start-up (figure g), which has run no job yet; the poller's job
      // modules not loaded yet (lazy imports).
      firstJob = updateOf(gitlab, job.id, "success")!.receivedAt - enqueued;
      firstBash = bash[0]!;
      continue;
    }
    const accepted = updateOf(gitlab, job.id, "running")!.receivedAt;
    const final = updateOf(gitlab, job.id, "success")!.receivedAt;
    // The request that got the job: the first one after the enqueue answered 201.
    const got = gitlab.requestsTo("request_job").find((r) =>
      r.status === 201 && r.receivedAt >= enqueued
    );
    pickup.push(accepted - enqueued);
    if (got) {
      untilRequest.push(got.receivedAt - enqueued);
      requestToAccept.push(accepted - got.receivedAt);
    }
    acceptToFinal.push(final - accepted);
    endToEnd.push(final - enqueued);
  }
  await sleep(200); // the last job's process may still be tidying up after the final update
  executorCpu.push(await childCpuMs(runner.pid));
  const idleExecutors = executorCpu[0]!;
  const cpuPerJob = executorCpu.slice(1).map((after, i) => cpuBetween(executorCpu[i]!, after));
  // (d) back-to-back: the next job is queued as the previous one ends.
  const backToBack: number[] = [];
  const backBash: number[] = [];
  for (let i = 0; i < jobs; i++) {
    backBash.push(await timeBash(bashEnv));
  }
  let previousEnd = 0;
  for (let i = 0; i < jobs; i++) {
    // Queued right after GitLab answered the runner's first request after the
    // previous job ended: the race a busy queue runs into all the time.
    await gitlab.waitFor(
      () =>
        gitlab.requestsTo("request_job").some((q) => q.receivedAt > previousEnd && q.status !== 0),
      { what: "the next job request to be answered", timeoutMs: 60_000, intervalMs: 1 },
    );
    const enqueued = performance.now();
    const job = gitlab.enqueueJob({ script: ["echo hello"], variables: NO_GIT });
    const state = await gitlab.waitFor(() => {
      const s = gitlab.jobOf(job.id);
      return s.status === "success" || s.status === "failed" ? s : undefined;
    }, { what: `job ${job.id} to finish`, timeoutMs: 60_000, intervalMs: 1 });
    if (state.status !== "success") throw new Error(`Job ${job.id} ${state.status}`);
    previousEnd = updateOf(gitlab, job.id, "success")!.receivedAt;
    backToBack.push(previousEnd - enqueued);
  }
  await sleep(1000);
  const idleAfterKb = await procKb(runner.pid, "status", "VmRSS");
  const idleAfterAnonKb = await procKb(runner.pid, "smaps_rollup", "Anonymous");
  // The runner as `ps` shows it on a runner in service that waits again, once
  // no job ran for IDLE_AGAIN_S (its idle collection is due after 10 s).
  await sleep(IDLE_AGAIN_S * 1000 - 1000);
  const idleAgainKb = await procKb(runner.pid, "status", "VmRSS");
  const idleAgainAnonKb = await procKb(runner.pid, "smaps_rollup", "Anonymous");
  // (f) the first job once the runner waited that long (its idle collection
  // flushed code the job path compiles again).
  const afterIdleBash = await timeBash(bashEnv);
  await gitlab.waitFor(() => isHeld(gitlab), { what: "a held job request", timeoutMs: 60_000 });
  const afterIdleEnqueued = performance.now();
  const afterIdle = gitlab.enqueueJob({ script: ["echo hello"], variables: NO_GIT });
  const afterIdleState = await gitlab.waitForJobFinished(afterIdle.id, { timeoutMs: 60_000 });
  if (afterIdleState.status !== "success") throw new Error(`Job ${afterIdle.id} failed`);
  const afterIdleJob = updateOf(gitlab, afterIdle.id, "success")!.receivedAt - afterIdleEnqueued;

  // (c) the executor process of a running job.
  const release = join(root, "release");
  const mark = runner.log.length;
  await gitlab.waitFor(() => isHeld(gitlab), { what: "a held job request", timeoutMs: 60_000 });
  const sleeper = gitlab.enqueueJob({
    script: ["echo sleeping", `while [ ! -e ${release} ]; do sleep 0.2; done`],
    variables: NO_GIT,
  });
  await gitlab.waitFor(() => gitlab.jobOf(sleeper.id).trace.includes("sleeping"), {
    what: "the sleeping job",
    timeoutMs: 60_000,
  });
  const logged = /Executor process started.*pid=(\d+)/.exec(runner.log.slice(mark))?.[1];
  const executorPid = logged ? Number(logged) : childPids(runner.pid)[0];
  if (executorPid === undefined) throw new Error(`No executor process under ${runner.pid}`);
  await sleep(500);
  const executorPrivateKb = await privateKb(executorPid);
  const executorRssKb = await procKb(executorPid, "status", "VmRSS");
  const busyRssKb = await procKb(runner.pid, "status", "VmRSS");
  const executorCmd = await cmdline(executorPid);
  await Deno.writeTextFile(release, "");
  await gitlab.waitForJobFinished(sleeper.id, { timeoutMs: 60_000 });

  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const pickupP50 = percentile(pickup, 50);
  const bashP50 = percentile(bash, 50);
  const e2eP50 = percentile(endToEnd, 50);
  const lines = [
    `job_latency: ${jobs} echo-hello jobs, long polling (request held), concurrent = 1, empty HOME`,
    `  runner started as \`deno task runner\` does: deno run ${runnerFlags.join(" ")} ` +
    `src/cli/main.ts run`,
    `  (a) pickup enqueue → acceptance PUT   p50 ${ms(pickupP50)}   p95 ${
      ms(percentile(pickup, 95))
    }` +
    `   (goal <= 50 ms: ${pickupP50 <= 50 ? "met" : "NOT met"})`,
    `      enqueue → job request that got it p50 ${ms(percentile(untilRequest, 50))} ` +
    `(the held request is released with a 204, then the runner waits check_interval)`,
    `      that request → acceptance PUT     p50 ${
      ms(percentile(requestToAccept, 50))
    } (the runner's own share)`,
    `  (b) echo hello enqueue → final PUT   p50 ${ms(e2eP50)}   p95 ${
      ms(percentile(endToEnd, 95))
    }`,
    `      acceptance PUT → final PUT         p50 ${ms(percentile(acceptToFinal, 50))}`,
    `      bash -c 'echo hello'              p50 ${ms(bashP50)}`,
    `      job - bash: ${ms(e2eP50 - bashP50)}, ratio ${(e2eP50 / bashP50).toFixed(1)}x ` +
    `(goal <= 150 ms: ${e2eP50 - bashP50 <= 150 ? "met" : "NOT met"})`,
    `      without the poll wait (acceptance PUT → final PUT) - bash: ` +
    `${ms(percentile(acceptToFinal, 50) - bashP50)}`,
    `      (each job runs in the executor process the previous job released; the runner keeps one 60 s)`,
    `  (e) first job of the fresh runner (its executor process started but unused, job modules not loaded) ` +
    `enqueue → final PUT ${ms(firstJob)}`,
    `      first job - bash: ${ms(firstJob - firstBash)} (goal <= 150 ms: ${
      firstJob - firstBash <= 150 ? "met" : "NOT met"
    })`,
    `  (g) executor processes' own CPU (not their stages'): ${idleExecutors.size} started ` +
    `before the first job, ${ms(cpuBetween(new Map(), idleExecutors))} by then; first job ` +
    `${ms(cpuPerJob[0]!)}; each later job p50 ${ms(percentile(cpuPerJob.slice(1), 50))}`,
    `  (d) back-to-back (queued as the previous job ends) enqueue → final PUT p50 ${
      ms(percentile(backToBack, 50))
    }   p95 ${ms(percentile(backToBack, 95))}`,
    `      back-to-back - bash: ${
      ms(percentile(backToBack, 50) - percentile(backBash, 50))
    } (goal <= 150 ms: ${
      percentile(backToBack, 50) - percentile(backBash, 50) <= 150 ? "met" : "NOT met"
    })`,
    `  (f) first job after ${IDLE_AGAIN_S} s idle enqueue → final PUT ${ms(afterIdleJob)}, ` +
    `- bash: ${ms(afterIdleJob - afterIdleBash)}`,
    `  (c) runner RSS idle ${mb(idleRssKb)} (after ${jobs + 1} jobs: ${mb(idleAfterKb)}, ` +
    `one job running: ${mb(busyRssKb)}); bare deno eval RSS ${mb(bareRssKb)}; ` +
    `ratio ${(idleRssKb / bareRssKb).toFixed(2)}x (goal <= 60 MB: ${
      idleRssKb <= 60 * 1024 ? "met" : "NOT met"
    })`,
    // A Worker alone touches ~10 MB more of the deno binary's code (new Worker() in a bare script).
    `      idle again after the jobs: 1 s ${mb(idleAfterKb)} (anonymous ${
      mb(idleAfterAnonKb)
    }), ${IDLE_AGAIN_S} s ${mb(idleAgainKb)} (anonymous ${mb(idleAgainAnonKb)})`,
    `      anonymous (both isolates' heaps, malloc) runner ${mb(idleAnonKb)}, bare ${
      mb(bareAnonKb)
    }; file-backed (deno's code pages, shared with other deno processes) runner ${
      mb(idleRssKb - idleAnonKb)
    }, bare ${mb(bareRssKb - bareAnonKb)}`,
    `      executor process private ${mb(executorPrivateKb)} (RSS ${mb(executorRssKb)}); ` +
    `bare deno eval private ${mb(barePrivateKb)}; ratio ${
      (executorPrivateKb / barePrivateKb).toFixed(2)
    }x ` +
    `(goal <= 20 MB: ${executorPrivateKb <= 20 * 1024 ? "met" : "NOT met"})`,
    `      executor: ${executorCmd.slice(0, 160)}`,
  ];
  // deno-lint-ignore no-console -- benchmark report
  console.log(lines.join("\n"));
} finally {
  try {
    bare.kill("SIGKILL");
  } catch {
    // already gone
  }
  await bare.status;
  await runner[Symbol.asyncDispose]();
  await gitlab.close();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
