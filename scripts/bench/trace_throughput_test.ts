import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const TRACE = join(dirname(fileURLToPath(import.meta.url)), "trace_throughput.ts");

Deno.test("the trace bench refuses a size of 0 for --chunk or --bytes, naming the flag", async () => {
  for (const flag of ["--chunk", "--bytes"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      // A small heap: a bench that took 0 fails fast (--chunk 0 filled 4 GB in 90 s).
      args: ["run", "--allow-all", TRACE, flag, "0", "--v8-flags=--max-old-space-size=128"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    assert.equal(out.success, false, flag);
    assert.ok(
      new TextDecoder().decode(out.stderr).includes(
        `Flag ${flag} must be a size such as 256m or 1g: got "0"`,
      ),
      `${flag}: ${new TextDecoder().decode(out.stderr).slice(0, 500)}`,
    );
  }
});

Deno.test("the trace bench takes a --bytes given with --quick", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      TRACE,
      "--quick",
      "--bytes",
      "4m",
      "--rounds",
      "1",
      "--warmup",
      "0",
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).output();
  const report = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
  // --quick alone pushes 64 MB.
  assert.match(report, /^input: 4 MB in /m);
});

Deno.test("the trace bench takes a --chunk over a frame's limit, framed as the executor process sends it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      TRACE,
      "--bytes",
      "4m",
      "--chunk",
      "2m",
      "--rounds",
      "1",
      "--warmup",
      "0",
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).output();
  const report = new TextDecoder().decode(out.stdout);
  // Before: RangeError 'Frame of 2097152 bytes exceeds the 1048576 byte limit'.
  assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
  assert.match(report, /^input: 4 MB in 2097152-byte writes /m);
  assert.match(report, /^SUMMARY trace_throughput_unstamped: jobtrace=\d+MB\/s/m);
});
