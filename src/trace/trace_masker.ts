import {
  type AnchorPattern,
  fillAnchorTable,
  fillQuadTable,
  nextAnchoredCandidate,
  nextStart,
  pairCosts,
  pairIndex,
} from "./_pair_anchors.ts";
import type { ByteSink } from "./byte_sink.ts";

/**
 * Replaces secrets in the job log with `[MASKED]` as it streams through
 * (spec/gitlab-runner-api.md §4.4). What is masked, as in the official runner
 * (common/buildlogger: masker, urlsanitizer, tokensanitizer):
 *
 * - every occurrence of a masked variable value (a "phrase"), whole;
 * - after a token prefix such as `glpat-`, the token: the run of bytes from
 *   `[0-9A-Za-z._=-]` that follows (`glpat-abc123 x` → `glpat-[MASKED] x`);
 *   a prefix followed by no such byte is left alone;
 * - the value of the URL query parameters `private_token`,
 *   `authenticity_token`, `rss_token`, `X-Amz-Signature`, `X-Amz-Credential`
 *   and `X-Amz-Security-Token` (key case-insensitive), up to the next `?`,
 *   `&`, whitespace or control byte (`?private_token=[MASKED]&page=2`).
 *
 * Beyond the official runner, the password of URL credentials is masked too
 * (`https://user:[MASKED]@host`; the official trace does not touch
 * userinfo); turn it off with `isUrlPasswordMasked: false`.
 *
 * Phrases of any length are masked (the official runner does the same; GitLab
 * itself only accepts masked values of 8 characters or more). Values are
 * trimmed and empty ones ignored, like upstream.
 *
 * Secrets split across writes are still found: only the shortest tail that
 * could still begin a secret is held back, and `close` flushes it.
 *
 * Where secrets overlap, the official runner masks one and may print part of
 * the other; here every byte covered by some masked value is hidden, and an
 * overlapping group becomes one `[MASKED]`. A phrase takes precedence over a
 * token prefix it overlaps, as upstream (which masks phrases first).
 *
 * Speed: one pass over the bytes. When every pattern is at least three
 * bytes long (they are by default), the loop reads four bytes at a time and
 * looks up two byte pairs in a table, every other position: each pattern has
 * two neighbouring pairs of its own there, chosen rare in the log seen so far,
 * so that ordinary text seldom stops the loop (`_pair_anchors.ts`). Otherwise
 * a 64 K-entry table of the first two bytes of every pattern lets the loop
 * skip almost every position with one lookup.
 */
export interface TraceMaskerOptions {
  /** Masked variable values. */
  phrases: readonly string[];
  /** Token prefixes, see `tokenMaskPrefixes`. */
  tokenPrefixes: readonly string[];
  /** Mask sensitive URL query parameter values (official behaviour). Default true. */
  isUrlParamMasked?: boolean;
  /** Mask the password in `scheme://user:password@`. Default true. */
  isUrlPasswordMasked?: boolean;
}

export const MASK_TEXT = "[MASKED]";

/** Query parameters whose values the official runner masks (urlsanitizer). */
export const SENSITIVE_URL_PARAMS: readonly string[] = [
  "private_token",
  "authenticity_token",
  "rss_token",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
];

const MASK = new TextEncoder().encode(MASK_TEXT);
const EMPTY = new Uint8Array(0);

/** Longest userinfo (`user:password`) we look at before deciding it is not one. */
const MAX_USERINFO_BYTES = 512;

// Table bits for the first byte / first two bytes of a pattern.
const PHRASE_BIT = 1;
const OTHER_BIT = 2;

/** The anchors are chosen again by the log once this much of it has been seen… */
const FIRST_CHOICE_BYTES = 16 * 1024;
/** …then after each this much, as the log changes (a clone, a build, tests). */
const CHOICE_INTERVAL_BYTES = 32 * 1024 * 1024;
/**
 * How much of a write the choice counts pairs in: it runs too seldom to be
 * optimized (16 KiB cost some 5 ms in the interpreter).
 */
const CHOICE_SAMPLE_BYTES = 4 * 1024;

// Result codes of the matchers; a value >= 0 is the end of a full match.
const NONE = -1;
const PARTIAL = -2;

// Masker states (plain numbers: this is the hot loop).
/** Looking for the next secret. */
const NORMAL = 0;
/** Inside a token after its prefix; `[MASKED]` already written. */
const TOKEN_RUN = 1;
/** Inside a sensitive query parameter value; `[MASKED]` already written. */
const URL_VALUE = 2;
/** Inside a masked region ending at `#maskEnd`; `[MASKED]` already written. */
const MASK_EXTEND = 3;

// Kinds of non-phrase patterns.
const TOKEN_PREFIX = 0;
const URL_PARAM = 1;
const URL_SCHEME = 2;

interface OtherPattern {
  kind: number;
  bytes: Uint8Array;
}

/** `[0-9A-Za-z._=-]`: what a GitLab token may contain after its prefix. */
const TOKEN_ALPHABET: Uint8Array = byteTable(
  "-._=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
);

/** Bytes that end a query parameter value (upstream: `?`, `&`, space, control). */
const PARAM_END: Uint8Array = (() => {
  const t = byteTable("?& ");
  for (let b = 0; b < 0x20; b++) t[b] = 1;
  t[0x7f] = 1;
  return t;
})();

/** Bytes that cannot be part of URL userinfo as people write it in logs. */
const USERINFO_STOP: Uint8Array = (() => {
  const t = byteTable(" /?#@\"'<>`\\[]{}|^");
  for (let b = 0; b < 0x20; b++) t[b] = 1;
  t[0x7f] = 1;
  return t;
})();

function byteTable(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

function lowerAscii(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

export class TraceMasker {
  readonly #next: ByteSink;
  /** Bits per pair of bytes (`pairIndex`) that begins a pattern. */
  readonly #bigram = new Uint8Array(65536);
  /** Shortest pattern; from 3 bytes on, the search looks at every other position. */
  #shortest = Infinity;
  /** Every pattern, for choosing anchors. */
  readonly #anchorPatterns: AnchorPattern[] = [];
  /**
   * Anchor pairs (`fillAnchorTable`), once chosen; until then (and when a
   * pattern is shorter than 3 bytes) every position is looked at. Made only
   * for a log past `FIRST_CHOICE_BYTES`: fresh memory costs a page fault per
   * 4 KiB, and a short log (most jobs, four streams each) does not need it.
   */
  #anchors: Uint8Array | null = null;
  /** First four bytes of every pattern, used with `#anchors` (`fillQuadTable`). */
  #quads: Uint8Array | null = null;
  /** Scratch space of `pairCosts`, kept for the next choice. */
  #pairSlots: Uint16Array | null = null;
  #maxAnchorOffset = 0;
  /** Bytes seen since the anchors were last chosen, and when to choose again. */
  #sinceChoice = 0;
  #choiceAt = FIRST_CHOICE_BYTES;
  /** bit per byte starting some pattern. */
  readonly #first = new Uint8Array(256);
  /** Phrases by first byte, longest first. */
  readonly #phrases: (Uint8Array[] | undefined)[] = new Array(256);
  /** Token prefixes, URL keys and `://` by first byte; prefixes longest first. */
  readonly #others: (OtherPattern[] | undefined)[] = new Array(256);

  #state = NORMAL;
  /** In `MaskExtend`: end of the masked region, relative to the next buffer. */
  #maskEnd = 0;
  /** Bytes held back because they may begin a secret. */
  #pending: Uint8Array = EMPTY;
  /** Where `#pending` and the next chunk are joined. */
  #scratch: Uint8Array = EMPTY;
  /**
   * What one `write` passes on, gathered so the sinks after the masker (UTF-8
   * check, limit, CRC, store) run once per write instead of once per piece
   * between secrets: a piece per candidate position made 48k downstream calls
   * per 64 MB of build log. The first piece is only referenced (most writes
   * hold no secret and pass on as they came); later ones are copied here.
   */
  #out: Uint8Array = EMPTY;
  #outLength = 0;
  #firstPiece: Uint8Array | null = null;
  #isClosed = false;

  constructor(next: ByteSink, options: TraceMaskerOptions) {
    this.#next = next;
    const encoder = new TextEncoder();
    const phrases = [...new Set(options.phrases.map((p) => p.trim()).filter((p) => p !== ""))]
      .map((p) => encoder.encode(p))
      .sort((a, b) => b.length - a.length);
    for (const p of phrases) this.#addPhrase(p);

    const prefixes = [...new Set(options.tokenPrefixes.map((p) => p.trim()).filter((p) => p))]
      .map((p) => encoder.encode(p))
      .sort((a, b) => b.length - a.length);
    for (const p of prefixes) this.#addOther({ kind: TOKEN_PREFIX, bytes: p }, false);

    if (options.isUrlParamMasked ?? true) {
      for (const key of SENSITIVE_URL_PARAMS) {
        for (const sep of ["?", "&"]) {
          const bytes = encoder.encode(`${sep}${key}=`);
          this.#addOther({ kind: URL_PARAM, bytes }, true);
        }
      }
    }
    if (options.isUrlPasswordMasked ?? true) {
      this.#addOther({ kind: URL_SCHEME, bytes: encoder.encode("://") }, false);
    }
  }

  #addAnchorPattern(bytes: Uint8Array, isCaseInsensitive: boolean): void {
    this.#shortest = Math.min(this.#shortest, bytes.length);
    this.#anchorPatterns.push({ bytes, isCaseInsensitive });
  }

  /** Picks each pattern's anchors by pair counts in `sample`. */
  #chooseAnchors(sample: Uint8Array): void {
    if (this.#shortest < 3) return;
    const slots = this.#pairSlots ??= new Uint16Array(65536);
    const cost = pairCosts(this.#anchorPatterns, sample, slots);
    if (this.#quads === null) {
      this.#quads = new Uint8Array(65536);
      fillQuadTable(this.#quads, this.#anchorPatterns);
    }
    const anchors = this.#anchors ?? new Uint8Array(65536);
    this.#maxAnchorOffset = fillAnchorTable(anchors, this.#anchorPatterns, cost);
    this.#anchors = anchors;
  }

  #addPhrase(p: Uint8Array): void {
    const b0 = p[0]!;
    this.#first[b0]! |= PHRASE_BIT;
    if (p.length === 1) {
      for (let b1 = 0; b1 < 256; b1++) this.#bigram[pairIndex(b0, b1)]! |= PHRASE_BIT;
    } else {
      this.#bigram[pairIndex(b0, p[1]!)]! |= PHRASE_BIT;
    }
    (this.#phrases[b0] ??= []).push(p);
    this.#addAnchorPattern(p, false);
  }

  /** Patterns here are at least two bytes long. */
  #addOther(pattern: OtherPattern, isCaseInsensitive: boolean): void {
    const b0 = pattern.bytes[0]!;
    const b1 = pattern.bytes[1]!;
    this.#first[b0]! |= OTHER_BIT;
    this.#bigram[pairIndex(b0, b1)]! |= OTHER_BIT;
    if (isCaseInsensitive) {
      this.#bigram[pairIndex(b0, lowerAscii(b1))]! |= OTHER_BIT;
      if (b1 >= 0x61 && b1 <= 0x7a) this.#bigram[pairIndex(b0, b1 - 0x20)]! |= OTHER_BIT;
    }
    (this.#others[b0] ??= []).push(pattern);
    this.#addAnchorPattern(pattern.bytes, isCaseInsensitive);
  }

  /** Bytes held back so far (they may begin a secret). */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  write(chunk: Uint8Array): void {
    if (this.#isClosed) throw new TypeError("Cannot write to a closed trace masker");
    if (chunk.length === 0) return;
    let buf = chunk;
    if (this.#pending.length > 0) {
      // Reusing one scratch buffer keeps allocation churn (and so RSS) flat;
      // sinks keep no reference past write(), and #pending is copied out.
      const size = this.#pending.length + chunk.length;
      if (this.#scratch.length < size) this.#scratch = new Uint8Array(Math.max(size, 64 * 1024));
      buf = this.#scratch.subarray(0, size);
      buf.set(this.#pending);
      buf.set(chunk, this.#pending.length);
    }
    this.#sinceChoice += buf.length;
    if (this.#sinceChoice >= this.#choiceAt) {
      // What this log looks like now decides which pairs are rare.
      this.#sinceChoice = 0;
      this.#choiceAt = CHOICE_INTERVAL_BYTES;
      this.#chooseAnchors(buf.subarray(Math.max(0, buf.length - CHOICE_SAMPLE_BYTES)));
    }
    const stop = this.#process(buf, false);
    this.#pending = stop < buf.length ? buf.slice(stop) : EMPTY;
    this.#passOn();
  }

  /**
   * Ends the text so far, as the end of a stage's stream: writes what was held
   * back (a partial match is no match) and ends a token or query value in
   * progress, so the next write starts afresh. Writes may follow.
   */
  flush(): void {
    if (this.#isClosed) return;
    const buf = this.#pending;
    this.#pending = EMPTY;
    if (buf.length > 0) this.#process(buf, true);
    this.#state = NORMAL;
    this.#maskEnd = 0;
    this.#passOn();
  }

  /** Flushes what was held back; later writes throw. Safe to call twice. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const buf = this.#pending;
    this.#pending = EMPTY;
    this.#scratch = EMPTY;
    if (buf.length > 0) this.#process(buf, true);
    this.#passOn();
    this.#out = EMPTY;
  }

  #emit(buf: Uint8Array, start: number, end: number): void {
    if (end > start) this.#gather(buf.subarray(start, end));
  }

  #gather(piece: Uint8Array): void {
    if (this.#firstPiece === null && this.#outLength === 0) {
      this.#firstPiece = piece;
      return;
    }
    const first = this.#firstPiece;
    const size = this.#outLength + (first?.length ?? 0) + piece.length;
    if (this.#out.length < size) {
      const grown = new Uint8Array(Math.max(size, 2 * this.#out.length, 64 * 1024));
      grown.set(this.#out.subarray(0, this.#outLength));
      this.#out = grown;
    }
    if (first !== null) {
      this.#out.set(first, this.#outLength);
      this.#outLength += first.length;
      this.#firstPiece = null;
    }
    this.#out.set(piece, this.#outLength);
    this.#outLength += piece.length;
  }

  /** Writes what this write produced to the next sink, in one call. */
  #passOn(): void {
    const first = this.#firstPiece;
    if (first !== null) {
      this.#firstPiece = null;
      this.#next.write(first);
    } else if (this.#outLength > 0) {
      const length = this.#outLength;
      this.#outLength = 0;
      this.#next.write(this.#out.subarray(0, length));
    }
  }

  /**
   * Masks `buf` from the current state; returns where it had to stop because
   * the bytes from there on may begin a secret (`buf.length` when none).
   * With `isFinal` nothing more will come, so a partial match is no match.
   */
  #process(buf: Uint8Array, isFinal: boolean): number {
    const n = buf.length;
    const bigram = this.#bigram;
    const first = this.#first;
    const anchors = this.#anchors;
    const quads = this.#quads;
    const maxAnchorOffset = this.#maxAnchorOffset;
    const view = new DataView(buf.buffer, buf.byteOffset, n);
    let i = 0;
    let lit = 0; // start of bytes to copy through unchanged
    while (i < n) {
      const state = this.#state;
      if (state === TOKEN_RUN || state === URL_VALUE) {
        // Dropping the secret's bytes; a phrase starting inside ends it early
        // so that the phrase is masked whole.
        const isToken = state === TOKEN_RUN;
        while (i < n) {
          const b = buf[i]!;
          if (isToken ? TOKEN_ALPHABET[b] === 0 : PARAM_END[b] === 1) break;
          if (first[b]! & PHRASE_BIT) {
            const r = this.#phraseAt(buf, i, isFinal);
            if (r === PARTIAL) return i;
            if (r >= 0) break;
          }
          i++;
        }
        if (i === n) return n;
        this.#state = NORMAL;
        lit = i;
        continue;
      }
      if (state === MASK_EXTEND) {
        // Phrases starting inside the masked region and reaching past it
        // extend it, so overlapping secrets become one [MASKED].
        let maskEnd = this.#maskEnd;
        while (i < maskEnd) {
          if (first[buf[i]!]! & PHRASE_BIT) {
            const r = this.#phraseAt(buf, i, isFinal);
            if (r === PARTIAL) {
              this.#maskEnd = maskEnd - i;
              return i;
            }
            if (r > maskEnd) maskEnd = r;
          }
          i++;
        }
        this.#state = NORMAL;
        lit = i;
        continue;
      }

      // Normal: skip to the next position whose two bytes begin a pattern.
      i = anchors !== null && quads !== null
        ? nextAnchoredCandidate(anchors, maxAnchorOffset, quads, bigram, first, buf, view, i)
        : nextStart(bigram, first, buf, i);
      if (i >= n) break;

      const f = first[buf[i]!]!;
      if (f & PHRASE_BIT) {
        const r = this.#phraseAt(buf, i, isFinal);
        if (r === PARTIAL) {
          this.#emit(buf, lit, i);
          return i;
        }
        if (r >= 0) {
          this.#emit(buf, lit, i);
          this.#gather(MASK);
          this.#state = MASK_EXTEND;
          this.#maskEnd = r;
          i++;
          continue;
        }
      }
      if (f & OTHER_BIT) {
        const r = this.#otherAt(buf, i, isFinal);
        if (r === PARTIAL) {
          this.#emit(buf, lit, i);
          return i;
        }
        if (r >= 0) {
          // #otherAt set the state and the split between kept and masked bytes.
          this.#emit(buf, lit, this.#keepEnd);
          this.#gather(MASK);
          i = r;
          lit = i;
          continue;
        }
      }
      i++;
    }
    if (this.#state === NORMAL) this.#emit(buf, lit, n);
    return n;
  }

  /** Where the bytes written before `[MASKED]` end, set by `#otherAt`. */
  #keepEnd = 0;

  /** End of the longest phrase at `i`, or NONE, or PARTIAL when a longer one may follow. */
  #phraseAt(buf: Uint8Array, i: number, isFinal: boolean): number {
    const list = this.#phrases[buf[i]!];
    if (list === undefined) return NONE;
    const avail = buf.length - i;
    for (let k = 0; k < list.length; k++) {
      const p = list[k]!;
      const len = p.length;
      if (len > avail) {
        if (!isFinal && equalsAt(buf, i, p, avail)) return PARTIAL;
        continue;
      }
      if (equalsAt(buf, i, p, len)) return i + len;
    }
    return NONE;
  }

  /**
   * Token prefix, URL parameter or URL password at `i`. On a match it sets
   * `#keepEnd` (bytes before it are written unchanged), the state that
   * follows, and returns where processing resumes.
   */
  #otherAt(buf: Uint8Array, i: number, isFinal: boolean): number {
    const list = this.#others[buf[i]!];
    if (list === undefined) return NONE;
    const n = buf.length;
    const avail = n - i;
    for (let k = 0; k < list.length; k++) {
      const pattern = list[k]!;
      const p = pattern.bytes;
      const len = p.length;
      const isCaseInsensitive = pattern.kind === URL_PARAM;
      if (len > avail) {
        if (!isFinal && patternAt(buf, i, p, avail, isCaseInsensitive)) return PARTIAL;
        continue;
      }
      if (!patternAt(buf, i, p, len, isCaseInsensitive)) continue;
      const end = i + len;
      switch (pattern.kind) {
        case TOKEN_PREFIX: {
          if (end === n) {
            if (isFinal) continue;
            return PARTIAL;
          }
          if (TOKEN_ALPHABET[buf[end]!] === 0) continue;
          // A masked value starting inside the prefix wins, as upstream.
          for (let j = i + 1; j < end; j++) {
            if (this.#first[buf[j]!]! & PHRASE_BIT) {
              const r = this.#phraseAt(buf, j, isFinal);
              if (r === PARTIAL) return PARTIAL;
              if (r >= 0) return NONE;
            }
          }
          this.#keepEnd = end;
          this.#state = TOKEN_RUN;
          return end;
        }
        case URL_PARAM:
          this.#keepEnd = end;
          this.#state = URL_VALUE;
          return end;
        case URL_SCHEME: {
          const r = this.#userinfoAt(buf, end, isFinal);
          if (r !== NONE) return r;
          continue;
        }
      }
    }
    return NONE;
  }

  /** After `://` at `start`: masks the password of `user:password@`. */
  #userinfoAt(buf: Uint8Array, start: number, isFinal: boolean): number {
    const n = buf.length;
    const limit = Math.min(n, start + MAX_USERINFO_BYTES);
    let colon = -1;
    let k = start;
    for (; k < limit; k++) {
      const b = buf[k]!;
      if (b === 0x3a /* : */) {
        if (colon < 0) colon = k;
        continue;
      }
      if (USERINFO_STOP[b] === 1) break;
    }
    if (k === limit) {
      // Ran out of bytes before seeing the end of a userinfo.
      return limit === n && !isFinal ? PARTIAL : NONE;
    }
    if (buf[k] !== 0x40 /* @ */ || colon < 0 || colon + 1 === k) return NONE;
    // A masked value starting in the user name hides the whole userinfo.
    let maskStart = colon + 1;
    for (let j = start; j < colon; j++) {
      if (this.#first[buf[j]!]! & PHRASE_BIT) {
        const r = this.#phraseAt(buf, j, isFinal);
        if (r === PARTIAL) return PARTIAL;
        if (r >= 0) {
          maskStart = start;
          break;
        }
      }
    }
    this.#keepEnd = maskStart;
    this.#state = MASK_EXTEND;
    this.#maskEnd = k;
    return maskStart;
  }
}

/** `equalsAt` or `equalsAtIgnoringCase` (two direct calls: a function in a variable is not inlined). */
function patternAt(
  buf: Uint8Array,
  at: number,
  p: Uint8Array,
  len: number,
  isCaseInsensitive: boolean,
): boolean {
  return isCaseInsensitive ? equalsAtIgnoringCase(buf, at, p, len) : equalsAt(buf, at, p, len);
}

function equalsAt(buf: Uint8Array, at: number, p: Uint8Array, len: number): boolean {
  for (let k = 1; k < len; k++) if (buf[at + k] !== p[k]) return false;
  return len > 0 && buf[at] === p[0];
}

/** `p` is lowercase; its first byte (`?` or `&`) is compared exactly. */
function equalsAtIgnoringCase(buf: Uint8Array, at: number, p: Uint8Array, len: number): boolean {
  if (len > 0 && buf[at] !== p[0]) return false;
  for (let k = 1; k < len; k++) if (lowerAscii(buf[at + k]!) !== p[k]) return false;
  return true;
}
