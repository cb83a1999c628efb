import assert from "node:assert/strict";
import { crc32, formatChecksum } from "./crc32.ts";

const enc = new TextEncoder();

Deno.test("crc32 gives the CRC-32/IEEE check value", () => {
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(enc.encode("The quick brown fox jumps over the lazy dog")), 0x414fa339);
});

Deno.test("crc32 continued over pieces equals crc32 of the whole", () => {
  const data = enc.encode("section_start:1:step_script\r\x1b[0K$ echo héllo wörld\n".repeat(37));
  const whole = crc32(data);
  for (const cut of [1, 7, 8, 9, 100, data.length - 1]) {
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), whole);
  }
});

Deno.test("formatChecksum renders crc32: and 8 lowercase hex digits", () => {
  assert.equal(formatChecksum(0), "crc32:00000000");
  assert.equal(formatChecksum(0xcbf43926), "crc32:cbf43926");
  assert.equal(formatChecksum(0xabc), "crc32:00000abc");
});
