import assert from "node:assert/strict";
import { sinkStream } from "./sink_stream.ts";

Deno.test("sinkStream hands out copies, waits for the reader, and stops the producer on cancel", async () => {
  const buffer = new Uint8Array(4);
  let writes = 0;
  let stopped: unknown = null;
  const stream = sinkStream(async (sink) => {
    try {
      for (let i = 0; i < 100; i++) {
        buffer.fill(i); // reused, as writeZip reuses its buffers
        await sink.write(buffer);
        writes++;
      }
    } catch (err) {
      stopped = err;
      throw err;
    }
  });
  assert.equal(writes, 0, "nothing is produced before the first read");
  const reader = stream.getReader();
  const first = await reader.read();
  const second = await reader.read();
  assert.deepEqual(first.value, new Uint8Array(4).fill(0));
  assert.deepEqual(second.value, new Uint8Array(4).fill(1));
  assert.ok(writes < 5, `the producer waits for the reader (${writes} writes)`);
  await reader.cancel();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(stopped instanceof Error, "the producer's write rejected after cancel");
  assert.ok(writes < 5);
});

Deno.test("sinkStream passes the producer's failure to the reader", async () => {
  const stream = sinkStream(async (sink) => {
    await sink.write(new Uint8Array([1]));
    throw new Error("source vanished");
  });
  await assert.rejects(new Response(stream).arrayBuffer(), /source vanished/);
});
