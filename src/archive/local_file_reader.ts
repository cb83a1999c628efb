import type { RandomAccessReader } from "./random_access_reader.ts";

const WINDOW = 4 << 20;
/** Reads this large bypass the window, so they do not evict it. */
const DIRECT = 256 << 10;

/**
 * `RandomAccessReader` over a local file. Extraction reads mostly forwards in
 * small pieces, so reads are served from one 4 MiB read-ahead window, reused
 * for the whole file (`read` hands out copies; `readInto` copies into the
 * caller's buffer, allocating nothing). Large reads (pieces of big entries,
 * read while other lanes read small ones) go straight to the file, else each
 * would reload the window. Reads are serialised because they share one file
 * position.
 */
export class LocalFileReader implements RandomAccessReader {
  readonly #file: Deno.FsFile;
  #window = new Uint8Array(0);
  #windowStart = 0;
  #windowLength = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(file: Deno.FsFile, readonly size: number) {
    this.#file = file;
  }

  static async open(path: string): Promise<LocalFileReader> {
    const file = await Deno.open(path, { read: true });
    try {
      const info = await file.stat();
      return new LocalFileReader(file, info.size);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  readInto(offset: number, into: Uint8Array): Promise<void> {
    const run = this.#queue.then(() => this.#readInto(offset, into));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #readInto(offset: number, into: Uint8Array): Promise<void> {
    const length = into.length;
    if (offset < 0 || offset + length > this.size) {
      throw new RangeError(
        `Read of ${length} bytes at ${offset} is past the end of the file (${this.size} bytes)`,
      );
    }
    if (length >= DIRECT) {
      await this.#fill(offset, into);
      return;
    }
    if (offset < this.#windowStart || offset + length > this.#windowStart + this.#windowLength) {
      const want = Math.min(WINDOW, this.size - offset);
      if (this.#window.length < want) this.#window = new Uint8Array(want);
      this.#windowLength = 0;
      await this.#fill(offset, this.#window.subarray(0, want));
      this.#windowStart = offset;
      this.#windowLength = want;
    }
    const at = offset - this.#windowStart;
    into.set(this.#window.subarray(at, at + length));
  }

  async #fill(offset: number, buf: Uint8Array): Promise<void> {
    await this.#file.seek(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = await this.#file.read(buf.subarray(got));
      if (n === null) {
        throw new RangeError(
          `File ended at ${offset + got} while reading ${buf.length} bytes at ${offset}`,
        );
      }
      got += n;
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#file.close();
    }
    return Promise.resolve();
  }
}
