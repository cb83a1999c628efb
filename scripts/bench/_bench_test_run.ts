/**
 * The benchmarks' tests run a benchmark as a user does, `deno run
 * --allow-all scripts/bench/<name>.ts …`, and look at what it printed.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The path of `scripts/bench/<name>.ts`. */
export function benchPath(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), `${name}.ts`);
}

export interface BenchRun {
  success: boolean;
  /** What it printed on stdout. */
  report: string;
  /** What it printed on stderr. */
  errors: string;
}

/** Runs `bench` with `args`, without colours; `env` adds to the test's environment. */
export async function runBench(
  bench: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<BenchRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", bench, ...args],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  return {
    success: out.success,
    report: decoder.decode(out.stdout),
    errors: decoder.decode(out.stderr),
  };
}

/**
 * Each case's flags (after `args`) make `bench` fail with the case's message
 * on stderr before it measured anything (`isMeasured` tells from its report).
 */
export async function assertRefusesFlags(
  bench: string,
  args: readonly string[],
  cases: readonly (readonly [flags: readonly string[], message: string])[],
  isMeasured: (report: string) => boolean = (report) => report !== "",
): Promise<void> {
  for (const [flags, message] of cases) {
    const run = await runBench(bench, [...args, ...flags]);
    assert.equal(run.success, false, `${flags.join(" ")} was taken:\n${run.report}`);
    assert.ok(run.errors.includes(message), `${flags.join(" ")}: ${run.errors.slice(0, 500)}`);
    assert.ok(!isMeasured(run.report), `${flags.join(" ")} measured:\n${run.report}`);
  }
}

/** With no program on its PATH, `bench` (given `args`) prints `line` and nothing else, and succeeds. */
export async function assertSkipsWithoutPrograms(
  bench: string,
  args: readonly string[],
  line: string,
): Promise<void> {
  const emptyPath = await Deno.makeTempDir();
  try {
    const run = await runBench(bench, args, { PATH: emptyPath });
    assert.ok(run.success, `${run.report}\n${run.errors}`);
    assert.equal(run.report, `${line}\n`);
  } finally {
    await Deno.remove(emptyPath);
  }
}
