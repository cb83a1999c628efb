import assert from "node:assert/strict";
import zlib from "node:zlib";
import {
  BLOCK,
  DeflatePool,
  type DeflateUnit,
  FILES,
  LAST_BLOCK,
  newUnit,
  UNIT_BYTES,
} from "./_deflate_pool.ts";

const text = (n: number) => new TextEncoder().encode("const value = options.length;\n".repeat(n));

/** A Files unit of `pieces`, one after the other. */
function filesUnit(pieces: Uint8Array[]): DeflateUnit {
  const unit = newUnit(1);
  unit.mode = FILES;
  let at = 0;
  for (const piece of pieces) {
    unit.raw.set(piece, at);
    at += piece.length;
    unit.ends[unit.count++] = at;
  }
  return unit;
}

/** Each piece of a deflated Files unit, inflated (or as stored). */
function piecesOf(unit: DeflateUnit): { bytes: Uint8Array; stored: boolean; crc: number }[] {
  const pieces = [];
  let start = 0;
  for (let p = 0; p < unit.count; p++) {
    const end = unit.outEnds[p] as number;
    const out = unit.out.subarray(start, end);
    const stored = unit.stored[p] === 1;
    pieces.push({
      bytes: stored ? out.slice() : new Uint8Array(zlib.inflateRawSync(out)),
      stored,
      crc: unit.crcs[p] as number,
    });
    start = end;
  }
  return pieces;
}

const crc = (data: Uint8Array) =>
  (zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data) >>> 0;

Deno.test("a pool's units come back deflated piece by piece, with CRCs; incompressible and empty pieces are stored", async () => {
  const pool = new DeflatePool(1);
  try {
    const noise = crypto.getRandomValues(new Uint8Array(40_000));
    const inputs = [[text(100), noise, new Uint8Array(0), text(7)], [text(3000)], [text(20)]];
    const sent = inputs.map((pieces) => {
      const unit = filesUnit(pieces);
      pool.submit(unit);
      return unit;
    });
    for (const [i, unit] of sent.entries()) {
      const back = piecesOf(await pool.result(unit));
      const pieces = inputs[i] as Uint8Array[];
      assert.deepEqual(back.map((b) => b.bytes), pieces);
      assert.deepEqual(back.map((b) => b.crc), pieces.map(crc));
      assert.deepEqual(
        back.map((b) => b.stored),
        pieces.map((p) => p === noise || p.length === 0),
      );
    }
  } finally {
    pool.close();
  }
});

Deno.test("a pool deflates on its Worker once it is up: the unit's buffers leave this thread", async () => {
  const pool = new DeflatePool(1);
  try {
    // The Worker starts at the second unit; until it is up, this thread does the work.
    let wentAway = false;
    for (let i = 0; i < 200 && !wentAway; i++) {
      const unit = filesUnit([text(50)]);
      pool.submit(unit);
      wentAway = unit.raw.byteLength === 0; // transferred to the Worker
      const back = await pool.result(unit);
      assert.deepEqual(piecesOf(back)[0]?.bytes, text(50));
      if (!wentAway) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(wentAway, "no unit was ever sent to the Worker");
    assert.equal(pool.failure, null);
  } finally {
    pool.close();
  }
});

Deno.test("blocks deflated apart concatenate into one stream that inflates to the whole input", async () => {
  const pool = new DeflatePool(1);
  try {
    const input = text(Math.ceil((2.5 * UNIT_BYTES) / 30)).subarray(0, 2.5 * UNIT_BYTES);
    const units: DeflateUnit[] = [];
    for (let at = 0; at < input.length; at += UNIT_BYTES) {
      const piece = input.subarray(at, at + UNIT_BYTES);
      const unit = newUnit(1);
      unit.raw.set(piece);
      unit.count = 1;
      unit.ends[0] = piece.length;
      unit.mode = at + UNIT_BYTES >= input.length ? LAST_BLOCK : BLOCK;
      pool.submit(unit);
      units.push(unit);
    }
    const parts: Uint8Array[] = [];
    for (const unit of units) {
      const back = await pool.result(unit);
      parts.push(back.out.slice(0, back.outEnds[0]));
    }
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (stream.set(p, at), at + p.length), 0);
    assert.deepEqual(new Uint8Array(zlib.inflateRawSync(stream)), input);
  } finally {
    pool.close();
  }
});

Deno.test("a pool with no Workers deflates everything on this thread", async () => {
  const pool = new DeflatePool(0);
  try {
    const units = [filesUnit([text(10)]), filesUnit([text(20)]), filesUnit([text(30)])];
    for (const unit of units) pool.submit(unit);
    for (const [i, unit] of units.entries()) {
      assert.deepEqual(piecesOf(await pool.result(unit))[0]?.bytes, text(10 * (i + 1)));
    }
  } finally {
    pool.close();
  }
});
