import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { summaryLines } from "./all.ts";

const ALL = join(dirname(fileURLToPath(import.meta.url)), "all.ts");

/** Small benchmarks, as the real ones are written: parseArgs strict, a report on stdout. */
const FAKES: Record<string, string> = {
  "fast.ts": `
    import { parseArgs } from "node:util";
    const { values } = parseArgs({ args: Deno.args, options: {
      quick: { type: "boolean", default: false }, runs: { type: "string", default: "9" } } });
    console.log("warming up");
    console.log(\`runs \${values.quick ? "1" : values.runs}\`);
    console.log("fast ratio 0.90x (goal <= 1.0)");
  `,
  "old.ts": `
    import { parseArgs } from "node:util";
    const { values } = parseArgs({ args: Deno.args, options: { runs: { type: "string", default: "9" } } });
    console.log("one"); console.log("two"); console.log("three"); console.log(\`old runs \${values.runs}\`);
  `,
  "broken.ts": `console.error("cannot reach dockerd"); Deno.exit(3);`,
  "_shared.ts": `throw new Error("a helper is not a benchmark");`,
};

async function withFakes(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(FAKES)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runAll(args: string[]): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ALL, ...args],
    env: { "DENO_NO_UPDATE_CHECK": "1" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("bench all runs each benchmark and summarises ratios, full runs and failures", async () => {
  await withFakes(async (dir) => {
    const { code, stdout } = await runAll(["--dir", dir, "--quick", "--", "--runs", "2"]);
    assert.equal(code, 1, "a failed benchmark fails the run");
    const summary = stdout.slice(stdout.indexOf("== Benchmark summary"));
    assert.equal(
      summary.trim(),
      [
        "== Benchmark summary",
        "broken: FAILED (exit 3)",
        "  ! cannot reach dockerd",
        "fast:",
        "  fast ratio 0.90x (goal <= 1.0)",
        "old: (no --quick support: full run)",
        "  two",
        "  three",
        "  old runs 2",
      ].join("\n"),
    );
    assert.ok(stdout.includes("runs 1\n"), "--quick reached the benchmark that takes it");
    assert.ok(stdout.includes("warming up\n"), "benchmark output is shown as it runs");
    assert.ok(!stdout.includes("_shared"), "helpers are not run");
  });
});

Deno.test("bench all --only runs the named benchmarks and rejects unknown ones", async () => {
  await withFakes(async (dir) => {
    const ok = await runAll(["--dir", dir, "--only", "fast"]);
    assert.equal(ok.code, 0);
    assert.ok(ok.stdout.includes("fast ratio 0.90x"));
    assert.ok(!ok.stdout.includes("broken"));
    const bad = await runAll(["--dir", dir, "--only", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, /Unknown benchmark "nope": have broken, fast, old/);
    // An empty list (`--only=`, `--only ,`) ran nothing and exited 0.
    for (const empty of ["--only=", "--only=,"]) {
      const none = await runAll(["--dir", dir, empty]);
      assert.equal(none.code, 2, empty);
      assert.match(none.stdout, /^--only names no benchmark: have broken, fast, old$/m, empty);
    }
  });
});

Deno.test("summaryLines keeps ratio, goal and skip lines, else the last three", () => {
  assert.deepEqual(summaryLines("a\nb\nSkipping docker job benchmark: no dockerd\n"), [
    "Skipping docker job benchmark: no dockerd",
  ]);
  assert.deepEqual(summaryLines("1\n2\n\n3\n4\n"), ["2", "3", "4"]);
});

Deno.test("bench all refuses a --dir it cannot read, naming it", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const { code, stdout } = await runAll(["--dir", join(parent, "nope")]);
    assert.equal(code, 2);
    assert.match(stdout, /^Cannot read --dir ".*\/nope": No such file or directory/);
  } finally {
    await Deno.remove(parent);
  }
});
