/**
 * How `runner exec --list` grows with the pipeline: a project whose
 * .gitlab-ci.yml has two stages of N jobs each, the second stage's jobs in
 * stage order (each waits for, and receives artifacts from, every job of the
 * first, as in GitLab), listed at two sizes, N and 4N, beside the one-job
 * project of the exec_job bench, measured in the same run and alternated.
 *
 * For each size: the wall-clock median and peak RSS, and per job of the
 * pipeline what it adds over the one-job list (the baseline: start-up,
 * module loading, git). The ratio of the large size's per-job cost to the
 * small one's is ~1 when planning grows linearly with the jobs, ~4 when it
 * grows with their square (every job of a stage holding its own copy of the
 * earlier stage's list).
 *
 *   deno run --allow-all scripts/bench/exec_plan.ts [--jobs 500] [--runs 5] [--quick]
 *
 * `--jobs N` is the small size's jobs per stage (the large one has 4N).
 * Needs git and GNU time (/usr/bin/time, for the peak RSS); without them,
 * skips saying so. `--quick` times 3 runs of each with N = 250.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runnerTaskFlags } from "../../tests/fixtures/runner_process.ts";
import { execBenchEnv, helloProject } from "./_hello_project.ts";
import { missingToolsReason } from "./_baseline_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string" },
    runs: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.jobs ??= values.quick ? "250" : "500";
values.runs ??= values.quick ? "3" : "5";
/** The positive integer `value` of `flag`; throws naming both otherwise. */
function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new TypeError(`${flag} must be a positive integer: got "${value}"`);
  }
  return n;
}
const perStage = count("--jobs", values.jobs);
const runs = count("--runs", values.runs);

const missing = await missingToolsReason(["git", "/usr/bin/time"]);
if (missing) {
  // deno-lint-ignore no-console -- benchmark report
  console.log(`Skipping exec_plan benchmark: ${missing}`);
  Deno.exit(0);
}

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "runner-bench-exec-plan-" });
const env = await execBenchEnv(root);

/** The one-job project, its .gitlab-ci.yml replaced by two stages of `n` jobs each. */
async function twoStageProject(n: number): Promise<string> {
  const project = await helloProject(join(root, String(n)));
  const lines = ["stages: [build, test]"];
  for (const stage of ["build", "test"]) {
    for (let i = 0; i < n; i++) {
      lines.push(`${stage}-${i}:`, `  stage: ${stage}`, `  script: [echo ${stage} ${i}]`);
    }
  }
  await Deno.writeTextFile(join(project, ".gitlab-ci.yml"), lines.join("\n") + "\n");
  return project;
}

interface Sample {
  ms: number;
  rssKb: number;
}

async function list(project: string, jobs: number): Promise<Sample> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      Deno.execPath(),
      "run",
      ...runnerTaskFlags(),
      "--quiet",
      MAIN,
      "exec",
      "--list",
    ],
    cwd: project,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const text = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  // One line per job after the header.
  const listed = text.split("\n").filter((l) => /^\s*\d+\s/.test(l)).length;
  if (!out.success || listed !== jobs) {
    throw new Error(
      `exec --list in ${project} failed (${out.code}, ${listed} jobs): ${text}${stderr}`,
    );
  }
  return { ms, rssKb: Number(stderr.trim().split("\n").at(-1)) };
}

try {
  const sizes = [
    { name: "1 job", jobs: 1, project: await helloProject(join(root, "one")) },
    { name: `${2 * perStage} jobs`, jobs: 2 * perStage, project: await twoStageProject(perStage) },
    {
      name: `${8 * perStage} jobs`,
      jobs: 8 * perStage,
      project: await twoStageProject(4 * perStage),
    },
  ];
  // Warm the module cache and each project's state directory (its parse cache).
  for (const s of sizes) await list(s.project, s.jobs);
  const samples = new Map<string, Sample[]>(sizes.map((s) => [s.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const s of sizes) samples.get(s.name)!.push(await list(s.project, s.jobs));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const wall = (name: string) => median(samples.get(name)!.map((x) => x.ms));
  const rss = (name: string) => Math.max(...samples.get(name)!.map((x) => x.rssKb)) / 1024;
  const [one, small, large] = sizes as [typeof sizes[0], typeof sizes[0], typeof sizes[0]];
  const perJobMs = (s: typeof one) => (wall(s.name) - wall(one.name)) / s.jobs;
  const perJobKb = (s: typeof one) => (rss(s.name) - rss(one.name)) * 1024 / s.jobs;
  const lines = [
    `exec_plan: \`runner exec --list\`, ${runs} runs each, medians; two stages, the second in stage order`,
  ];
  for (const s of sizes) {
    lines.push(
      `  ${s.name.padEnd(11)} ${wall(s.name).toFixed(0).padStart(6)} ms  peak RSS ${
        rss(s.name).toFixed(0).padStart(4)
      } MiB` +
        (s === one
          ? "  (baseline)"
          : `  per job +${perJobMs(s).toFixed(3)} ms, +${perJobKb(s).toFixed(1)} KiB`),
    );
  }
  lines.push(
    `  per-job time, ${large.name} over ${small.name}: ratio ${
      (perJobMs(large) / perJobMs(small)).toFixed(2)
    }x; per-job memory: ratio ${
      (perJobKb(large) / perJobKb(small)).toFixed(2)
    }x (goal: about 1, growing linearly; 4 would be with the square)`,
  );
  // deno-lint-ignore no-console -- benchmark report
  console.log(lines.join("\n"));
} finally {
  await Deno.remove(root, { recursive: true });
}
