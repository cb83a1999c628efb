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
