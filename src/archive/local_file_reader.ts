import type { RandomAccessReader } from "./random_access_reader.ts";

const WINDOW = 512 << 10;
/** Reads this large bypass the window, so they do not evict it. */
const DIRECT = 64 << 10;

/**
 * `RandomAccessReader` over a local file. Extraction reads mostly forwards in
 * small pieces, so reads are served from one 512 KiB read-ahead window, reused
 * for the whole file (`read` hands out copies; `readInto` copies into the
 * caller's buffer, allocating nothing). Large reads (pieces of big entries,
 * read while other lanes read small ones) go straight to the file, else each
 * would reload the window. Reads use Deno's synchronous calls, each one
 * syscall-sized step: no thread-pool round trip per read, and none of the
 * native memory the pool's threads kept (2-3 MiB over a 20k-entry archive);
 * a read runs to its end before another starts, so the shared file position
 * needs no queue.
 */
export class LocalFileReader implements RandomAccessReader {
  readonly #file: Deno.FsFile;
  #window = new Uint8Array(0);
  #windowStart = 0;
  #windowLength = 0;
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
    try {
      this.#readInto(offset, into);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #readInto(offset: number, into: Uint8Array): void {
    const length = into.length;
    if (offset < 0 || offset + length > this.size) {
      throw new RangeError(
        `Read of ${length} bytes at ${offset} is past the end of the file (${this.size} bytes)`,
      );
    }
    if (length >= DIRECT) {
      this.#fill(offset, into);
      return;
    }
    if (offset < this.#windowStart || offset + length > this.#windowStart + this.#windowLength) {
      const want = Math.min(WINDOW, this.size - offset);
      if (this.#window.length < want) this.#window = new Uint8Array(want);
      this.#windowLength = 0;
      this.#fill(offset, this.#window.subarray(0, want));
      this.#windowStart = offset;
      this.#windowLength = want;
    }
    const at = offset - this.#windowStart;
    into.set(this.#window.subarray(at, at + length));
  }

  #fill(offset: number, buf: Uint8Array): void {
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = this.#file.readSync(buf.subarray(got));
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
