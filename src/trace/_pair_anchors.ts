/**
 * Where `TraceMasker` looks for secrets when every pattern is three bytes or
 * longer: a table over byte pairs, and the search loop that reads it.
 *
 * Each pattern gets two neighbouring byte pairs of its own, its "anchors", at
 * offsets `j` and `j + 1` (a pattern of `m` bytes has pairs at 0 … m - 2).
 * The search reads four bytes at a time and looks up the two pairs that
 * start at even distances from where it began: every other position. An
 * occurrence of a pattern puts one of its two anchors at such a position, so
 * none is missed; the table entry says how far back the pattern may begin.
 * Before a position is handed back, its first four bytes are looked up in
 * a second table of every pattern's first four (any fourth byte for a
 * pattern of three): most pairs that stop the loop are then passed over
 * there and then, without a call. Four bytes, not three: `glob` would pass
 * for the start of the token prefix `gloas-` on three, and each position
 * handed back costs a call and a comparison with every pattern of its
 * first byte.
 *
 * Anchors are chosen rare: common pairs of log text (`lo`, `ld`, `pr` …)
 * would stop the loop and cost a check each time. The estimate is the log
 * itself where one is at hand (`countPairs` over bytes already seen), else
 * a prior from letter frequencies. Which anchors are chosen changes only the
 * speed: any choice finds every occurrence.
 */

/** Largest anchor offset: table entries hold one bit per offset 0 … 7. */
export const MAX_ANCHOR_OFFSET = 7;

export interface AnchorPattern {
  bytes: Uint8Array;
  /** ASCII letters match in either case (the first byte always exactly). */
  isCaseInsensitive: boolean;
}

/**
 * Index of the pair `b0 b1` in the pair tables: `b0` in the low byte, as a
 * little-endian 16- or 32-bit load of the two bytes gives it.
 */
export function pairIndex(b0: number, b1: number): number {
  return b0 | (b1 << 8);
}

/**
 * Rough share (per thousand bytes) of each byte in build logs, for the prior:
 * spaces, lower-case letters by English frequency, digits and path
 * punctuation common; capitals, `_`, `=`, `?`, `&` and control bytes rare.
 */
const BYTE_WEIGHT: Float64Array = (() => {
  const w = new Float64Array(256).fill(1);
  const set = (chars: string, weight: number) => {
    for (let i = 0; i < chars.length; i++) w[chars.charCodeAt(i)] = weight;
  };
  for (let b = 0; b < 0x20; b++) w[b] = 0.2;
  for (let b = 0x80; b < 0x100; b++) w[b] = 0.5;
  set("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 5);
  set("0123456789", 15);
  set("etaoinsr", 55);
  set("lcdhu", 30);
  set("mpgfbywvk", 15);
  set("xjqz", 2);
  set(" ", 130);
  set("./-", 20);
  set("\n:", 12);
  set("_=,()\"'", 5);
  set("?&", 0.5);
  return w;
})();

/** Expected occurrences of `pair` per million bytes of log, by the prior alone. */
function priorPerMillion(pair: number): number {
  return BYTE_WEIGHT[pair & 0xff]! * BYTE_WEIGHT[pair >>> 8]!;
}

/** How many bytes of prior the observed counts are weighed against. */
const PRIOR_BYTES = 4 * 1024;

/**
 * Pair counts over `sample` for the pairs the patterns' windows use, as a
 * cost function (occurrences per million bytes, blended with the prior).
 * `slot` is scratch space (65536 entries), cleared here.
 */
export function pairCosts(
  patterns: readonly AnchorPattern[],
  sample: Uint8Array,
  slot: Uint16Array,
): (pair: number) => number {
  slot.fill(0);
  let slots = 0;
  for (const { bytes, isCaseInsensitive } of patterns) {
    for (let k = 0; k + 1 < bytes.length; k++) {
      for (const pair of pairVariants(bytes, k, isCaseInsensitive)) {
        if (slot[pair] === 0 && slots < 65535) slot[pair] = ++slots;
      }
    }
  }
  const counts = new Float64Array(slots + 1);
  countPairs(sample, slot, counts);
  const length = sample.length;
  return (pair) => {
    const seen = slot[pair] === 0 ? 0 : counts[slot[pair]!]!;
    return (1e6 * seen + priorPerMillion(pair) * PRIOR_BYTES) / (length + PRIOR_BYTES);
  };
}

function countPairs(sample: Uint8Array, slot: Uint16Array, counts: Float64Array): void {
  const last = sample.length - 1;
  for (let k = 0; k < last; k++) {
    const s = slot[sample[k]! | (sample[k + 1]! << 8)]!;
    if (s !== 0) counts[s]!++;
  }
}

/** The pair at offset `k` of a pattern, in every case it matches. */
function pairVariants(bytes: Uint8Array, k: number, isCaseInsensitive: boolean): number[] {
  const b0 = bytes[k]!;
  const b1 = bytes[k + 1]!;
  if (!isCaseInsensitive) return [pairIndex(b0, b1)];
  const firsts = k === 0 ? [b0] : letterCases(b0);
  const out: number[] = [];
  for (const c0 of firsts) for (const c1 of letterCases(b1)) out.push(pairIndex(c0, c1));
  return out;
}

/** `b` in both cases if it is an ASCII letter. */
function letterCases(b: number): number[] {
  const lower = b | 0x20;
  return lower >= 0x61 && lower <= 0x7a ? [lower, lower - 0x20] : [b];
}

/**
 * Index of four bytes in the table of first four bytes (a hash: it may
 * collide). `word` holds them as a little-endian 32-bit load gives them,
 * the first in the low byte.
 */
function quadIndex(word: number): number {
  return ((word & 0xffff) ^ Math.imul(word >>> 16, 0x9e5)) & 0xffff;
}

/** Every byte value: the fourth bytes a pattern of three accepts. */
const ANY_BYTE: readonly number[] = Array.from({ length: 256 }, (_, b) => b);

/**
 * Marks in `table` the first four bytes of every pattern, in every case they
 * match; a pattern of three bytes with every fourth byte.
 */
export function fillQuadTable(table: Uint8Array, patterns: readonly AnchorPattern[]): void {
  for (const { bytes, isCaseInsensitive } of patterns) {
    if (bytes.length < 3) {
      throw new RangeError(`Anchored patterns need 3 bytes: got ${bytes.length}`);
    }
    const thirds = pairVariants(bytes, 1, isCaseInsensitive).map((pair) => pair >>> 8);
    const fourths = bytes.length < 4
      ? ANY_BYTE
      : pairVariants(bytes, 2, isCaseInsensitive).map((pair) => pair >>> 8);
    for (const pair of pairVariants(bytes, 0, isCaseInsensitive)) {
      for (const third of thirds) {
        for (const fourth of fourths) table[quadIndex(pair | (third << 16) | (fourth << 24))] = 1;
      }
    }
  }
}

/**
 * Fills `table` (cleared first): per pattern the window `j, j + 1` of least
 * cost. Returns the largest offset used (how far back from a pair a pattern
 * may begin). Every pattern must be three bytes or longer.
 */
export function fillAnchorTable(
  table: Uint8Array,
  patterns: readonly AnchorPattern[],
  cost: (pair: number) => number,
): number {
  table.fill(0);
  let maxOffset = 0;
  for (const pattern of patterns) {
    const { bytes, isCaseInsensitive } = pattern;
    if (bytes.length < 3) {
      throw new RangeError(`Anchored patterns need 3 bytes: got ${bytes.length}`);
    }
    // The cost of the pair at each offset a window may use, in all its cases.
    const last = Math.min(bytes.length - 2, MAX_ANCHOR_OFFSET);
    const costs: number[] = [];
    for (let k = 0; k <= last; k++) {
      let sum = 0;
      for (const pair of pairVariants(bytes, k, isCaseInsensitive)) sum += cost(pair);
      costs.push(sum);
    }
    let best = 0;
    let bestCost = Infinity;
    for (let j = 0; j + 1 <= last; j++) {
      const c = costs[j]! + costs[j + 1]!;
      if (c < bestCost) {
        best = j;
        bestCost = c;
      }
    }
    for (const k of [best, best + 1]) {
      for (const pair of pairVariants(bytes, k, isCaseInsensitive)) table[pair]! |= 1 << k;
    }
    maxOffset = Math.max(maxOffset, best + 1);
  }
  return maxOffset;
}

/**
 * First position from `i` where a pattern may begin, or `buf.length`.
 * `anchors` is a table from `fillAnchorTable` (`maxOffset` its result),
 * `quads` one from `fillQuadTable`; `starts` has a nonzero entry for the first pair of every pattern and
 * `first` for its first byte: near the end of `buf`, where a pattern may be
 * cut short and its anchors not yet written, every position is checked with
 * those. `view` is a DataView over `buf`.
 *
 * A pattern found by a later pair may begin before one found by an earlier
 * pair, so after a find the loop reads on until no pattern beginning earlier
 * can be missed (`maxOffset` bytes past it).
 */
export function nextAnchoredCandidate(
  anchors: Uint8Array,
  maxOffset: number,
  quads: Uint8Array,
  starts: Uint8Array,
  first: Uint8Array,
  buf: Uint8Array,
  view: DataView,
  i: number,
): number {
  const n = buf.length;
  const end = n - 4;
  let stop = end;
  let best = n;
  let q = i;
  for (;;) {
    // Most words hold no anchor: a loop of nothing else runs over twice the
    // speed of one that also carries what a find needs.
    let word = 0;
    while (q <= stop) {
      word = view.getInt32(q, true);
      if ((anchors[word & 0xffff]! | anchors[word >>> 16]!) !== 0) break;
      q += 4;
    }
    if (q > stop) break;
    const low = anchors[word & 0xffff]!;
    const high = anchors[word >>> 16]!;
    // The earliest start at or after `i` each pair allows.
    const a = low === 0 ? NO_START : earliestStart(quads, view, low, q, i);
    const b = high === 0 ? NO_START : earliestStart(quads, view, high, q + 2, i);
    const p = a < b ? a : b;
    if (p < best) {
      best = p;
      // Pairs up to `best + maxOffset - 1` may still show an earlier start.
      if (best + maxOffset < stop) stop = best + maxOffset;
    }
    q += 4;
  }
  if (q <= end) return best;
  // Pairs at `q` and after were not read: patterns from `q - maxOffset` on
  // may show there or be cut off by the end.
  const from = Math.max(i, q - maxOffset);
  if (best <= from) return best;
  const tail = nextStart(starts, first, buf, from);
  return tail < best ? tail : best;
}

const NO_START = 0x7fffffff;

/**
 * `q - k` for the largest bit `k` of `bits` with `q - k >= i` whose first
 * four bytes may begin a pattern (or run past the end), else `NO_START`.
 * `view` is a DataView over the buffer.
 */
function earliestStart(
  quads: Uint8Array,
  view: DataView,
  bits: number,
  q: number,
  i: number,
): number {
  const room = q - i;
  let usable = room >= MAX_ANCHOR_OFFSET ? bits : bits & ((2 << room) - 1);
  const n = view.byteLength;
  while (usable !== 0) {
    const k = 31 - Math.clz32(usable);
    usable ^= 1 << k;
    const p = q - k;
    if (p + 3 >= n || quads[quadIndex(view.getInt32(p, true))] !== 0) return p;
  }
  return NO_START;
}

/**
 * First position from `i` whose two bytes (one at the very end) may begin a
 * pattern according to `starts` and `first`, or `buf.length`.
 */
export function nextStart(
  starts: Uint8Array,
  first: Uint8Array,
  buf: Uint8Array,
  i: number,
): number {
  const last = buf.length - 1;
  while (i < last && starts[buf[i]! | (buf[i + 1]! << 8)] === 0) i++;
  if (i === last && first[buf[i]!] === 0) return buf.length;
  return i;
}
