import assert from "node:assert/strict";
import { openTempSpillFile } from "./temp_spill_file.ts";
import { TraceStore } from "./trace_store.ts";

Deno.test("TraceStore spills to a real temporary file that is gone after close", () => {
  const dir = Deno.makeTempDirSync({ prefix: "trace-spill-test-" });
  try {
    const store = new TraceStore({
      memoryLimitBytes: 64 * 1024,
      openSpillFile: () => openTempSpillFile(dir),
    });
    const all = new Uint8Array(5 * 1024 * 1024 + 3);
    for (let i = 0; i < all.length; i++) all[i] = (i * 7 + (i >> 11)) & 0xff;
    for (let at = 0; at < all.length; at += 65_521) store.append(all.subarray(at, at + 65_521));
    assert.equal(store.isSpilled, true);
    for (const offset of [0, 65_536, 1_048_575, 4_000_000, all.length - 1]) {
      assert.deepEqual(store.read(offset, 1024 * 1024), all.subarray(offset, offset + 1024 * 1024));
    }
    store.close();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no trace file left behind");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a spill file appends at its end after reads from anywhere, as the uploader reads while the job writes", () => {
  const dir = Deno.makeTempDirSync({ prefix: "trace-spill-test-" });
  try {
    const file = openTempSpillFile(dir);
    const all: number[] = [];
    for (let round = 0; round < 40; round++) {
      const piece = Uint8Array.from(
        { length: 1 + ((round * 977) % 5000) },
        (_, k) => (round * 31 + k) & 0xff,
      );
      file.append(piece);
      all.push(...piece);
      if (round % 3 === 0) {
        const offset = (round * 7919) % all.length;
        const into = new Uint8Array(Math.min(300, all.length - offset));
        file.readAt(offset, into);
        assert.deepEqual([...into], all.slice(offset, offset + into.length), `read at ${offset}`);
      }
    }
    const whole = new Uint8Array(all.length);
    file.readAt(0, whole);
    assert.deepEqual([...whole], all);
    file.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openTempSpillFile names the directory when it cannot create the file", () => {
  assert.throws(
    () => openTempSpillFile("/nonexistent/trace-dir"),
    /Cannot create job trace file in "\/nonexistent\/trace-dir"/,
  );
});
