import type { ByteSink } from "./byte_sink.ts";

/** Whether bytes are well-formed UTF-8: node:buffer's native `isUtf8`. */
export type IsUtf8 = (bytes: Uint8Array) => boolean;

/**
 * Makes the trace valid UTF-8 on its way to storage (spec §4.4): each byte
 * that does not begin a well-formed sequence becomes U+FFFD, exactly like the
 * official runner's `encoding.Replacement` encoder (one U+FFFD per bad byte,
 * overlong forms, surrogates and values above U+10FFFF included).
 *
 * A character split across writes is held back (at most 3 bytes) until it is
 * complete, so it is never corrupted; `close` replaces an unfinished one.
 *
 * Speed: given node:buffer's native `isUtf8`, a write that is well-formed
 * (nearly all are) is checked by it, several times the speed of the loop here
 * once that is optimized, and as fast on a job's first bytes; the loop
 * handles the writes that need a replacement. Without it (null: `runner exec`,
 * whose short terminal logs do not pay for loading Deno's Node compatibility),
 * the loop handles every write.
 */
export class Utf8Sanitizer {
  readonly #next: ByteSink;
  /** Start of a character that the next write may complete (≤ 3 bytes). */
  #pending: Uint8Array = EMPTY;
  #isClosed = false;
  readonly #isUtf8: IsUtf8 | null;

  constructor(next: ByteSink, isUtf8: IsUtf8 | null) {
    this.#next = next;
    this.#isUtf8 = isUtf8;
  }

  write(chunk: Uint8Array): void {
    if (this.#isClosed) throw new TypeError("Cannot write to a closed UTF-8 sanitizer");
    if (chunk.length === 0) return;
    let buf = chunk;
    if (this.#pending.length > 0) {
      // Join only the few bytes that can finish the held-back character.
      const held = this.#pending.length;
      const head = new Uint8Array(held + Math.min(chunk.length, 3));
      head.set(this.#pending);
      head.set(chunk.subarray(0, head.length - held), held);
      this.#pending = EMPTY;
      const stop = this.#process(head, false);
      if (stop < held) {
        // The chunk was too short to finish it (it all went into `head`).
        this.#pending = head.slice(stop);
        return;
      }
      buf = chunk.subarray(stop - held);
      if (buf.length === 0) return;
    }
    const stop = this.#process(buf, false);
    if (stop < buf.length) this.#pending = buf.slice(stop);
  }

  /** Replaces an unfinished character at the end; writes may follow. */
  flush(): void {
    if (this.#isClosed) return;
    const buf = this.#pending;
    this.#pending = EMPTY;
    if (buf.length > 0) this.#process(buf, true);
  }

  /** Replaces an unfinished character at the end; later writes throw. Safe to call twice. */
  close(): void {
    this.flush();
    this.#isClosed = true;
  }

  /** Writes the sanitized bytes; returns where an unfinished character starts. */
  #process(buf: Uint8Array, isFinal: boolean): number {
    const n = buf.length;
    const next = this.#next;
    const end = isFinal ? n : unfinishedStart(buf);
    const isUtf8 = this.#isUtf8;
    if (isUtf8 !== null && (end === n ? isUtf8(buf) : isUtf8(buf.subarray(0, end)))) {
      if (end === n) next.write(buf);
      else if (end > 0) next.write(buf.subarray(0, end));
      return end;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, n);
    let i = 0;
    let lit = 0;
    while (i < n) {
      i = skipAscii(buf, view, i);
      if (i >= n) break;
      const size = validSequenceLength(buf, i);
      if (size > 0) {
        i += size;
        continue;
      }
      if (size === INCOMPLETE && !isFinal) {
        if (i > lit) next.write(buf.subarray(lit, i));
        return i;
      }
      if (i > lit) next.write(buf.subarray(lit, i));
      next.write(REPLACEMENT);
      i++;
      lit = i;
    }
    if (n > lit) next.write(buf.subarray(lit, n));
    return n;
  }
}

/**
 * First position from `i` holding a byte of 0x80 or more, or `buf.length`.
 * Job logs are mostly ASCII: testing four bytes at a time (through `view`,
 * a DataView over `buf`, which reads them at any alignment) made this loop
 * several times faster.
 */
function skipAscii(buf: Uint8Array, view: DataView, i: number): number {
  const n = buf.length;
  const lastWord = n - 4;
  while (i <= lastWord && (view.getInt32(i, true) & 0x80808080) === 0) i += 4;
  while (i < n && buf[i]! < 0x80) i++;
  return i;
}

/**
 * Where a character that the end of `buf` cuts off begins (well-formed so
 * far, so a later write may finish it), or `buf.length`.
 */
function unfinishedStart(buf: Uint8Array): number {
  const n = buf.length;
  for (let j = n - 1; j >= 0 && j >= n - 3; j--) {
    const b = buf[j]!;
    if (b < 0x80) return n;
    if (b >= 0xc0) return validSequenceLength(buf, j) === INCOMPLETE ? j : n;
  }
  return n;
}

const EMPTY = new Uint8Array(0);
/** U+FFFD REPLACEMENT CHARACTER. */
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]);
const INVALID = 0;
const INCOMPLETE = -1;

/**
 * Length of the well-formed multi-byte sequence at `i`, INVALID, or
 * INCOMPLETE when the buffer ends while it is still well-formed so far.
 * Ranges per RFC 3629 (as Go's utf8.DecodeRune).
 */
function validSequenceLength(buf: Uint8Array, i: number): number {
  const b0 = buf[i]!;
  let size: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 < 0xc2) return INVALID;
  if (b0 < 0xe0) size = 2;
  else if (b0 < 0xf0) {
    size = 3;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    else if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 < 0xf5) {
    size = 4;
    if (b0 === 0xf0) lo = 0x90; // overlong
    else if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else return INVALID;
  const n = buf.length;
  if (i + 1 >= n) return INCOMPLETE;
  const b1 = buf[i + 1]!;
  if (b1 < lo || b1 > hi) return INVALID;
  for (let k = 2; k < size; k++) {
    if (i + k >= n) return INCOMPLETE;
    const b = buf[i + k]!;
    if (b < 0x80 || b > 0xbf) return INVALID;
  }
  return size;
}
