import assert from "node:assert/strict";
import { benchPath, runBench } from "./_bench_test_run.ts";

const TRACE = benchPath("trace_throughput");

Deno.test("the trace bench refuses a size of 0 for --chunk or --bytes, naming the flag", async () => {
  for (const flag of ["--chunk", "--bytes"]) {
    // A small heap: a bench that took 0 fails fast (--chunk 0 filled 4 GB in 90 s).
    const run = await runBench(TRACE, [flag, "0", "--v8-flags=--max-old-space-size=128"]);
    assert.equal(run.success, false, flag);
    assert.ok(
      run.errors.includes(`Flag ${flag} must be a size such as 256m or 1g: got "0"`),
      `${flag}: ${run.errors.slice(0, 500)}`,
    );
  }
});

/** One round of `bytes`, no warm-up, with `flags`. */
function oneRound(bytes: string, ...flags: string[]) {
  return runBench(TRACE, [...flags, "--bytes", bytes, "--rounds", "1", "--warmup", "0"]);
}

Deno.test("the trace bench takes a --bytes given with --quick", async () => {
  const { success, report, errors } = await oneRound("4m", "--quick");
  assert.ok(success, `${report}\n${errors}`);
  // --quick alone pushes 64 MB.
  assert.match(report, /^input: 4 MB in /m);
});

Deno.test("the trace bench takes a --chunk over a frame's limit, framed as the executor process sends it", async () => {
  const { success, report, errors } = await oneRound("4m", "--chunk", "2m");
  // Before: RangeError 'Frame of 2097152 bytes exceeds the 1048576 byte limit'.
  assert.ok(success, `${report}\n${errors}`);
  assert.match(report, /^input: 4 MB in 2097152-byte writes /m);
  assert.match(report, /^SUMMARY trace_throughput_unstamped: jobtrace=\d+MB\/s/m);
});
