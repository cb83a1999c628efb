/**
 * How long an edit of config.toml takes to reach a running `runner run`:
 * from the moment the edit is on disk to the `Configuration loaded` line in
 * the runner log. Each edit changes `concurrent`; edits alternate between an
 * in-place write and an editor-style save by rename.
 *
 * Baselines: the official runner checks the file's mtime every 3 s, so its
 * latency is 0–3 s (1.5 s on average, 3 s at worst); and, measured in the same
 * run, an edit followed at once by SIGHUP, which reloads without the watcher's
 * debounce — the floor set by reading, validating, applying and logging.
 *
 * And the memory the edits leave: the idle runner's RSS before the first edit
 * and 12 s after the last, and their ratio (an idle runner's goal, at most
 * 60 MB, is scripts/bench/job_latency.ts figure (c)). The runner starts as
 * `deno task runner` does (the task's flags in deno.json), with its modules
 * in Deno's emit cache first, as there.
 *
 *   deno run --allow-all scripts/bench/reload_latency.ts [--edits 30] [--quick]
 */
import { parseArgs } from "node:util";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import {
  cacheRunnerModules,
  type RunnerProcess,
  runnerTaskFlags,
  runnerToml,
  startRunner,
} from "../../tests/fixtures/runner_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    edits: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.edits ??= values.quick ? "8" : "30";
const edits = Number(values.edits);
if (!Number.isInteger(edits) || edits < 2) {
  throw new TypeError(`--edits must be an integer of 2 or more: got "${values.edits}"`);
}
const OFFICIAL_POLL_MS = 3000;
const GOAL_MS = 1000;
/** How long the runner is left idle before its RSS is read (past its 10 s idle collection). */
const IDLE_MS = 12_000;

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

function configText(url: string, token: string, concurrent: number): string {
  return `concurrent = ${concurrent}\ncheck_interval = 3\n\n${runnerToml(url, token)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Time from `edit()` resolving to the next `Configuration loaded` line. */
async function measure(runner: RunnerProcess, edit: () => Promise<void>): Promise<number> {
  const mark = runner.log.length;
  await edit();
  const written = performance.now();
  const deadline = written + 30_000;
  while (!runner.log.includes("Configuration loaded", mark)) {
    if (performance.now() > deadline) {
      throw new Error(`No reload logged:\n${runner.log.slice(mark)}`);
    }
    await sleep(1);
  }
  return performance.now() - written;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const gitlab = await FakeGitLab.start();
const registered = gitlab.createRunner({ kind: "created" });
await cacheRunnerModules();
const runner = await startRunner({
  config: configText(gitlab.url, registered.token, 1),
  grants: runnerTaskFlags(),
});
try {
  await runner.waitForLog(/Runner started/);
  await sleep(IDLE_MS);
  const idleBefore = await rssMb(runner.pid);
  let concurrent = 1;
  const inPlace: number[] = [];
  const renamed: number[] = [];
  const sighup: number[] = [];
  for (let i = 0; i < edits; i++) {
    const text = configText(gitlab.url, registered.token, ++concurrent);
    if (i % 2 === 0) {
      inPlace.push(await measure(runner, () => Deno.writeTextFile(runner.configPath, text)));
    } else {
      renamed.push(
        await measure(runner, async () => {
          await Deno.writeTextFile(`${runner.configPath}.tmp`, text);
          await Deno.rename(`${runner.configPath}.tmp`, runner.configPath);
        }),
      );
    }
    await sleep(300); // past the watcher's debounce, so edits do not merge
  }
  for (let i = 0; i < Math.max(3, Math.floor(edits / 2)); i++) {
    const text = configText(gitlab.url, registered.token, ++concurrent);
    sighup.push(
      await measure(runner, async () => {
        await Deno.writeTextFile(runner.configPath, text);
        runner.signal("SIGHUP");
      }),
    );
    await sleep(300);
  }
  await sleep(IDLE_MS);
  const idleAfter = await rssMb(runner.pid);
  const watched = [...inPlace, ...renamed];
  const p50 = percentile(watched, 50);
  const p95 = percentile(watched, 95);
  const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;
  const lines = [
    `reload_latency: ${watched.length} watched edits (${inPlace.length} in place, ${renamed.length} by rename), ${sighup.length} with SIGHUP`,
    `  watched edit     p50 ${fmt(p50)}   p95 ${fmt(p95)}   max ${fmt(Math.max(...watched))}`,
    `  in place         p50 ${fmt(percentile(inPlace, 50))}`,
    `  save by rename   p50 ${fmt(percentile(renamed, 50))}`,
    `  edit + SIGHUP    p50 ${fmt(percentile(sighup, 50))}   (no debounce: the floor)`,
    `  watched p50 vs official 3 s poll: ratio ${(p50 / OFFICIAL_POLL_MS).toFixed(3)}x; ` +
    `vs its 1.5 s average: ${(p50 / (OFFICIAL_POLL_MS / 2)).toFixed(3)}x`,
    `  watched p95 ${p95.toFixed(0)} ms (goal <= ${GOAL_MS} ms): ${
      p95 <= GOAL_MS ? "met" : "NOT met"
    }; ` +
    `debounce and wake-up cost ${
      (p50 - percentile(sighup, 50)).toFixed(0)
    } ms over the SIGHUP floor`,
    `  idle runner RSS ${idleAfter.toFixed(1)} MB ${IDLE_MS / 1000} s after the last edit, ` +
    `${idleBefore.toFixed(1)} MB before the first: ratio ${(idleAfter / idleBefore).toFixed(2)}x`,
  ];
  // deno-lint-ignore no-console -- benchmark report
  console.log(lines.join("\n"));
} finally {
  await runner[Symbol.asyncDispose]();
  await gitlab.close();
}
