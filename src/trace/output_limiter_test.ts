import assert from "node:assert/strict";
import type { ByteSink } from "./byte_sink.ts";
import { OutputLimiter, outputLimitNotice } from "./output_limiter.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

class Collector implements ByteSink {
  bytes: number[] = [];
  write(chunk: Uint8Array): void {
    this.bytes.push(...chunk);
  }
  get text(): string {
    return dec.decode(new Uint8Array(this.bytes));
  }
}

Deno.test("outputLimitNotice is the official notice byte for byte", () => {
  assert.equal(
    outputLimitNotice(4194304),
    "\n\x1b[33;1mJob's log exceeded limit of 4194304 bytes.\n" +
      "Job execution will continue but no more output will be collected.\x1b[0;m\n",
  );
});

Deno.test("OutputLimiter cuts at the limit, appends the notice and drops later output", () => {
  const out = new Collector();
  const limiter = new OutputLimiter(out, 10);
  limiter.write(enc.encode("12345"));
  assert.equal(limiter.isExceeded, false);
  limiter.write(enc.encode("6789abcdef"));
  limiter.write(enc.encode("more"));
  assert.equal(limiter.isExceeded, true);
  assert.equal(out.text, "123456789a" + outputLimitNotice(10));
});

Deno.test("OutputLimiter does not split a UTF-8 character at the cut", () => {
  const out = new Collector();
  const limiter = new OutputLimiter(out, 6);
  limiter.write(enc.encode("abcd€z")); // € takes bytes 5..7
  assert.equal(out.text, "abcd" + outputLimitNotice(6));
});

Deno.test("OutputLimiter adds the notice when output reaches the limit exactly", () => {
  const out = new Collector();
  const limiter = new OutputLimiter(out, 4);
  limiter.write(enc.encode("abcd"));
  assert.equal(out.text, "abcd" + outputLimitNotice(4));
});

Deno.test("OutputLimiter rejects a limit that is not a positive byte count", () => {
  assert.throws(() => new OutputLimiter(new Collector(), 0), /positive number of bytes: got 0/);
});
