import assert from "node:assert/strict";
import { LocalFileReader } from "./local_file_reader.ts";

Deno.test("LocalFileReader serves any range of the file, through its window or directly, in any order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "reader-" });
  try {
    const data = crypto.getRandomValues(new Uint8Array(65536)).slice();
    const bytes = new Uint8Array(1_500_000);
    for (let o = 0; o < bytes.length; o += data.length) {
      bytes.set(data.subarray(0, Math.min(data.length, bytes.length - o)), o);
      data.reverse();
    }
    await Deno.writeFile(`${dir}/f`, bytes);
    const reader = await LocalFileReader.open(`${dir}/f`);
    try {
      assert.equal(reader.size, bytes.length);
      // Small reads forwards and backwards, reads that straddle the window's
      // end, large ones that bypass it, the very end of the file.
      const ranges: [number, number][] = [
        [0, 10],
        [600_000, 100],
        [5, 20],
        [524_280, 20],
        [100_000, 300_000],
        [200_000, 64 << 10],
        [1_499_990, 10],
        [1_000_000, 0],
      ];
      for (const [offset, length] of ranges) {
        const into = new Uint8Array(length);
        await reader.readInto(offset, into);
        assert.deepEqual(into, bytes.subarray(offset, offset + length), `${length} at ${offset}`);
        assert.deepEqual(
          await reader.read(offset, length),
          bytes.subarray(offset, offset + length),
        );
      }
      // Reads started together all get their own bytes.
      const together = await Promise.all(
        [[10, 5000], [900_000, 70_000], [20, 30]].map(([o, l]) => reader.read(o!, l!)),
      );
      assert.deepEqual(together[1], bytes.subarray(900_000, 970_000));
      assert.deepEqual(together[2], bytes.subarray(20, 50));
      // Past the end: a rejection, not a throw.
      const past = reader.readInto(1_499_995, new Uint8Array(10));
      await assert.rejects(past, RangeError);
    } finally {
      await reader.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
