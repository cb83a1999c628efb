/**
 * What scoping an executor process costs: a trivial shell job (`true`) run
 * through the real executor entry, start message → result event, with the
 * child scoped the two ways the runner does it, alternated in the same run:
 *
 * - flags: from source, as `runner run` starts it: `deno run
 *   --unstable-lazy-dynamic-imports <--allow-* of its row, plus read access to
 *   the runner's source> executor_entry.ts executor-process`;
 * - worker: as the compiled binary, `deno run <global grants> main.ts
 *   executor-process --permissions <row>`, the job in a scoped Worker.
 *
 * Two figures each: `cold` (process started for this job) and `spare` (started
 * before the job arrives, as the poller keeps one while jobs keep coming).
 * Prints medians and worker/flags ratios (goal <= 1.10). `--quick` runs 9 cold
 * and 3 spare jobs each: a cold run takes a fraction of a second, a spare run
 * waits 3 s, and the start-up of a cold process varies most on a shared machine.
 *
 * Also `worker floor`, alternated with the cold runs: what a fresh process
 * with the same grants waits for its first Worker of the same permission set
 * running an empty module (_worker_floor.ts), and the cold ratio that flags
 * cold plus that floor would give: how close to the flags a process that
 * creates a Worker can come on this machine. The `deno run` stand-in for the
 * compiled binary pays more than the binary in one place: Deno builds the
 * Worker's module graph afresh (every module the job's code can reach,
 * literal dynamic imports included), which a binary's embedded modules need
 * not.
 *
 *   deno run --allow-all scripts/bench/scoping.ts [--jobs 10] [--quick]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import { executorSettings } from "../../src/executors/process_protocol.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { executorPermissions } from "../../src/poller/executor_permissions.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import { COMPILED_GRANT_FLAGS } from "../../src/poller/compiled_grants.ts";
import { EXECUTOR_V8_FLAGS } from "../../src/poller/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { jobs: { type: "string" }, quick: { type: "boolean", default: false } },
});
const jobs = Number(values.jobs ?? "10");
if (!Number.isInteger(jobs) || jobs < 1) {
  throw new TypeError(`--jobs must be a positive integer: got "${values.jobs}"`);
}
const runs = values.quick && values.jobs === undefined
  ? { cold: 9, spare: 3 }
  : { cold: jobs, spare: jobs };
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../../src/cli/executor_entry.ts", import.meta.url));
const SOURCE_DIR = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const root = await Deno.makeTempDir({ prefix: "scoping-bench-" });
const home = join(root, "home");
await Deno.mkdir(home);
await Deno.mkdir(join(root, "tmp"));
const runner = defaultRunnerConfig("shell");
runner.url = "http://127.0.0.1:9";
runner.buildsDir = join(root, "builds");
runner.cacheDir = join(root, "cache");
const permissions = executorPermissions({
  runner,
  cwd: root,
  tempDir: join(root, "tmp"),
  stateDir: join(root, ".runner"),
  env: () => undefined,
});
// A clean HOME: bash --login reads no profile; deno keeps its module cache.
const env = {
  PATH: Deno.env.get("PATH") ?? "",
  HOME: home,
  DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
};

async function runOnce(scoping: "flags" | "worker", isSpare: boolean, id: number): Promise<number> {
  // The flags child starts as runner run starts it from source (src/cli/commands/run.ts).
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    ...(scoping === "flags" ? { mainModule: ENTRY, sourceDir: SOURCE_DIR } : { mainModule: MAIN }),
    scoping,
    env,
  });
  const t0 = performance.now();
  const proc = launcher.launch(permissions);
  if (isSpare) await new Promise((r) => setTimeout(r, 3000)); // loaded before the job comes
  const start = isSpare ? performance.now() : t0;
  await proc.send({
    type: "start",
    job: parseJobSpec({
      id,
      token: "glcbt-bench",
      steps: [{ name: "script", script: ["true"], timeout: 60, when: "on_success" }],
      variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
      job_info: { project_id: 1, name: "bench" },
      git_info: { repo_url: "http://127.0.0.1:9/a/b.git", ref: "main", sha: "0".repeat(40) },
    }),
    runner: executorSettings(runner),
    shortToken: "benchbnc",
    systemId: "s_0123456789ab",
    concurrentId: 0,
    concurrentProjectId: 0,
    cwd: root,
    stateDir: join(root, ".runner"),
    tempDir: join(root, "tmp"),
  });
  let ok = false;
  for await (const item of proc.events()) {
    if ("event" in item && item.event.type === "result") ok = item.event.state === "success";
  }
  const ms = performance.now() - start;
  await proc[Symbol.asyncDispose]();
  if (!ok) throw new Error(`${scoping} job ${id} did not succeed: ${proc.stderrTail()}`);
  return ms;
}

const FLOOR = fileURLToPath(new URL("./_worker_floor.ts", import.meta.url));
const emptyModule = join(root, "empty_worker.js");
await Deno.writeTextFile(emptyModule, "postMessage(0);\n");

/** One fresh process's first scoped Worker, empty module: ms from `new Worker` to its message. */
async function floorOnce(): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "--quiet", ...EXECUTOR_V8_FLAGS, ...COMPILED_GRANT_FLAGS, FLOOR],
      ...[emptyModule, JSON.stringify(permissions)],
    ],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isFinite(ms)) {
    throw new Error(`worker floor failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times: Record<string, number[]> = {};
let id = 1;
try {
  for (let i = 0; i < Math.max(runs.cold, runs.spare); i++) {
    for (const isSpare of [false, true]) {
      if (i >= (isSpare ? runs.spare : runs.cold)) continue;
      for (const scoping of ["flags", "worker"] as const) {
        (times[`${scoping} ${isSpare ? "spare" : "cold"}`] ??= []).push(
          await runOnce(scoping, isSpare, id++),
        );
      }
      if (!isSpare) (times["worker floor"] ??= []).push(await floorOnce());
    }
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
const lines = [
  `trivial shell job through the executor entry, ${runs.cold} cold and ${runs.spare} spare runs each (median ms):`,
];
for (const [name, xs] of Object.entries(times)) {
  lines.push(`  ${name.padEnd(14)} ${median(xs).toFixed(0)}`);
}
for (const kind of ["cold", "spare"]) {
  const ratio = median(times[`worker ${kind}`]!) / median(times[`flags ${kind}`]!);
  lines.push(`  ratio worker/flags (${kind}): ${ratio.toFixed(2)}  (goal <= 1.10)`);
}
const flagsCold = median(times["flags cold"]!);
lines.push(
  `  ratio (flags cold + worker floor)/flags cold: ${
    ((flagsCold + median(times["worker floor"]!)) / flagsCold).toFixed(2)
  }  (the least a Worker per process costs here)`,
);
// deno-lint-ignore no-console -- a bench prints its report
console.log(lines.join("\n"));
