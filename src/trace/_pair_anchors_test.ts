import assert from "node:assert/strict";
import {
  type AnchorPattern,
  fillAnchorTable,
  fillQuadTable,
  MAX_ANCHOR_OFFSET,
  nextAnchoredCandidate,
  nextStart,
  pairIndex,
} from "./_pair_anchors.ts";

/** A small generator with good high bits (Math.imul: a plain product passes 2^53). */
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
}

const ALPHABET = new TextEncoder().encode("abAB-:/?&x");

function matchesAt(buf: Uint8Array, at: number, p: AnchorPattern): "full" | "cut" | null {
  for (let k = 0; k < p.bytes.length; k++) {
    if (at + k >= buf.length) return "cut";
    const a = buf[at + k]!;
    const b = p.bytes[k]!;
    const lower = (x: number) => (x >= 0x41 && x <= 0x5a ? x | 0x20 : x);
    if (a !== b && !(p.isCaseInsensitive && k > 0 && lower(a) === lower(b))) return null;
  }
  return "full";
}

Deno.test("the anchored search never passes a position where a pattern begins, whatever anchors are chosen", () => {
  const rand = random(5);
  for (let round = 0; round < 400; round++) {
    const patterns: AnchorPattern[] = Array.from({ length: 1 + rand(6) }, () => ({
      bytes: Uint8Array.from({ length: 3 + rand(2 + MAX_ANCHOR_OFFSET) }, () => ALPHABET[rand(6)]!),
      isCaseInsensitive: rand(3) === 0,
    }));
    // Any cost: the choice must only change the speed.
    const costs = new Map<number, number>();
    const cost = (pair: number) =>
      costs.get(pair) ?? (costs.set(pair, rand(100)), costs.get(pair)!);
    const anchors = new Uint8Array(65536);
    const maxOffset = fillAnchorTable(anchors, patterns, cost);
    const quads = new Uint8Array(65536);
    fillQuadTable(quads, patterns);
    const starts = new Uint8Array(65536);
    const first = new Uint8Array(256);
    for (const { bytes } of patterns) {
      first[bytes[0]!] = 1;
      for (let b1 = 0; b1 < 256; b1++) {
        const variant = new Uint8Array([bytes[0]!, b1, ...bytes.subarray(2)]);
        if (matchesAt(variant, 0, { bytes, isCaseInsensitive: true }) === "full") {
          starts[pairIndex(bytes[0]!, b1)] = 1;
        }
      }
    }
    // Text mostly from the patterns' own bytes, with some of them copied in whole.
    const parts: number[] = [];
    while (parts.length < 20 + rand(200)) {
      if (rand(4) === 0) parts.push(...patterns[rand(patterns.length)]!.bytes);
      else parts.push(ALPHABET[rand(ALPHABET.length)]!);
    }
    const buf = new Uint8Array(parts);
    const view = new DataView(buf.buffer);
    for (let i = 0; i < buf.length; i++) {
      let expected = buf.length;
      for (let p = i; p < buf.length && expected === buf.length; p++) {
        if (patterns.some((pattern) => matchesAt(buf, p, pattern) !== null)) expected = p;
      }
      const got = nextAnchoredCandidate(anchors, maxOffset, quads, starts, first, buf, view, i);
      assert.ok(got >= i, `candidate ${got} before ${i}`);
      assert.ok(
        got <= expected,
        `passed a pattern at ${expected} (got ${got}) from ${i} in ${
          JSON.stringify(String.fromCharCode(...buf))
        }`,
      );
    }
    assert.equal(nextStart(starts, first, buf, buf.length), buf.length);
  }
});

Deno.test("the anchored search passes over a text that shares only three first bytes with a pattern (`glob` for `gloas-`)", () => {
  const enc = new TextEncoder();
  const patterns: AnchorPattern[] = [{ bytes: enc.encode("gloas-"), isCaseInsensitive: false }];
  // Anchors on `gl` and `lo`, which `glob` has too.
  const cheap = new Set([pairIndex(0x67, 0x6c), pairIndex(0x6c, 0x6f)]);
  const anchors = new Uint8Array(65536);
  const maxOffset = fillAnchorTable(anchors, patterns, (pair) => (cheap.has(pair) ? 0 : 100));
  const quads = new Uint8Array(65536);
  fillQuadTable(quads, patterns);
  const starts = new Uint8Array(65536);
  starts[pairIndex(0x67, 0x6c)] = 1;
  const first = new Uint8Array(256);
  first[0x67] = 1;
  const buf = enc.encode("glob pattern **/*.go matched 3 files; token gloas-abc and more text");
  const view = new DataView(buf.buffer);
  const got = nextAnchoredCandidate(anchors, maxOffset, quads, starts, first, buf, view, 0);
  assert.equal(got, buf.indexOf(0x67, 40), "the first position handed back is the pattern's");
});
