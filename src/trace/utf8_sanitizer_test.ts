import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import type { ByteSink } from "./byte_sink.ts";
import { Utf8Sanitizer } from "./utf8_sanitizer.ts";

class Collector implements ByteSink {
  bytes: number[] = [];
  write(chunk: Uint8Array): void {
    this.bytes.push(...chunk);
  }
}

/** Sanitized `pieces`, the same with node:buffer's isUtf8 as with the JavaScript check alone. */
function sanitize(pieces: number[][]): number[] {
  const [fast, plain] = [isUtf8, null].map((check) => {
    const out = new Collector();
    const s = new Utf8Sanitizer(out, check);
    for (const p of pieces) s.write(new Uint8Array(p));
    s.close();
    return out.bytes;
  });
  assert.deepEqual(plain, fast, "with and without node:buffer's isUtf8");
  return fast!;
}

const FFFD = [0xef, 0xbf, 0xbd];

Deno.test("Utf8Sanitizer keeps characters split across writes intact", () => {
  const text = [...new TextEncoder().encode("a€b😀c\u00e9d\u0800")];
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(sanitize([text.slice(0, i), text.slice(i)]), text, `split at ${i}`);
    for (let j = i + 1; j < text.length; j++) {
      assert.deepEqual(sanitize([text.slice(0, i), text.slice(i, j), text.slice(j)]), text);
    }
  }
  assert.deepEqual(sanitize(text.map((b) => [b])), text, "byte by byte");
});

Deno.test("Utf8Sanitizer replaces each invalid byte with U+FFFD like the official runner", () => {
  assert.deepEqual(sanitize([[0x41, 0xff, 0x42]]), [0x41, ...FFFD, 0x42]);
  assert.deepEqual(sanitize([[0xc0, 0xaf]]), [...FFFD, ...FFFD], "overlong");
  assert.deepEqual(sanitize([[0xe2, 0x82, 0x41]]), [...FFFD, ...FFFD, 0x41], "cut short");
  assert.deepEqual(sanitize([[0xed, 0xa0, 0x80]]), [...FFFD, ...FFFD, ...FFFD], "surrogate");
  assert.deepEqual(sanitize([[0xf4, 0x90, 0x80, 0x80]]), [...FFFD, ...FFFD, ...FFFD, ...FFFD]);
  assert.deepEqual(sanitize([[0x80]]), FFFD, "lone continuation byte");
});

Deno.test("Utf8Sanitizer replaces an unfinished character at close", () => {
  assert.deepEqual(sanitize([[0x61, 0xe2], [0x82]]), [0x61, ...FFFD, ...FFFD]);
  assert.deepEqual(sanitize([[0xf0, 0x9f]]), [...FFFD, ...FFFD]);
});

Deno.test("Utf8Sanitizer finishes a held-back character and keeps going in the same write", () => {
  const euro = [0xe2, 0x82, 0xac];
  const e = [0xc3, 0xa9];
  // The write that completes the euro sign also holds the start of another character.
  assert.deepEqual(sanitize([[euro[0]!], [euro[1]!, euro[2]!, e[0]!], [e[1]!, 0x21]]), [
    ...euro,
    ...e,
    0x21,
  ]);
  assert.deepEqual(sanitize([[0xe2], [0x82, 0xac, 0xc3, 0xa9, 0x78, 0x79]]), [
    ...euro,
    ...e,
    0x78,
    0x79,
  ]);
});

Deno.test("Utf8Sanitizer output is valid UTF-8 for random bytes", () => {
  let seed = 3;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (let round = 0; round < 100; round++) {
    const bytes = Array.from({ length: 64 }, () => (rand(3) === 0 ? rand(128) : 0x80 + rand(128)));
    const whole = sanitize([bytes]);
    strict.decode(new Uint8Array(whole));
    const cut = rand(64);
    assert.deepEqual(sanitize([bytes.slice(0, cut), bytes.slice(cut)]), whole);
  }
});

Deno.test("Utf8Sanitizer finds a bad byte or a character anywhere in long ASCII runs, aligned or not", () => {
  for (const offset of [0, 1, 2, 3, 4]) {
    for (let at = 0; at < 40; at++) {
      const ascii = Array.from({ length: 40 }, (_, k) => 0x61 + (k % 26));
      const bad = [...ascii];
      bad[at] = 0xff;
      const expected = [...ascii.slice(0, at), ...FFFD, ...ascii.slice(at + 1)];
      // A view at `offset` into a larger buffer, as writes arrive in practice.
      const backing = new Uint8Array(offset + bad.length);
      backing.set(bad, offset);
      for (const check of [isUtf8, null]) {
        const out = new Collector();
        const s = new Utf8Sanitizer(out, check);
        s.write(backing.subarray(offset));
        s.close();
        assert.deepEqual(out.bytes, expected, `0xff at ${at}, offset ${offset}`);
      }
      const euro = [...ascii.slice(0, at), 0xe2, 0x82, 0xac, ...ascii.slice(at)];
      assert.deepEqual(sanitize([euro]), euro, `€ at ${at}`);
    }
  }
});

/** The rule one byte at a time: a well-formed character is kept, any other byte is U+FFFD. */
function naiveSanitize(bytes: number[]): number[] {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const out: number[] = [];
  for (let i = 0; i < bytes.length;) {
    let size = 0;
    for (let len = 1; len <= 4 && i + len <= bytes.length && size === 0; len++) {
      try {
        if ([...strict.decode(new Uint8Array(bytes.slice(i, i + len)))].length === 1) size = len;
      } catch {
        // Not one whole character of this length.
      }
    }
    if (size === 0) {
      out.push(...FFFD);
      i++;
    } else {
      out.push(...bytes.slice(i, i + size));
      i += size;
    }
  }
  return out;
}

Deno.test("Utf8Sanitizer replaces what the byte-by-byte rule replaces, in mostly valid text cut anywhere", () => {
  let seed = 9;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const pieces = ["ok ", "\n", "€", "é", "😀", "\u0800", "✓ übersicht"].map((t) => [
    ...new TextEncoder().encode(t),
  ]);
  const bad = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [
    0x80,
  ]];
  for (let round = 0; round < 300; round++) {
    const bytes: number[] = [];
    while (bytes.length < 1 + rand(400)) {
      bytes.push(...(rand(10) === 0 ? bad[rand(bad.length)]! : pieces[rand(pieces.length)]!));
    }
    const writes: number[][] = [];
    for (let at = 0; at < bytes.length;) {
      const n = 1 + rand(rand(2) === 0 ? 5 : 200);
      writes.push(bytes.slice(at, at + n));
      at += n;
    }
    assert.deepEqual(sanitize(writes), naiveSanitize(bytes), `round ${round}`);
  }
});
