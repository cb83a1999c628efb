/**
 * `runner exec` on a one-job `echo hello` pipeline versus `bash -c 'echo hello'`,
 * measured in the same run, alternating so both see the same machine load.
 * Prints medians, the difference in ms (goal: at most 150 ms) and where the
 * time goes:
 *
 * - `deno run main.ts --version`: Deno start-up and module loading (the
 *   module graph is cached; `deno run` does not type-check), paid twice by a
 *   job: once by exec, once by its executor subprocess.
 * - `exec --list`: start-up plus loading and planning the pipeline.
 * - `exec`: the whole run (workspace copy, executor subprocess, the job's
 *   shell stages, summary).
 * - the design's floor, with none of the runner's code: a Deno process that
 *   starts a second one (the executor subprocess), which runs the job's two
 *   stages as the shell executor does (`setsid bash --login`, the script on
 *   stdin). Any `runner exec` that runs a job in an executor subprocess
 *   through login-shell stages pays at least this; the rest of its time is
 *   the runner's own work.
 *
 * The project is a git repository with one commit and an `origin` remote,
 * as users have one (exec reads its git state).
 *
 * Every process gets an empty HOME, so the machine's login profile (which
 * the shell executor's `bash --login` reads once per stage) is not measured.
 * The runner starts as `deno task runner` does (the task's flags in
 * deno.json: grants, lazy dynamic imports, V8 flags, no V8 code cache;
 * printed), as users run it from source, and `runner exec` also as a `runner`
 * installed with `deno install` does (README.md): the same flags but
 * `--no-code-cache`, which `deno install` does not take, so it keeps a code
 * cache.
 *
 * Next to each wall-clock median, the median CPU time of the process tree
 * (user + system of the command and every process it waited for, from this
 * process's children times in /proc/self/stat, 10 ms ticks; Linux only): on a
 * busy 2-core machine it moves much less with the load than the wall clock.
 *
 *   deno run --allow-all scripts/bench/exec_job.ts [--runs 9] [--quick]
 *
 * Needs git (the project's repository); without it, skips saying so.
 *
 * `--quick` times 5 runs of each.
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { runnerTaskFlags } from "../../tests/fixtures/runner_process.ts";
import { RUNNER_NO_CODE_CACHE_FLAG } from "../../src/poller/v8_flags.ts";
import { execBenchEnv, helloProject } from "./_hello_project.ts";
import { missingToolsReason } from "./_baseline_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
values.runs ??= values.quick ? "5" : "9";
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${values.runs}"`);
}

// The project is a git repository, as users have one.
const missing = await missingToolsReason(["git"]);
if (missing) {
  // deno-lint-ignore no-console -- benchmark report
  console.log(`Skipping exec_job benchmark: ${missing}`);
  Deno.exit(0);
}

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const root = await Deno.makeTempDir({ prefix: "runner-bench-exec-" });
const project = await helloProject(root);
const env = await execBenchEnv(root);

/** CPU time of the children this process has waited for, in ms (null off Linux). */
function childrenCpuMs(): number | null {
  try {
    // Fields after "(comm) ": state is 3rd; cutime and cstime are the 16th and 17th.
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return null;
  }
}

interface Sample {
  ms: number;
  /** CPU of the process tree; null where /proc/self/stat is missing. */
  cpuMs: number | null;
}

async function time(
  command: string,
  args: string[],
  check: (out: string) => boolean,
): Promise<Sample> {
  const cpuBefore = childrenCpuMs();
  const started = performance.now();
  const out = await new Deno.Command(command, {
    args,
    cwd: project,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const cpuAfter = childrenCpuMs();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || !check(text)) {
    throw new Error(
      `"${command} ${args.join(" ")}" failed (${out.code}): ${text}${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return { ms, cpuMs: cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null };
}

const deno = Deno.execPath();
/** Issue 16's goal for `runner exec` over `bash -c`. */
const GOAL_MS = 150;

/**
 * The floor's two processes, written to `dir`: the outer one starts the inner
 * one, which runs `:` and then `echo hello` each in a login bash of its own
 * session, as the shell executor starts a job's stages (util-linux `setsid`
 * where there is one, else a detached spawn). Returns the outer's `deno` args.
 */
async function floorScripts(dir: string): Promise<string[]> {
  const outer = join(dir, "floor_exec.js");
  const inner = join(dir, "floor_executor.js");
  const hasSetsid = (await missingToolsReason(["setsid"])) === null;
  const [shell, shellArgs] = hasSetsid ? ["setsid", ["bash", "--login"]] : ["bash", ["--login"]];
  await Deno.writeTextFile(
    outer,
    `const [deno, inner] = Deno.args;
const executor = new Deno.Command(deno, {
  args: ["run", "--quiet", "--no-config", "--allow-run=${shell}", inner],
}).spawn();
Deno.exit((await executor.status).code);
`,
  );
  await Deno.writeTextFile(
    inner,
    `for (const script of [":", "echo hello"]) {
  const shell = new Deno.Command("${shell}", {
    args: ${JSON.stringify(shellArgs)},
    detached: ${!hasSetsid},
    stdin: "piped",
  }).spawn();
  const writer = shell.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script + "\\n"));
  await writer.close();
  if (!(await shell.status).success) Deno.exit(1);
}
`,
  );
  return ["run", "--quiet", "--no-config", `--allow-run=${deno}`, outer, deno, inner];
}
const floor = await floorScripts(root);
const runnerFlags = runnerTaskFlags();
const installedFlags = runnerFlags.filter((f) => f !== RUNNER_NO_CODE_CACHE_FLAG);
const runner = (...args: string[]) => ["run", ...runnerFlags, "--quiet", MAIN, ...args];
const installed = (...args: string[]) => ["run", ...installedFlags, "--quiet", MAIN, ...args];
const cases: Record<string, () => Promise<Sample>> = {
  "bash -c 'echo hello'": () => time("bash", ["-c", "echo hello"], (o) => o === "hello\n"),
  "deno run main.ts --version": () => time(deno, runner("--version"), (o) => o.includes("Version")),
  "floor, no runner code": () => time(deno, floor, (o) => o === "hello\n"),
  "runner exec --list": () => time(deno, runner("exec", "--list"), (o) => o.includes("hello")),
  "runner exec": () => time(deno, runner("exec"), (o) => /^hello$/m.test(o)),
  "runner exec, installed": () => time(deno, installed("exec"), (o) => /^hello$/m.test(o)),
};

try {
  // Warm the module cache and exec's state directory once.
  for (const run of Object.values(cases)) await run();
  const samples: Record<string, Sample[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [name, run] of Object.entries(cases)) (samples[name] ??= []).push(await run());
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  };
  const wall = (name: string) => median(samples[name]!.map((x) => x.ms));
  const cpu = (name: string) => {
    const xs = samples[name]!.map((x) => x.cpuMs);
    return xs.every((x) => x !== null) ? median(xs as number[]) : null;
  };
  const base = wall("bash -c 'echo hello'");
  const baseCpu = cpu("bash -c 'echo hello'");
  const lines = [
    `exec_job: ${runs} runs each, medians (empty HOME, module cache warm); CPU of the process tree`,
    `  runner started as \`deno task runner\` does: deno run ${
      runnerFlags.join(" ")
    } src/cli/main.ts`,
    `  installed (deno install): deno run ${installedFlags.join(" ")} src/cli/main.ts`,
  ];
  for (const name of Object.keys(samples)) {
    const m = wall(name);
    const c = cpu(name);
    lines.push(
      `  ${name.padEnd(28)} ${m.toFixed(0).padStart(6)} ms   +${(m - base).toFixed(0)} ms` +
        (c === null ? "" : `   CPU ${c.toFixed(0).padStart(5)} ms`),
    );
  }
  const exec = wall("runner exec");
  lines.push(`  runner exec - bash: ${(exec - base).toFixed(0)} ms (goal: at most ${GOAL_MS} ms)`);
  const floorMs = wall("floor, no runner code");
  const floorDiff = floorMs - base;
  lines.push(
    `  floor - bash: ${floorDiff.toFixed(0)} ms (an executor subprocess and two login-shell ` +
      `stages, no runner code${floorDiff > GOAL_MS ? ": above the goal" : ""}); ` +
      `runner exec - floor: ${(exec - floorMs).toFixed(0)} ms`,
  );
  lines.push(
    `  runner exec, installed - bash: ${(wall("runner exec, installed") - base).toFixed(0)} ms`,
  );
  const cpuExec = cpu("runner exec");
  if (cpuExec !== null && baseCpu !== null) {
    lines.push(`  runner exec - bash, CPU: ${(cpuExec - baseCpu).toFixed(0)} ms`);
  }
  // deno-lint-ignore no-console -- benchmark report
  console.log(lines.join("\n"));
} finally {
  await Deno.remove(root, { recursive: true });
}
