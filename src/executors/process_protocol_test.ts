import assert from "node:assert/strict";
import {
  encodeFrame,
  FRAME_MESSAGE,
  FRAME_TRACE,
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
  MAX_MESSAGE_PAYLOAD,
} from "./process_protocol.ts";

function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
}

Deno.test("FrameDecoder hands out every frame sent, byte for byte, however the stream is cut into reads", () => {
  const rand = random(3);
  for (let round = 0; round < 60; round++) {
    const sent = Array.from({ length: 1 + rand(40) }, (_, k) => {
      const size = [0, 1, 4, 5, 6, 100, 4096, 65_531, 65_536, 70_000][rand(10)]!;
      return {
        type: rand(2) === 0 ? FRAME_TRACE : FRAME_MESSAGE,
        payload: Uint8Array.from({ length: size }, (_, i) => (i * 7 + k + round) & 0xff),
      };
    });
    const stream = new Uint8Array(sent.reduce((n, f) => n + 5 + f.payload.length, 0));
    sent.reduce(
      (at, f) => (stream.set(encodeFrame(f.type, f.payload), at), at + 5 + f.payload.length),
      0,
    );
    const decoder = new FrameDecoder();
    let next = 0;
    for (let at = 0; at < stream.length;) {
      // Reads as a pipe gives them: 1 byte, a header cut anywhere, 64 KiB, more.
      const size = [1, 2, 3, 5, 7, 4096, 65_536, 65_541, 200_000][rand(9)]!;
      // Each read is a new array, as a stream's reads are.
      const frames = decoder.push(stream.slice(at, at + size));
      // Checked before the next push, until which they are ours: a read that
      // finishes one split frame and starts another must not overwrite the first.
      for (const frame of frames) {
        assert.deepEqual(frame, sent[next], `round ${round}, frame ${next}`);
        next++;
      }
      at += size;
    }
    assert.equal(next, sent.length);
    assert.equal(decoder.pending, 0);
  }
});

Deno.test("FrameDecoder counts an unfinished frame as pending and refuses a frame past the limit, its header cut in two", () => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(FRAME_TRACE, new TextEncoder().encode("hello"));
  assert.deepEqual(decoder.push(frame.subarray(0, 7)), []);
  assert.equal(decoder.pending, 7, "the stream ended inside a frame");

  const over = new Uint8Array(5);
  over[0] = FRAME_TRACE;
  new DataView(over.buffer).setUint32(1, MAX_FRAME_PAYLOAD + 1);
  const fresh = new FrameDecoder();
  assert.deepEqual(fresh.push(over.subarray(0, 3)), []);
  assert.throws(() => fresh.push(over.subarray(3)), RangeError);
});

Deno.test("FrameDecoder takes a message frame past the trace frame limit (a job with a large file variable), up to its own limit", () => {
  const payload = new Uint8Array(3 * MAX_FRAME_PAYLOAD).fill(0x78);
  const frame = encodeFrame(FRAME_MESSAGE, payload);
  const decoder = new FrameDecoder();
  const frames = [...decoder.push(frame.subarray(0, 3)), ...decoder.push(frame.subarray(3))];
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.payload.length, payload.length);

  const over = new Uint8Array(5);
  over[0] = FRAME_MESSAGE;
  new DataView(over.buffer).setUint32(1, MAX_MESSAGE_PAYLOAD + 1);
  assert.throws(() => new FrameDecoder().push(over), RangeError);
  over[0] = FRAME_TRACE;
  new DataView(over.buffer).setUint32(1, MAX_FRAME_PAYLOAD + 1);
  assert.throws(() => new FrameDecoder().push(over), RangeError);
});
