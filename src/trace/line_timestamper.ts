import type { ByteSink } from "./byte_sink.ts";

/**
 * Stamps each line of one output stream the way the official runner does
 * with FF_TIMESTAMPS (common/buildlogger/internal/timestamper), so GitLab can
 * show per-line times and strip the prefix when it renders the log:
 *
 * ```
 * 2026-12-02T08:30:00.123456Z 01O line of stdout\n
 * 2026-12-02T08:30:00.200001Z 01E+rest of a line that was flushed early\n
 * ```
 *
 * The prefix is the time the line began (RFC 3339, UTC, microseconds, `Z`,
 * space), two hex digits of stream id, `O` (stdout) or `E` (stderr), then `' '`
 * for a new line or `+` for the continuation of this stream's previous entry.
 *
 * Every entry ends in `\n`. A line is emitted at each `\n`. A write that has
 * no `\n` but a `\r` (progress bars, section markers) is emitted whole at once
 * with a `\n` added, and the stream's next entry is a `+` continuation. A
 * line longer than 8 KiB is emitted when a write would overflow that buffer,
 * again followed by `+` entries. `close` ends a pending partial line with
 * `\n`. The `\n`s added here are not part of the output; GitLab joins `+`
 * entries back onto the previous one.
 *
 * Each `write` hands the sink one chunk, assembled in a buffer reused from
 * write to write: the bytes are copied once, not once per line. Lines that
 * arrive in one write share one reading of the clock.
 */
export class LineTimestamper implements ByteSink {
  readonly #next: ByteSink;
  readonly #now: () => number;
  /** Reused header: `YYYY-MM-DDTHH:MM:SS.uuuuuuZ ` + id (2) + type + line type. */
  readonly #header = new Uint8Array(HEADER_LENGTH);
  /** The pending partial line, its header first. */
  readonly #pending = new Uint8Array(HEADER_LENGTH + BUFFER_SIZE);
  #pendingLength = 0;
  #cachedSecond = -1;
  /** Where `write` assembles what it hands on. */
  #out = new Uint8Array(0);
  /** The header's time is that of the current `write`. */
  #isStampCurrent = false;

  /**
   * `streamId` 0…255 (0 the runner's own lines, 1 the job's script);
   * `now` gives milliseconds since the epoch, fractions kept down to the
   * microsecond.
   */
  constructor(
    next: ByteSink,
    options: { streamId: number; streamType: "O" | "E"; now: () => number },
  ) {
    const { streamId } = options;
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 255) {
      throw new RangeError(`Stream id must be a whole number from 0 to 255: got ${streamId}`);
    }
    this.#next = next;
    this.#now = options.now;
    const h = this.#header;
    for (const [at, char] of SEPARATORS) h[at] = char;
    h[TIME_LENGTH] = HEX[streamId >> 4]!;
    h[TIME_LENGTH + 1] = HEX[streamId & 0x0f]!;
    h[TIME_LENGTH + 2] = options.streamType.charCodeAt(0);
    h[LINE_TYPE_AT] = FULL_LINE;
  }

  /** Whether a partial line is held back, waiting for its end. */
  get hasPendingLine(): boolean {
    return this.#pendingLength > 0;
  }

  write(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    // Lines that arrive in one write arrived at the same time: one clock
    // read per write, not per line.
    this.#isStampCurrent = false;
    // Room for the pending line and the bytes, and for the entry of the rest
    // (a header and an added \n); more headers grow it as lines are found.
    let out = this.#room(0, this.#pendingLength + chunk.length + 2 * (HEADER_LENGTH + 1));
    let o = 0;
    let n = 0;

    // Complete lines: the pending one first (its header was taken when it began).
    let lf = chunk.indexOf(LF);
    if (lf !== -1) {
      o = this.#flushPending(out, o);
      for (;;) {
        o = copyInto(out, o, chunk, n, lf + 1);
        n = lf + 1;
        lf = chunk.indexOf(LF, n);
        if (lf === -1) break;
        if (o + HEADER_LENGTH + (chunk.length - n) + HEADER_LENGTH + 1 > out.length) {
          out = this.#room(o, HEADER_LENGTH + (chunk.length - n) + HEADER_LENGTH + 1);
        }
        o = this.#putHeader(out, o);
      }
    }

    const rest = chunk.subarray(n);
    if (rest.length > 0) {
      if (rest.indexOf(CR) !== -1) {
        // Upstream flushes a `\r` write whole, so a progress bar shows live
        // and the `\x1b[0K` after a section marker stays with it.
        o = this.#flushPending(out, o);
        out.set(rest, o);
        o += rest.length;
        out[o++] = LF;
        this.#header[LINE_TYPE_AT] = PARTIAL_LINE;
      } else if (rest.length + this.#pendingLength > BUFFER_SIZE) {
        o = this.#flushPending(out, o);
        this.#header[LINE_TYPE_AT] = PARTIAL_LINE;
        out.set(rest, o);
        o += rest.length;
        out[o++] = LF;
      } else {
        if (this.#pendingLength === 0) this.#pendingLength = this.#putHeader(this.#pending, 0);
        this.#pending.set(rest, this.#pendingLength);
        this.#pendingLength += rest.length;
      }
    }
    if (o > 0) this.#next.write(out.subarray(0, o));
  }

  /**
   * The output buffer with room for `extra` bytes after its first `used`
   * ones, which a grown buffer keeps. Reused across writes: a sink keeps no
   * reference to a chunk once its `write` returned (ByteSink).
   */
  #room(used: number, extra: number): Uint8Array {
    if (used + extra <= this.#out.length) return this.#out;
    const bigger = new Uint8Array(Math.max(2 * this.#out.length, used + extra));
    bigger.set(this.#out.subarray(0, used));
    this.#out = bigger;
    return bigger;
  }

  /** Ends a pending partial line with `\n`. Safe to call twice; writes may follow. */
  close(): void {
    if (this.#pendingLength === 0) return;
    const out = new Uint8Array(this.#pendingLength + 1);
    out.set(this.#pending.subarray(0, this.#pendingLength));
    out[this.#pendingLength] = LF;
    this.#pendingLength = 0;
    this.#next.write(out);
  }

  /** The pending line if there is one, else a fresh header. */
  #flushPending(out: Uint8Array, o: number): number {
    if (this.#pendingLength === 0) return this.#putHeader(out, o);
    out.set(this.#pending.subarray(0, this.#pendingLength), o);
    o += this.#pendingLength;
    this.#pendingLength = 0;
    return o;
  }

  /** Writes the header stamped now at `out[o]`; the next one is a full line again. */
  #putHeader(out: Uint8Array, o: number): number {
    if (!this.#isStampCurrent) {
      this.#stamp();
      this.#isStampCurrent = true;
    }
    const h = this.#header;
    for (let i = 0; i < HEADER_LENGTH; i++) out[o + i] = h[i]!;
    h[LINE_TYPE_AT] = FULL_LINE;
    return o + HEADER_LENGTH;
  }

  /** Puts the clock's time into the header. */
  #stamp(): void {
    const h = this.#header;
    // To the nearest microsecond: `now` is a float of milliseconds.
    const micros = Math.round(this.#now() * 1000);
    const second = Math.floor(micros / 1_000_000);
    // Date fields change once a second; only the microseconds change per line.
    if (second !== this.#cachedSecond) {
      this.#cachedSecond = second;
      const d = new Date(second * 1000);
      putDigits(h, 0, d.getUTCFullYear(), 4);
      putDigits(h, 5, d.getUTCMonth() + 1, 2);
      putDigits(h, 8, d.getUTCDate(), 2);
      putDigits(h, 11, d.getUTCHours(), 2);
      putDigits(h, 14, d.getUTCMinutes(), 2);
      putDigits(h, 17, d.getUTCSeconds(), 2);
    }
    putDigits(h, 20, micros - second * 1_000_000, 6);
  }
}

/** `YYYY-MM-DDTHH:MM:SS.uuuuuuZ ` */
const TIME_LENGTH = 28;
/** Time, stream id (2 hex digits), stream type, line type. */
export const HEADER_LENGTH = TIME_LENGTH + 4;
const LINE_TYPE_AT = TIME_LENGTH + 3;
/** Upstream's bufSize: how much of a line without `\n` is held back. */
const BUFFER_SIZE = 8 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const FULL_LINE = 0x20; // ' '
const PARTIAL_LINE = 0x2b; // '+'
const HEX = new TextEncoder().encode("0123456789abcdef");
const SEPARATORS: [number, number][] = [
  [4, 0x2d], // -
  [7, 0x2d],
  [10, 0x54], // T
  [13, 0x3a], // :
  [16, 0x3a],
  [19, 0x2e], // .
  [26, 0x5a], // Z
  [27, 0x20],
];

/** Copies `from[start..end)` to `to[at]`; returns the end. A loop beats `set` for short lines. */
function copyInto(
  to: Uint8Array,
  at: number,
  from: Uint8Array,
  start: number,
  end: number,
): number {
  if (end - start > 64) {
    to.set(from.subarray(start, end), at);
    return at + end - start;
  }
  for (let i = start; i < end; i++) to[at++] = from[i]!;
  return at;
}

function putDigits(buf: Uint8Array, at: number, value: number, width: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
}

/**
 * `2026-12-02T08:30:00.123456Z 01O ` or `… 01E+` at the start of an entry:
 * what GitLab strips when it renders the log.
 */
export const LINE_PREFIX_PATTERN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z [0-9a-f]{2}[OE][ +]/;
