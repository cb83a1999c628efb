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
