/**
 * Runs every benchmark in scripts/bench/ (all but this file), one after the
 * other so they do not compete for the machine, then prints each one's summary.
 *
 *   deno task bench [--quick] [--only NAME[,NAME…]] [--dir DIR] [-- FLAGS FOR EVERY BENCHMARK]
 *
 * Each benchmark runs as `deno run --allow-all scripts/bench/<name>.ts
 * [--quick] [FLAGS]`, its output shown as it comes. `--quick` asks for a short
 * run; a benchmark whose parseArgs rejects it ("Unknown option '--quick'") is
 * run again without it, in full, and the summary says so. In every benchmark
 * a flag given with `--quick` (as `--runs 3`) is taken: `--quick` only sets
 * the ones not given.
 *
 * Summary lines: the lines a benchmark prints that mention a ratio, a goal or
 * a skip (as `ratio 1.08x (goal <= 1.3x)`, `Skipping …: no dockerd`); for a
 * benchmark with none, its last three non-empty lines.
 *
 * Exits 1 when a benchmark failed (its summary shows the exit code and the
 * end of its stderr), 2 on bad arguments.
 */
import { parseArgs } from "node:util";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SUMMARY = /\bratios?\b|\bgoal\b|\bskip(ping|ped)?\b/i;

export interface BenchResult {
  name: string;
  code: number;
  /** Whether `--quick` was asked for but the benchmark did not accept it. */
  quickRejected: boolean;
  summary: string[];
  stderrTail: string;
}

/** The lines of a benchmark's output that go into the summary. */
export function summaryLines(stdout: string): string[] {
  const lines = stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const marked = lines.filter((l) => SUMMARY.test(l));
  return marked.length > 0 ? marked : lines.slice(-3);
}

/** The benchmark scripts in `dir`, by name, except this one. */
export async function findBenchmarks(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    if (entry.name === "all.ts" || entry.name.startsWith("_") || entry.name.endsWith("_test.ts")) {
      continue; // private helpers and tests are not benchmarks
    }
    names.push(entry.name.slice(0, -".ts".length));
  }
  return names.sort();
}

interface Output {
  write(text: string): void;
}

/** Runs one benchmark, copying its stdout to `out` as it arrives. */
export async function runBenchmark(
  path: string,
  flags: string[],
  out: Output,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", path, ...flags],
    env: { "DENO_NO_UPDATE_CHECK": "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let stdout = "";
  let stderr = "";
  await Promise.all([
    (async () => {
      for await (const chunk of child.stdout) {
        const text = decoder.decode(chunk, { stream: true });
        stdout += text;
        out.write(text);
      }
    })(),
    (async () => {
      const errDecoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        const text = errDecoder.decode(chunk, { stream: true });
        stderr += text;
        out.write(text);
      }
    })(),
  ]);
  const { code } = await child.status;
  return { code, stdout, stderr };
}

export function renderSummary(results: BenchResult[]): string {
  const lines = ["", "== Benchmark summary"];
  for (const r of results) {
    const note = r.code !== 0
      ? ` FAILED (exit ${r.code})`
      : r.quickRejected
      ? " (no --quick support: full run)"
      : "";
    lines.push(`${r.name}:${note}`);
    for (const line of r.summary) lines.push(`  ${line.trim()}`);
    if (r.code !== 0 && r.stderrTail) {
      for (const line of r.stderrTail.split("\n")) lines.push(`  ! ${line}`);
    }
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const encoder = new TextEncoder();
  const out: Output = { write: (text) => void Deno.stdout.writeSync(encoder.encode(text)) };
  let values;
  let passThrough: string[];
  try {
    const parsed = parseArgs({
      args: Deno.args,
      strict: true,
      allowPositionals: true,
      tokens: true,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        dir: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    values = parsed.values;
    const dashDash = parsed.tokens.find((t) => t.kind === "option-terminator");
    passThrough = dashDash ? Deno.args.slice(dashDash.index + 1) : [];
    if (parsed.positionals.length > passThrough.length) {
      throw new Error(
        `Unexpected argument "${parsed.positionals[0]}": put benchmark flags after --`,
      );
    }
  } catch (err) {
    out.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    out.write("Usage: deno task bench [--quick] [--only NAME[,NAME…]] [--dir DIR] [-- FLAGS]\n");
    return 0;
  }
  const dir = values.dir ?? dirname(fileURLToPath(import.meta.url));
  let names: string[];
  try {
    names = await findBenchmarks(dir);
  } catch (err) {
    out.write(`Cannot read --dir "${dir}": ${(err as Error).message}\n`);
    return 2;
  }
  if (values.only !== undefined) {
    const wanted = values.only.split(",").map((n) => basename(n.trim(), ".ts")).filter(Boolean);
    if (wanted.length === 0) {
      out.write(`--only names no benchmark: have ${names.join(", ") || "none"}\n`);
      return 2;
    }
    const unknown = wanted.filter((n) => !names.includes(n));
    if (unknown.length > 0) {
      out.write(`Unknown benchmark "${unknown[0]}": have ${names.join(", ") || "none"}\n`);
      return 2;
    }
    names = names.filter((n) => wanted.includes(n));
  }
  if (names.length === 0) {
    out.write(`No benchmarks in ${dir}\n`);
    return 0;
  }

  const results: BenchResult[] = [];
  for (const name of names) {
    const path = join(dir, `${name}.ts`);
    const flags = [...(values.quick ? ["--quick"] : []), ...passThrough];
    out.write(`\n== ${name} ${flags.join(" ")}\n`);
    let run = await runBenchmark(path, flags, out);
    let quickRejected = false;
    // node:util parseArgs (strict): "Unknown option '--quick'. To specify a positional argument…"
    if (values.quick && run.code !== 0 && run.stderr.includes("Unknown option '--quick'")) {
      quickRejected = true;
      out.write(`== ${name} does not take --quick: running it in full\n`);
      run = await runBenchmark(path, passThrough, out);
    }
    results.push({
      name,
      code: run.code,
      quickRejected,
      summary: summaryLines(run.stdout),
      stderrTail: run.code === 0 ? "" : run.stderr.trim().split("\n").slice(-5).join("\n"),
    });
  }
  out.write(renderSummary(results) + "\n");
  return results.some((r) => r.code !== 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
