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
 * write to write: the bytes are copied once, not once per line, four at a
 * time while they hold no `\n`, and each header goes in as eight 32-bit
 * stores. Lines that arrive in one write share one reading of the clock.
 */
export class LineTimestamper implements ByteSink {
  readonly #next: ByteSink;
  readonly #now: () => number;
  /** Reused header: `YYYY-MM-DDTHH:MM:SS.uuuuuuZ ` + id (2) + type + line type. */
  readonly #header = new Uint8Array(HEADER_LENGTH);
  readonly #headerView = new DataView(this.#header.buffer);
  /** The header as eight little-endian words, the last one for a full line. */
  readonly #headerWords = new Int32Array(HEADER_LENGTH / 4);
  /** The header's last word for a full line and for a `+` continuation. */
  readonly #fullLineWord: number;
  readonly #partialLineWord: number;
  /** Whether the next header starts a `+` continuation. */
  #isNextPartial = false;
  /** The pending partial line, its header first. */
  readonly #pending = new Uint8Array(HEADER_LENGTH + BUFFER_SIZE);
  readonly #pendingView = new DataView(this.#pending.buffer);
  #pendingLength = 0;
  #cachedSecond = -1;
  /** Where `write` assembles what it hands on. */
  #out = new Uint8Array(0);
  #outView = new DataView(this.#out.buffer);
  /** The header's time is that of the current `write`. */
  #isStampCurrent = false;
  /** How far `#copyLines` got in the chunk. */
  #copiedTo = 0;

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
    const view = this.#headerView;
    h[LINE_TYPE_AT] = PARTIAL_LINE;
    this.#partialLineWord = view.getInt32(TIME_LENGTH, true);
    h[LINE_TYPE_AT] = FULL_LINE;
    this.#fullLineWord = view.getInt32(TIME_LENGTH, true);
  }

  /** Whether a partial line is held back, waiting for its end. */
  get hasPendingLine(): boolean {
    return this.#pendingLength > 0;
  }

  write(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    // Lines that arrive in one write arrived at the same time: one clock
    // read per write, not per line.
    this.#isStampCurrent = false;
    // Room for the pending line and the bytes, and for the entry of the rest
    // (a header and an added \n); more headers grow it as lines are found.
    let out = this.#room(0, this.#pendingLength + n + 2 * (HEADER_LENGTH + 1));
    let o = 0;
    let restStart = 0;

    // Complete lines: the pending one first (its header was taken when it began).
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf !== -1) {
      o = this.#flushPending(out, this.#outView, o);
      o = this.#copyLines(chunk, lastLf, o);
      out = this.#out;
      restStart = lastLf + 1;
    }

    const restLength = n - restStart;
    if (restLength > 0) {
      const rest = chunk.subarray(restStart);
      if (rest.indexOf(CR) !== -1 || restLength + this.#pendingLength > BUFFER_SIZE) {
        // Upstream flushes a `\r` write whole, so a progress bar shows live
        // and the `\x1b[0K` after a section marker stays with it; and a line
        // longer than its buffer is emitted as it overflows.
        o = this.#flushPending(out, this.#outView, o);
        out.set(rest, o);
        o += restLength;
        out[o++] = LF;
        this.#isNextPartial = true;
      } else {
        if (this.#pendingLength === 0) {
          this.#pendingLength = this.#putHeader(this.#pendingView, 0);
        }
        this.#pending.set(rest, this.#pendingLength);
        this.#pendingLength += restLength;
      }
    }
    if (o > 0) this.#next.write(out.subarray(0, o));
  }

  /**
   * Copies `chunk[0..lastLf]` (which ends in `\n`) to the output at `o`, a
   * header after each `\n` but the last; returns the end. The caller has put
   * the first line's header.
   */
  #copyLines(chunk: Uint8Array, lastLf: number, o: number): number {
    // Another line in this write needs the stamp (read once per write).
    if (!this.#isStampCurrent && chunk.indexOf(LF) !== lastLf) this.#stamp();
    const from = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#copiedTo = 0;
    for (;;) {
      o = this.#copySomeLines(chunk, from, lastLf, o);
      if (this.#copiedTo > lastLf) return o;
      // Out of room for the next header, the bytes left, and the rest's
      // header and added `\n`.
      this.#room(o, 2 * HEADER_LENGTH + 1 + chunk.length - this.#copiedTo);
    }
  }

  /**
   * The loop of `#copyLines`, from `#copiedTo` for as long as the output has
   * room; leaves `#copiedTo` where it stopped. Its buffers are constants
   * here, which keeps the loop tight (a reassigned buffer made it half as
   * fast).
   */
  #copySomeLines(chunk: Uint8Array, from: DataView, lastLf: number, o: number): number {
    const out = this.#out;
    const view = this.#outView;
    const room = out.length - (2 * HEADER_LENGTH + 1 + chunk.length);
    const w = this.#headerWords;
    const w0 = w[0]!, w1 = w[1]!, w2 = w[2]!, w3 = w[3]!, w4 = w[4]!, w5 = w[5]!, w6 = w[6]!;
    const w7 = this.#fullLineWord;
    const lastWord = chunk.length - 4;
    let i = this.#copiedTo;
    for (;;) {
      // Each line after the first gets a header.
      if (i !== 0) {
        view.setInt32(o, w0, true);
        view.setInt32(o + 4, w1, true);
        view.setInt32(o + 8, w2, true);
        view.setInt32(o + 12, w3, true);
        view.setInt32(o + 16, w4, true);
        view.setInt32(o + 20, w5, true);
        view.setInt32(o + 24, w6, true);
        view.setInt32(o + 28, w7, true);
        o += HEADER_LENGTH;
      }
      // Four bytes at a time up to the word holding the `\n`, which is copied
      // whole: the bytes after its `\n` land where the next header or byte
      // goes, or past the end handed on. Its lowest flagged byte is the `\n`
      // (the test may also flag bytes above the first `\n`, never below).
      let lf = 0;
      while (i <= lastWord) {
        const word = from.getInt32(i, true);
        view.setInt32(o, word, true);
        const x = word ^ 0x0a0a0a0a;
        lf = (x - 0x01010101) & ~x & 0x80808080;
        if (lf !== 0) break;
        o += 4;
        i += 4;
      }
      if (lf !== 0) {
        const through = ((31 - Math.clz32(lf & -lf)) >> 3) + 1;
        o += through;
        i += through;
      } else {
        // Fewer than four bytes left in the chunk: byte by byte through the
        // `\n` (there is one at `lastLf` at the latest).
        let b: number;
        do {
          b = chunk[i++]!;
          out[o++] = b;
        } while (b !== LF);
      }
      // Done, or no room for what may follow: `o + header + (n - i) + header + 1`.
      if (i > lastLf || o - i > room) break;
    }
    this.#copiedTo = i;
    return o;
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
    this.#outView = new DataView(bigger.buffer);
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
  #flushPending(out: Uint8Array, view: DataView, o: number): number {
    if (this.#pendingLength === 0) return this.#putHeader(view, o);
    out.set(this.#pending.subarray(0, this.#pendingLength), o);
    o += this.#pendingLength;
    this.#pendingLength = 0;
    return o;
  }

  /** Writes the header stamped now at `o`; the next one is a full line again. */
  #putHeader(view: DataView, o: number): number {
    if (!this.#isStampCurrent) this.#stamp();
    const w = this.#headerWords;
    view.setInt32(o, w[0]!, true);
    view.setInt32(o + 4, w[1]!, true);
    view.setInt32(o + 8, w[2]!, true);
    view.setInt32(o + 12, w[3]!, true);
    view.setInt32(o + 16, w[4]!, true);
    view.setInt32(o + 20, w[5]!, true);
    view.setInt32(o + 24, w[6]!, true);
    if (this.#isNextPartial) {
      view.setInt32(o + 28, this.#partialLineWord, true);
      this.#isNextPartial = false;
    } else {
      view.setInt32(o + 28, this.#fullLineWord, true);
    }
    return o + HEADER_LENGTH;
  }

  /** Puts the clock's time into the header, for the rest of this write. */
  #stamp(): void {
    this.#isStampCurrent = true;
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
    const view = this.#headerView;
    const w = this.#headerWords;
    for (let k = 0; k < TIME_LENGTH / 4; k++) w[k] = view.getInt32(4 * k, true);
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
