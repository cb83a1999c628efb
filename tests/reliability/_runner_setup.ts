/**
 * What the reliability tests share: config.toml text, a restart of `runner
 * run` on the same config dir (so it finds its journal), the job output a
 * script printed, and cleanup of job processes a killed runner left behind.
 */
import { join } from "node:path";
import { MAIN_MODULE, RunnerProcess } from "../fixtures/runner_process.ts";
export { NO_GIT } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";

export function config(body: string, global: Record<string, string | number> = {}): string {
  const head = Object.entries({ concurrent: 1, check_interval: 1, ...global })
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`).join("\n");
  return `${head}\n\n${body}`;
}

/**
 * Starts `runner run --config <dir>/config.toml` in `dir`: again after a
 * runner there exited (same state dir, so it finds its journal), or in a dir
 * a test prepared.
 */
export function restartRunner(
  previous: { dir: string; configPath: string },
  extraEnv: Record<string, string> = {},
): RunnerProcess {
  // Jobs' login shells get a clean HOME (tests/fixtures/test_env.ts says why).
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...cleanHome() };
  for (const key of ["PATH", "TMPDIR"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, extraEnv);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN_MODULE, "run", "--config", previous.configPath],
    cwd: previous.dir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new RunnerProcess(child, previous.dir, previous.configPath);
}

/** Path of the journal `runner run --config <dir>/config.toml` keeps. */
export function journalPath(runner: RunnerProcess): string {
  return join(runner.dir, ".runner", "journal", "jobs.jsonl");
}

/**
 * The lines a job printed between its `BEGIN <id>` and `END <id>` lines,
 * without the runner's `$ command` echo lines (they start with a color code).
 */
export function printedBetweenMarkers(trace: string, id: number): string | null {
  const start = trace.indexOf(`\nBEGIN ${id}\n`);
  const end = trace.indexOf(`\nEND ${id}\n`);
  if (start < 0 || end < start) return null;
  return trace.slice(start + `\nBEGIN ${id}\n`.length, end + 1)
    .split("\n").filter((line) => line !== "" && !line.startsWith("\x1b")).map((l) => l + "\n")
    .join("");
}

/** The script that prints `lines` numbered lines between markers, and what it prints. */
export function markedScript(
  lines: number,
): { script: string[]; expected: (id: number) => string } {
  return {
    script: [
      `echo "BEGIN $CI_JOB_ID"`,
      `for i in $(seq 1 ${lines}); do echo "job $CI_JOB_ID line $i"; done`,
      `echo "END $CI_JOB_ID"`,
    ],
    expected: (id) => Array.from({ length: lines }, (_, i) => `job ${id} line ${i + 1}\n`).join(""),
  };
}

/** Kills (by pid) processes whose command line holds `marker`: job processes a killed runner orphaned. */
export async function killByMarker(marker: string): Promise<number> {
  const out = await new Deno.Command("pgrep", { args: ["-f", marker], stdout: "piped" }).output();
  const pids = new TextDecoder().decode(out.stdout).split("\n").map(Number).filter((p) => p > 0);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.length;
}

/** The executor process pid the runner logged (log_level debug) for job `id`. */
export function executorPid(log: string, id: number): number | null {
  for (const line of log.split("\n")) {
    if (!line.includes("Executor process started")) continue;
    if (!new RegExp(`job_id[=":]+${id}\\b`).test(line)) continue;
    const pid = /pid[=":]+(\d+)/.exec(line)?.[1];
    if (pid) return Number(pid);
  }
  return null;
}
