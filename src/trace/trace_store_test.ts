import assert from "node:assert/strict";
import { type SpillFile, TraceStore } from "./trace_store.ts";

/** In-memory stand-in for the temporary file. */
class MemorySpillFile implements SpillFile {
  bytes = new Uint8Array(0);
  size = 0;
  appends = 0;
  isClosed = false;
  append(bytes: Uint8Array): void {
    this.appends++;
    if (this.size + bytes.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.size + bytes.length));
      grown.set(this.bytes.subarray(0, this.size));
      this.bytes = grown;
    }
    this.bytes.set(bytes, this.size);
    this.size += bytes.length;
  }
  readAt(offset: number, into: Uint8Array): void {
    assert.ok(offset + into.length <= this.size, "read past what was appended");
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  close(): void {
    this.isClosed = true;
  }
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function fill(store: TraceStore, total: number, piece: number): Uint8Array {
  const all = pattern(total, 5);
  for (let at = 0; at < total; at += piece) {
    store.append(all.subarray(at, Math.min(total, at + piece)));
  }
  return all;
}

Deno.test("TraceStore reads stored bytes back by offset, across its memory blocks", () => {
  const store = new TraceStore();
  const all = fill(store, 3 * 1024 * 1024 + 17, 100_003);
  assert.equal(store.size, all.length);
  for (
    const [offset, length] of [[0, 10], [1024 * 1024 - 5, 10], [2_000_000, 1_500_000], [
      all.length - 3,
      99,
    ]]
  ) {
    assert.deepEqual(
      store.read(offset!, length!),
      all.subarray(offset!, Math.min(all.length, offset! + length!)),
    );
  }
  assert.equal(store.read(all.length, 10).length, 0);
  assert.equal(store.isSpilled, false);
});

Deno.test("TraceStore moves to the spill file past its memory limit and still reads every byte", () => {
  const file = new MemorySpillFile();
  let opened = 0;
  const store = new TraceStore({
    memoryLimitBytes: 1000,
    openSpillFile: () => {
      opened++;
      return file;
    },
  });
  const all = fill(store, 3 * 1024 * 1024, 777);
  assert.equal(store.isSpilled, true);
  assert.equal(opened, 1);
  assert.ok(file.appends < 20, `writes are buffered, got ${file.appends} appends`);
  for (const [offset, length] of [[0, 5000], [999, 2], [all.length - 10, 1024 * 1024]]) {
    assert.deepEqual(
      store.read(offset!, length!),
      all.subarray(offset!, Math.min(all.length, offset! + length!)),
    );
  }
  store.append(new Uint8Array([1, 2, 3]));
  assert.deepEqual(
    store.read(all.length, 10),
    new Uint8Array([1, 2, 3]),
    "unflushed bytes are readable",
  );
  store.close();
  store.close();
  assert.equal(file.isClosed, true);
});

Deno.test("TraceStore rejects a negative offset and use after close", () => {
  const store = new TraceStore();
  assert.throws(() => store.read(-1, 1), /non-negative integer: got -1/);
  store.close();
  assert.throws(() => store.append(new Uint8Array(1)), TypeError);
});

Deno.test("TraceStore keeps up to 1 MiB in memory by default and moves a longer trace to the file", () => {
  const file = new MemorySpillFile();
  const store = new TraceStore({ openSpillFile: () => file });
  const all = fill(store, 1024 * 1024, 65_000);
  assert.equal(store.isSpilled, false);
  store.append(new Uint8Array([7]));
  assert.equal(store.isSpilled, true);
  assert.deepEqual(store.read(1024 * 1024 - 3, 10), new Uint8Array([...all.subarray(-3), 7]));
  store.close();
});

Deno.test("TraceStore gathers a spilled trace's appends of 96 KiB (a stamped 64 KiB read) into writes of 1 MiB", () => {
  const file = new MemorySpillFile();
  const store = new TraceStore({ memoryLimitBytes: 0, openSpillFile: () => file });
  const all = fill(store, 16 * 1024 * 1024, 96 * 1024);
  // 171 appends of 96 KiB; one write per 1 MiB gathered (10 appends each).
  assert.ok(file.appends <= 18, `got ${file.appends} writes to the file`);
  for (const [offset, length] of [[0, 100], [1024 * 1024 - 7, 20], [all.length - 5000, 9000]]) {
    assert.deepEqual(
      store.read(offset!, length!),
      all.subarray(offset!, Math.min(all.length, offset! + length!)),
    );
  }
  // One append of the buffer's size or more goes straight on.
  const before = file.appends;
  store.append(pattern(2 * 1024 * 1024, 9));
  assert.ok(file.appends - before <= 2, `got ${file.appends - before} writes`);
  assert.deepEqual(store.read(all.length, 2 * 1024 * 1024), pattern(2 * 1024 * 1024, 9));
  store.close();
});

/** A spill file that fails once `failAfter` appends succeeded, as a full disk does. */
class FailingSpillFile extends MemorySpillFile {
  constructor(readonly failAfter: number) {
    super();
  }
  override append(bytes: Uint8Array): void {
    if (this.appends >= this.failAfter) {
      throw new Error(
        'Cannot write job trace file "/tmp/x": No space left on device (os error 28)',
      );
    }
    super.append(bytes);
  }
}

Deno.test("TraceStore keeps the whole trace in memory when its spill file cannot be made or written", () => {
  const data = pattern(5 * 1024 * 1024 + 123, 7);
  const cases: [string, () => SpillFile][] = [
    ["cannot be made", () => {
      throw new Error('Cannot create job trace file in "/tmp/runner-x": No such file or directory');
    }],
    ["fails copying memory", () => new FailingSpillFile(3)],
    ["fails later", () => new FailingSpillFile(17)],
  ];
  for (const [what, openSpillFile] of cases) {
    const store = new TraceStore({ memoryLimitBytes: 1024 * 1024, openSpillFile });
    for (let at = 0; at < data.length; at += 96 * 1024) {
      store.append(data.subarray(at, at + 96 * 1024));
    }
    assert.equal(store.size, data.length, what);
    assert.deepEqual(store.read(0, data.length), data, what);
    assert.equal(store.isSpilled, false, what);
    assert.match(String(store.spillError), /No such file|No space left/, what);
    store.close();
  }
});

Deno.test("TraceStore reads a spilled trace whole when writing its buffer out fails at a read", () => {
  let file: FailingSpillFile | undefined;
  const store = new TraceStore({
    memoryLimitBytes: 0,
    openSpillFile: () => file = new FailingSpillFile(0),
  });
  const data = pattern(300 * 1024, 3);
  store.append(data.subarray(0, 100));
  store.append(data.subarray(100));
  assert.equal(
    store.isSpilled,
    true,
    "the first 100 bytes went to the file, the rest to its buffer",
  );
  assert.deepEqual(store.read(0, data.length), data);
  assert.equal(store.isSpilled, false);
  assert.equal(file?.isClosed, true);
});
