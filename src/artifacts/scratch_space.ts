import type { RandomAccessReader } from "../archive/random_access_reader.ts";

/**
 * Temporary files on the side that extracts (a downloaded artifact archive
 * waits there until it is complete, since ZIP is read from its end).
 */
export interface ScratchSpace {
  create(): Promise<ScratchFile>;
}

/** Call order: `write` once, then `open` any number of times, then `remove` (may run twice). */
export interface ScratchFile {
  /** Streams `body` into the file; rejects when the stream errors. */
  write(body: ReadableStream<Uint8Array>): Promise<number>;
  open(): Promise<RandomAccessReader>;
  remove(): Promise<void>;
}
