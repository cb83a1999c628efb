/**
 * Deflate and inflate through node:zlib's native state, used synchronously on
 * the calling thread. Deno 2's asynchronous node:zlib calls are no way to a
 * second core: they too run on the calling thread (on Deno 2.9.6, a 32 MiB
 * `deflateRaw` lets no 5 ms timer fire while it runs, and two started
 * together take twice as long as one), so they overlapped nothing and cost a
 * stream object per call. CompressionStream would be simpler but has no
 * level and measured ~7x slower than zlib level 1 here (see
 * scripts/bench/archive.ts).
 */
import zlib from "node:zlib";

const FINISH = zlib.constants.Z_FINISH;

/**
 * A complete raw-deflate stream of `data`, from node:zlib's one-shot call: a
 * fresh state per call, for a few inputs (a `RawDeflater` for many).
 */
export function deflateAllSync(data: Uint8Array, level: number): Uint8Array {
  const out = zlib.deflateRawSync(data, { level });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The native zlib stream behind a node:zlib object: one compression state
 * used synchronously and reset between inputs. node:zlib's one-shot calls
 * (`deflateRawSync`, `inflateRawSync`) build a whole stream object and a fresh
 * native state (about 300 KiB for deflate) per call; over 20k small files that
 * cost 7x the CPU of the compression itself and left ~100 MiB of freed native
 * memory in the process. These are Node's documented-by-use internals
 * (`_handle.writeSync`, `_writeState`), which Deno implements natively.
 */
interface NativeZlib {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  reset(): void;
  close(): void;
  onerror: (message: string, errno: number) => void;
}

interface NativeStream {
  handle: NativeZlib;
  /** After `writeSync`: [output bytes left free, input bytes left unread]. */
  state: Uint32Array;
  error: string | null;
}

function nativeStream(stream: unknown): NativeStream | null {
  const s = stream as { _handle?: NativeZlib; _writeState?: Uint32Array };
  const handle = s._handle;
  if (
    !handle || typeof handle.writeSync !== "function" || !(s._writeState instanceof Uint32Array)
  ) {
    return null;
  }
  const native: NativeStream = { handle, state: s._writeState, error: null };
  handle.onerror = (message) => {
    native.error = message;
  };
  return native;
}

const NO_FLUSH = zlib.constants.Z_NO_FLUSH;

/**
 * Compresses inputs one after the other with one deflate state: whole small
 * ones with `deflate`, large ones streamed with `step`. Not for concurrent
 * use: each call runs to completion synchronously.
 */
export class RawDeflater {
  readonly #level: number;
  #native: NativeStream;
  #out = new Uint8Array(0);

  constructor(level: number) {
    this.#level = level;
    this.#native = deflateState(level);
  }

  /**
   * A complete raw-deflate stream of `data`. The result is a view of a buffer
   * the next call overwrites: copy it to keep it.
   */
  deflate(data: Uint8Array): Uint8Array {
    const native = this.#native;
    // Room for one call to finish: level 1 (zlib-rs's quick strategy, static
    // Huffman codes) grows random bytes by up to 1/8 (9-bit literals).
    const bound = data.length + (data.length >>> 3) + 64;
    if (this.#out.length < bound) this.#out = new Uint8Array(Math.max(bound, 64 << 10));
    const out = this.#out;
    native.handle.writeSync(FINISH, data, 0, data.length, out, 0, out.length);
    const [free, unread] = native.state as unknown as [number, number];
    const failed = native.error !== null || unread !== 0 || free === 0;
    native.handle.reset();
    if (failed) {
      // Not seen since the bound allows for level 1's growth; a fresh state
      // and the one-shot call are the safe way on.
      this.#native = deflateState(this.#level);
      return deflateAllSync(data, this.#level);
    }
    return out.subarray(0, out.length - free);
  }

  /**
   * Streams one raw-deflate stream through the same state: call `step` with
   * the input in order, `isLast` with the final piece, and again from `next`
   * while it fills `output` (use the bytes before the next call). Start the
   * next stream with `reset`. Throws if zlib reports an error (never seen).
   */
  step(
    input: Uint8Array,
    at: number,
    output: Uint8Array,
    isLast: boolean,
  ): { filled: number; next: number } {
    const native = this.#native;
    const step = nativeStep(native, input, at, output, isLast);
    if (native.error !== null) {
      const message = native.error;
      this.#native = deflateState(this.#level);
      throw new Error(`Cannot compress: zlib failed: ${message}`);
    }
    return step;
  }

  /** Starts a new stream (after `step`). */
  reset(): void {
    this.#native.handle.reset();
  }
}

function deflateState(level: number): NativeStream {
  const native = nativeStream(zlib.createDeflateRaw({ level }));
  if (native === null) throw new TypeError("node:zlib offers no native deflate state to reuse");
  return native;
}

/**
 * Inflates raw-deflate streams one after the other with one inflate state,
 * into buffers the caller owns: `begin` a stream, then `step` through its
 * compressed bytes in order. Not for concurrent use.
 */
export class RawInflater {
  #native: NativeStream | null = null;

  /** Starts a new stream. */
  begin(): void {
    if (this.#native === null) {
      this.#native = nativeStream(zlib.createInflateRaw());
      if (this.#native === null) {
        throw new TypeError("node:zlib offers no native inflate state to reuse");
      }
    }
    this.#native.handle.reset();
    this.#native.error = null;
  }

  /**
   * Inflates `input` from `at` into `output` from its start. Returns how many
   * bytes it wrote and where reading stopped. When `output` came back full,
   * call again (after using the bytes) from `next`: more may follow; when it
   * did not, all input was taken or the stream ended. With `isLast` (the
   * input holds the stream's end), a stream that does not end is corrupt.
   * Throws `InflateError` for corrupt data; `begin` recovers for the next
   * stream.
   */
  step(
    input: Uint8Array,
    at: number,
    output: Uint8Array,
    isLast: boolean,
  ): { filled: number; next: number } {
    const native = this.#native;
    if (native === null) throw new TypeError("RawInflater.step called before begin");
    const step = nativeStep(native, input, at, output, isLast);
    if (native.error !== null) {
      const message = native.error;
      // zlib's state after an error is not reliably reset: start afresh.
      native.handle.close();
      this.#native = null;
      throw new InflateError(message);
    }
    return step;
  }
}

/**
 * One synchronous zlib call: `input` from `at` into `output` from its start,
 * finishing the stream when `isLast`. How many bytes were written and where
 * reading stopped; `native.error` tells whether zlib failed.
 */
function nativeStep(
  native: NativeStream,
  input: Uint8Array,
  at: number,
  output: Uint8Array,
  isLast: boolean,
): { filled: number; next: number } {
  native.handle.writeSync(
    isLast ? FINISH : NO_FLUSH,
    input,
    at,
    input.length - at,
    output,
    0,
    output.length,
  );
  const [free, unread] = native.state as unknown as [number, number];
  return { filled: output.length - free, next: input.length - unread };
}

/** Corrupt deflate data, in zlib's words. */
export class InflateError extends Error {
  override readonly name = "InflateError";
}

/**
 * node:zlib's crc32 (Node 22.2+, in Deno). Programs that also load
 * @types/dockerode or @types/ssh2 see an older @types/node without it, hence
 * the typed view instead of a bare `zlib.crc32`.
 */
const zlibCrc32 = (zlib as unknown as { crc32(data: Uint8Array, value?: number): number }).crc32;

export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous) >>> 0;
}
