/**
 * Reads byte ranges of an archive that is complete and at rest (a downloaded
 * temp file, a cache archive). ZIP needs this: its index sits at the end.
 * Call order: any number of `read`s, then `close` once (may run twice).
 */
export interface RandomAccessReader {
  readonly size: number;
  /** Exactly `length` bytes from `offset`; rejects when the range is past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: fills all of `into` with the bytes from `offset`, rejecting like
   * `read`. Lets a caller that reads a lot reuse its own buffer instead of
   * getting a new array per read (garbage that kept extraction at 100+ MiB).
   */
  readInto?(offset: number, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A reader over bytes in memory (tests, small archives). */
export class BytesReader implements RandomAccessReader {
  constructor(readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      return Promise.reject(
        new RangeError(
          `Read of ${length} bytes at ${offset} is past the end (${this.bytes.length})`,
        ),
      );
    }
    return Promise.resolve(this.bytes.subarray(offset, offset + length));
  }
  readInto(offset: number, into: Uint8Array): Promise<void> {
    return this.read(offset, into.length).then((bytes) => into.set(bytes));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
