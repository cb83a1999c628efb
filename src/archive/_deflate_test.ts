import assert from "node:assert/strict";
import zlib from "node:zlib";
import { InflateError, RawDeflater, RawInflater } from "./_deflate.ts";

const text = (n: number) => new TextEncoder().encode("const value = options.length;\n".repeat(n));

Deno.test("one deflate state serves many inputs, each a complete stream", () => {
  const deflater = new RawDeflater(1);
  const noise = crypto.getRandomValues(new Uint8Array(50_000));
  for (const input of [text(300), new Uint8Array(0), noise, text(1), text(5000)]) {
    const packed = deflater.deflate(input).slice();
    assert.deepEqual(new Uint8Array(zlib.inflateRawSync(packed)), input);
  }
});

Deno.test("one inflate state goes on after corrupt data, and pieces stream through a small buffer", () => {
  const inflater = new RawInflater();
  const input = text(2000);
  const packed = new Uint8Array(zlib.deflateRawSync(input, { level: 1 }));
  const whole = new Uint8Array(input.length + 1);

  inflater.begin();
  assert.equal(inflater.step(packed, 0, whole, true).filled, input.length);
  assert.deepEqual(whole.subarray(0, input.length), input);

  inflater.begin();
  assert.throws(
    () => inflater.step(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, whole, true),
    (err: unknown) => err instanceof InflateError && /invalid block type/.test(err.message),
  );

  // The same inflater, a truncated stream: corrupt when told it is the end.
  inflater.begin();
  assert.throws(() => inflater.step(packed.subarray(0, 20), 0, whole, true), InflateError);

  // Fed in two pieces into a 1000-byte buffer, used before each next step.
  inflater.begin();
  const out = new Uint8Array(1000);
  const got: number[] = [];
  const half = packed.length >> 1;
  for (
    const [piece, isLast] of [[packed.subarray(0, half), false], [
      packed.subarray(half),
      true,
    ]] as const
  ) {
    let at = 0;
    while (true) {
      const step = inflater.step(piece, at, out, isLast);
      at = step.next;
      got.push(...out.subarray(0, step.filled));
      if (step.filled < out.length) break;
    }
  }
  assert.deepEqual(new Uint8Array(got), input);
});

Deno.test("one deflate stream takes its input in pieces and ends on an empty last one", () => {
  const deflater = new RawDeflater(6);
  const input = text(20_000);
  for (let round = 0; round < 2; round++) {
    const out = new Uint8Array(4096);
    const got: Uint8Array[] = [];
    const pieces = [input.subarray(0, 70_000), input.subarray(70_000), new Uint8Array(0)];
    pieces.forEach((piece, i) => {
      for (let at = 0;;) {
        const step = deflater.step(piece, at, out, i === pieces.length - 1);
        at = step.next;
        got.push(out.slice(0, step.filled));
        if (step.filled < out.length) break;
      }
    });
    deflater.reset();
    const packed = new Uint8Array(got.reduce((n, p) => n + p.length, 0));
    got.reduce((o, p) => (packed.set(p, o), o + p.length), 0);
    assert.ok(packed.length < input.length / 20, `${packed.length} bytes`);
    assert.deepEqual(new Uint8Array(zlib.inflateRawSync(packed)), input, `round ${round}`);
  }
});
