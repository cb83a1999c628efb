import assert from "node:assert/strict";
import { LINE_PREFIX_PATTERN, LineTimestamper } from "./line_timestamper.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Each stamp is one hour after the previous, starting 2021-01-01T01:00:00.020010Z. */
function hourlyClock(): () => number {
  let ms = Date.parse("2021-01-01T00:00:00Z") + 20.010;
  return () => (ms += 3_600_000);
}

function collect(
  options: { streamId?: number; streamType?: "O" | "E"; now?: () => number } = {},
): { stamper: LineTimestamper; text: () => string; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const stamper = new LineTimestamper({ write: (b) => chunks.push(b.slice()) }, {
    streamId: options.streamId ?? 255,
    streamType: options.streamType ?? "E",
    now: options.now ?? hourlyClock(),
  });
  return { stamper, chunks, text: () => chunks.map((c) => dec.decode(c)).join("") };
}

Deno.test("LineTimestamper prefixes lines, \\r flushes and splits exactly as the official timestamper", () => {
  const { stamper, text } = collect();
  const w = (s: string) => stamper.write(enc.encode(s));
  w("PREFIX This is the beginning of a new line\n");
  w("PREFIX This is a split ");
  w("up ");
  w("line\n");
  w("PREFIX Progress bar: ");
  for (let i = 0; i < 3; i++) w(".\r");
  w("Done.\r\n");
  w("PREFIX multiple\nnew\nlines\n");
  w("\nstart");
  w("\nend\n");
  w("PREFIX Eat carriages\r\r\r\n");
  w("PREFIX The end");
  stamper.close();
  assert.equal(
    text(),
    [
      "2021-01-01T01:00:00.020010Z ffE PREFIX This is the beginning of a new line\n",
      "2021-01-01T02:00:00.020010Z ffE PREFIX This is a split up line\n",
      "2021-01-01T03:00:00.020010Z ffE PREFIX Progress bar: .\r\n",
      "2021-01-01T04:00:00.020010Z ffE+.\r\n",
      "2021-01-01T05:00:00.020010Z ffE+.\r\n",
      "2021-01-01T06:00:00.020010Z ffE+Done.\r\n",
      // Lines that come in one write share its time (upstream reads the clock per line).
      "2021-01-01T07:00:00.020010Z ffE PREFIX multiple\n",
      "2021-01-01T07:00:00.020010Z ffE new\n",
      "2021-01-01T07:00:00.020010Z ffE lines\n",
      "2021-01-01T08:00:00.020010Z ffE \n",
      "2021-01-01T08:00:00.020010Z ffE start\n",
      "2021-01-01T09:00:00.020010Z ffE end\n",
      "2021-01-01T10:00:00.020010Z ffE PREFIX Eat carriages\r\r\r\n",
      "2021-01-01T11:00:00.020010Z ffE PREFIX The end\n",
    ].join(""),
  );
});

Deno.test("LineTimestamper stamps stdout of stream 1 as 01O and keeps a section marker's erase code with it", () => {
  const { stamper, text } = collect({ streamId: 1, streamType: "O" });
  stamper.write(enc.encode("section_start:123:foo\r\x1b[0K"));
  stamper.write(enc.encode("section_end:123:foo\r\x1b[0K"));
  stamper.close();
  assert.equal(
    text(),
    "2021-01-01T01:00:00.020010Z 01O section_start:123:foo\r\x1b[0K\n" +
      "2021-01-01T02:00:00.020010Z 01O+section_end:123:foo\r\x1b[0K\n",
  );
});

Deno.test("LineTimestamper emits a line without \\n past 8 KiB and continues it with + entries", () => {
  const { stamper, text } = collect();
  const w = (s: string) => stamper.write(enc.encode(s));
  w("PREFIX This is the beginning of a new line\n");
  w("We have no new line character in this write");
  w("... The line is now flushed.\n");
  w("large continuous write incoming");
  w(".".repeat(8192));
  w(".".repeat(8193));
  w("ended\n");
  stamper.close();
  assert.equal(
    text(),
    [
      "2021-01-01T01:00:00.020010Z ffE PREFIX This is the beginning of a new line\n",
      "2021-01-01T02:00:00.020010Z ffE We have no new line character in this write... The line is now flushed.\n",
      `2021-01-01T03:00:00.020010Z ffE large continuous write incoming${".".repeat(8192)}\n`,
      `2021-01-01T04:00:00.020010Z ffE+${".".repeat(8193)}\n`,
      "2021-01-01T05:00:00.020010Z ffE+ended\n",
    ].join(""),
  );
});

Deno.test("LineTimestamper stamps the time a line began, in UTC, to the microsecond", () => {
  const base = Date.parse("2021-06-15T12:34:56Z");
  const offsets = [0, 0.001, 0.123, 1000, 1000.007];
  let i = 0;
  const { stamper, text } = collect({ streamId: 1, now: () => base + offsets[i++]! });
  for (let n = 0; n < offsets.length; n++) stamper.write(enc.encode("line\n"));
  assert.equal(
    text(),
    [
      "2021-06-15T12:34:56.000000Z 01E line\n",
      "2021-06-15T12:34:56.000001Z 01E line\n",
      "2021-06-15T12:34:56.000123Z 01E line\n",
      "2021-06-15T12:34:57.000000Z 01E line\n",
      "2021-06-15T12:34:57.000007Z 01E line\n",
    ].join(""),
  );
});

Deno.test("LineTimestamper holds a partial line until its end and close ends it once", () => {
  const { stamper, text, chunks } = collect({ streamId: 1, streamType: "O" });
  stamper.write(enc.encode("no trailing newline"));
  assert.equal(chunks.length, 0);
  assert.equal(stamper.hasPendingLine, true);
  stamper.close();
  const once = text();
  stamper.close();
  assert.equal(text(), once);
  assert.equal(once, "2021-01-01T01:00:00.020010Z 01O no trailing newline\n");
  // A later write starts a fresh line, as a new stage's stream does upstream.
  stamper.write(enc.encode("next\n"));
  assert.equal(text(), once + "2021-01-01T02:00:00.020010Z 01O next\n");
});

Deno.test("LineTimestamper hands the sink one chunk per write however many lines it holds", () => {
  const { stamper, chunks } = collect();
  stamper.write(enc.encode("a\nb\nc\nd\npartial"));
  assert.equal(chunks.length, 1);
  for (const line of dec.decode(chunks[0]).split("\n").slice(0, -1)) {
    assert.match(line, LINE_PREFIX_PATTERN);
  }
});

Deno.test("LineTimestamper refuses a stream id outside 0…255", () => {
  assert.throws(
    () =>
      new LineTimestamper({ write: () => {} }, { streamId: 256, streamType: "O", now: Date.now }),
    /Stream id must be a whole number from 0 to 255: got 256/,
  );
});

Deno.test("LineTimestamper reads the clock once per write and grows its buffer for many short lines", () => {
  let reads = 0;
  const { stamper, text } = collect({ streamId: 1, streamType: "O", now: () => (reads++, 0) });
  const lines = Array.from({ length: 5000 }, (_, i) => `${i}\n`).join("");
  stamper.write(enc.encode(lines));
  stamper.write(enc.encode("a\nb\n"));
  assert.equal(reads, 2);
  const expected = Array.from({ length: 5000 }, (_, i) => `1970-01-01T00:00:00.000000Z 01O ${i}\n`)
    .join("") + "1970-01-01T00:00:00.000000Z 01O a\n1970-01-01T00:00:00.000000Z 01O b\n";
  assert.ok(text() === expected, "5002 stamped lines");
});

/**
 * The stamper's rules written the plain way, one string per entry: what the
 * fast one must produce byte for byte, however the output is split.
 */
class ReferenceStamper {
  readonly #now: () => number;
  #pending: string | null = null;
  #isNextPartial = false;
  #stamp: string | null = null;
  output = "";

  constructor(now: () => number) {
    this.#now = now;
  }

  #header(): string {
    this.#stamp ??= new Date(this.#now()).toISOString().replace("Z", "000Z");
    const type = this.#isNextPartial ? "+" : " ";
    this.#isNextPartial = false;
    return `${this.#stamp} 01O${type}`;
  }

  write(chunk: string): void {
    if (chunk === "") return;
    this.#stamp = null;
    const lastLf = chunk.lastIndexOf("\n");
    let rest = chunk;
    if (lastLf !== -1) {
      const lines = chunk.slice(0, lastLf + 1).split(/(?<=\n)/);
      this.output += (this.#pending ?? this.#header()) + lines[0];
      this.#pending = null;
      for (const line of lines.slice(1)) this.output += this.#header() + line;
      rest = chunk.slice(lastLf + 1);
    }
    if (rest === "") return;
    // The held-back length counts its header, as upstream's buffer does.
    if (rest.includes("\r") || rest.length + (this.#pending?.length ?? 0) > 8192) {
      this.output += (this.#pending ?? this.#header()) + rest + "\n";
      this.#pending = null;
      this.#isNextPartial = true;
    } else {
      this.#pending = (this.#pending ?? this.#header()) + rest;
    }
  }

  close(): void {
    if (this.#pending !== null) this.output += this.#pending + "\n";
    this.#pending = null;
  }
}

Deno.test("LineTimestamper matches the plain rules for any split of lines, \\r, long lines and empty writes", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const pieces = ["\n", "\r", "\r\n", "ab", "xyz ", "\n\n", "line of text\n", "é€"];
  for (let round = 0; round < 60; round++) {
    let text = "";
    while (text.length < 40_000) {
      const r = rand(20);
      if (r === 0) text += "-".repeat(4000 + rand(9000)); // past 8 KiB in one or several writes
      else if (r === 1) text += "0123456789".repeat(rand(20));
      else text += pieces[rand(pieces.length)];
    }
    // Whole milliseconds keep the reference's Date formatting exact.
    let ms = Date.parse("2026-12-02T08:30:00Z");
    let refMs = ms;
    const chunks: string[] = [];
    for (let at = 0; at < text.length;) {
      const size = [0, 1, 2, 3, 5, 31, 32, 33, 100, 4096, 9000, 70_000][rand(12)]!;
      chunks.push(text.slice(at, at + size));
      at += size;
    }
    // Both clocks step by the same amounts: draw them in advance.
    const steps = Array.from({ length: chunks.length * 2 }, () => 1 + rand(1500));
    let s1 = 0;
    let s2 = 0;
    const fast = collect({ streamId: 1, streamType: "O", now: () => (ms += steps[s1++]!) });
    const reference = new ReferenceStamper(() => (refMs += steps[s2++]!));
    for (const chunk of chunks) {
      fast.stamper.write(enc.encode(chunk));
      reference.write(chunk);
    }
    fast.stamper.close();
    reference.close();
    const got = fast.text();
    if (got !== reference.output) {
      let at = 0;
      while (got[at] === reference.output[at]) at++;
      assert.fail(
        `round ${round}: differs at ${at}: ${JSON.stringify(got.slice(at - 80, at + 80))}` +
          ` instead of ${JSON.stringify(reference.output.slice(at - 80, at + 80))}`,
      );
    }
  }
});

Deno.test("LineTimestamper: a line split in the middle, over several writes and at 8 KiB exactly", () => {
  const { stamper, text } = collect({ streamId: 1, streamType: "O", now: () => 1.5 });
  const w = (s: string) => stamper.write(enc.encode(s));
  w("");
  w("first li");
  w("");
  w("ne\nsecond line, then a li");
  w("ne held back\n\n");
  // 8160 bytes plus its 32-byte header fill the 8 KiB buffer exactly: held back.
  w("a".repeat(8160));
  w("a\n");
  w("b".repeat(8160));
  // One byte more than fits: the line is emitted and continues with `+`.
  w("bb");
  w("\n");
  stamper.close();
  const runs = text().replace(/(a|b)\1{9,}/g, (run) => `<${run.length} ${run[0]}>`);
  assert.equal(
    runs,
    [
      "1970-01-01T00:00:00.001500Z 01O first line\n",
      "1970-01-01T00:00:00.001500Z 01O second line, then a line held back\n",
      "1970-01-01T00:00:00.001500Z 01O \n",
      "1970-01-01T00:00:00.001500Z 01O <8161 a>\n",
      "1970-01-01T00:00:00.001500Z 01O <8162 b>\n",
      "1970-01-01T00:00:00.001500Z 01O+\n",
    ].join(""),
  );
});

Deno.test("LineTimestamper copies lines with their \\n at any place in a word, from any offset of a larger buffer, as the plain rules do", () => {
  let seed = 11;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  // Short lines of every length mod 4, multi-byte characters next to the `\n`.
  const pieces = ["a", "bc", "def", "ghij", "é", "€", "😀", "\n", "\n", "é\n", "\n€"];
  for (let round = 0; round < 200; round++) {
    let text = "";
    while (text.length < 600) text += pieces[rand(pieces.length)];
    const bytes = enc.encode(text);
    // Whole milliseconds keep the reference's Date formatting exact.
    const fast = collect({ streamId: 1, streamType: "O", now: () => 1_000 });
    const reference = new ReferenceStamper(() => 1_000);
    for (let at = 0; at < bytes.length;) {
      // Writes that end 0-3 bytes after a `\n` (the last word is not whole),
      // handed on as views into the middle of a buffer with `\n`s around them.
      const size = 1 + rand(rand(2) === 0 ? 8 : 80);
      const piece = bytes.subarray(at, at + size);
      const lead = rand(7);
      const host = new Uint8Array(lead + piece.length + 7).fill(0x0a);
      host.set(piece, lead);
      fast.stamper.write(host.subarray(lead, lead + piece.length));
      reference.write(dec.decode(piece, { stream: true }));
      at += size;
    }
    fast.stamper.close();
    reference.close();
    assert.equal(fast.text(), reference.output, `round ${round}`);
  }
});
