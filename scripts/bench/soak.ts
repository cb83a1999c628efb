/**
 * Soak: many trivial shell jobs through one `runner run` (concurrent = 20)
 * against the fake GitLab. Every job must succeed; the runner's resident
 * memory after the run is compared with its memory after the first part of
 * the run (goal: within 10%, no leak), and throughput is reported.
 *
 *   deno run --allow-all scripts/bench/soak.ts [--jobs 5000] [--concurrent 20] [--quick]
 *
 * The checkpoint is half-way: the first few hundred jobs warm the runner up
 * (V8 compiles and sizes its heaps, allocators grow their arenas), and a
 * checkpoint among them measures that, not a leak.
 * `--quick` runs 1200 jobs (concurrent = 10), to stay within about 2 minutes. RSS is read from
 * /proc/<pid>/status (Linux); each reading is the median of five samples.
 * Exits 1 when a job did not succeed or the memory goal is missed.
 */
import { parseArgs } from "node:util";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { runnerTaskFlags, runnerToml, startRunner } from "../../tests/fixtures/runner_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string" },
    concurrent: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.jobs ??= values.quick ? "1200" : "5000";
values.concurrent ??= values.quick ? "10" : "20";
const total = Number(values.jobs);
const concurrent = Number(values.concurrent);
if (!Number.isInteger(total) || total < 10) {
  throw new TypeError(`--jobs must be an integer >= 10: got "${values.jobs}"`);
}
if (!Number.isInteger(concurrent) || concurrent < 1) {
  throw new TypeError(`--concurrent must be a positive integer: got "${values.concurrent}"`);
}
const checkpoint = Math.floor(total / 2);
const RSS_GOAL = 1.1;

async function rssKiB(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    samples.push(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN));
    await new Promise((r) => setTimeout(r, 200));
  }
  return samples.sort((a, b) => a - b)[2]!;
}

function report(line: string): void {
  // deno-lint-ignore no-console -- benchmark report on stdout
  console.log(line);
}

// GitLab (Workhorse) holds a job request up to 50 s by default, as in scripts/bench/burst.ts.
const gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 3, longPollHoldMs: 50_000 });
const r = gitlab.createRunner({ kind: "created" });
// Login shells read no profile (root's runs a slow pyenv init); Deno's cache stays put.
const home = await Deno.makeTempDir({ prefix: "runner-bench-home-" });
const denoDir = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;
// Started as `deno task runner` does (grants, V8 flags), as users run it from source.
const runner = await startRunner({
  grants: runnerTaskFlags(),
  config: `concurrent = ${concurrent}\ncheck_interval = 1\nlog_level = "warning"\n\n` +
    runnerToml(gitlab.url, r.token, { limit: concurrent, "request_concurrency": 2 }),
  env: { HOME: home, DENO_DIR: denoDir },
});
let code = 0;
try {
  const ids: number[] = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    ids.push(
      gitlab.enqueueJob({
        script: ["echo soak $CI_JOB_ID"],
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      }).id,
    );
  }
  const unfinished = new Set(ids);
  const failed: string[] = [];
  let rssCheckpoint = 0;
  let checkpointAt = 0;
  let lastReport = performance.now();
  while (unfinished.size > 0) {
    for (const id of unfinished) {
      const s = gitlab.jobOf(id);
      if (s.status === "pending" || s.status === "running" || s.status === "canceling") continue;
      unfinished.delete(id);
      if (s.status !== "success") failed.push(`${id}: ${s.status} ${s.failureReason ?? ""}`);
    }
    const done = total - unfinished.size;
    if (rssCheckpoint === 0 && done >= checkpoint) {
      checkpointAt = performance.now();
      rssCheckpoint = await rssKiB(runner.pid);
      report(`after ${done} jobs: runner RSS ${(rssCheckpoint / 1024).toFixed(1)} MiB`);
    }
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now();
      report(
        `${done}/${total} jobs done, ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
    if (
      runner.log.includes("panic") ||
      (await Promise.race([runner.exited().then(() => true), Promise.resolve(false)]))
    ) {
      throw new Error(`The runner stopped:\n${runner.log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - started) / 1000;
  const rssEnd = await rssKiB(runner.pid);
  const ratio = rssEnd / rssCheckpoint;
  const steady = (total - checkpoint) / ((performance.now() - checkpointAt) / 1000);
  report(
    `jobs: ${
      total - failed.length
    }/${total} succeeded (concurrent = ${concurrent}, ${navigator.hardwareConcurrency} cores)`,
  );
  report(
    `throughput: ${(total / seconds).toFixed(2)} jobs/s overall, ${
      steady.toFixed(2)
    } jobs/s after the checkpoint; ${seconds.toFixed(1)} s`,
  );
  report(
    `runner RSS: ${(rssCheckpoint / 1024).toFixed(1)} MiB after ${checkpoint} jobs, ${
      (rssEnd / 1024).toFixed(1)
    } MiB after ${total}`,
  );
  report(`soak RSS ratio ${ratio.toFixed(3)}x (goal <= ${RSS_GOAL}x)`);
  if (failed.length > 0) {
    report(`FAILED jobs (${failed.length}): ${failed.slice(0, 10).join("; ")}`);
    code = 1;
  }
  if (ratio > RSS_GOAL) code = 1;
} finally {
  await runner[Symbol.asyncDispose]();
  await Deno.remove(home, { recursive: true }).catch(() => {});
  await gitlab.close();
}
Deno.exit(code);
