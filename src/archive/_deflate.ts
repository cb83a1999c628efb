/**
 * Deflate through node:zlib's asynchronous API: Deno runs it off the main
 * thread, so several files (or blocks of one large file) compress in parallel.
 * CompressionStream would be simpler but has no level and measured ~7x slower
 * than zlib level 1 here (see scripts/bench/archive.ts).
 */
import zlib from "node:zlib";

const SYNC = zlib.constants.Z_SYNC_FLUSH;
const FINISH = zlib.constants.Z_FINISH;

/**
 * A complete raw-deflate stream of `data`, on the calling thread. For small
 * inputs this beats the asynchronous call by far: that one builds a node
 * stream and makes a thread-pool round trip per call, which cost 1.7 s of CPU
 * over 20k small files, more than the compression itself.
 */
export function deflateAllSync(data: Uint8Array, level: number): Uint8Array {
  const out = zlib.deflateRawSync(data, { level });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** A complete raw-deflate stream of `data`. */
export function deflateAll(data: Uint8Array, level: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(data, { level, finishFlush: FINISH }, (err, out) => {
      if (err) reject(err);
      else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    });
  });
}

/**
 * One block of a multi-block stream: ends with a sync flush and is not final,
 * so blocks compressed independently concatenate into a valid stream (the
 * pigz technique). Close the stream with `FINAL_EMPTY_BLOCK`.
 */
export function deflateBlock(data: Uint8Array, level: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(data, { level, finishFlush: SYNC }, (err, out) => {
      if (err) reject(err);
      else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    });
  });
}

/** A final, empty fixed-Huffman block: BFINAL=1, BTYPE=01, end-of-block. */
export const FINAL_EMPTY_BLOCK = new Uint8Array([0x03, 0x00]);

/**
 * node:zlib's crc32 (Node 22.2+, in Deno). Programs that also load
 * @types/dockerode or @types/ssh2 see an older @types/node without it, hence
 * the typed view instead of a bare `zlib.crc32`.
 */
const zlibCrc32 = (zlib as unknown as { crc32(data: Uint8Array, value?: number): number }).crc32;

export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous) >>> 0;
}
