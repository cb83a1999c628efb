import type { RandomAccessReader } from "./random_access_reader.ts";

const WINDOW = 4 << 20;

/**
 * `RandomAccessReader` over a local file. Extraction reads mostly forwards in
 * small pieces, so reads are served from a 4 MiB read-ahead window; reads are
 * serialised because they share one file position.
 */
export class LocalFileReader implements RandomAccessReader {
  readonly #file: Deno.FsFile;
  #window = new Uint8Array(0);
  #windowStart = 0;
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

  read(offset: number, length: number): Promise<Uint8Array> {
    const run = this.#queue.then(() => this.#read(offset, length));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(
        `Read of ${length} bytes at ${offset} is past the end of the file (${this.size} bytes)`,
      );
    }
    const w = this.#window;
    if (offset >= this.#windowStart && offset + length <= this.#windowStart + w.length) {
      return w.subarray(offset - this.#windowStart, offset - this.#windowStart + length);
    }
    const want = length >= WINDOW ? length : Math.min(WINDOW, this.size - offset);
    const buf = new Uint8Array(want);
    await this.#file.seek(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < want) {
      const n = await this.#file.read(buf.subarray(got));
      if (n === null) {
        throw new RangeError(
          `File ended at ${offset + got} while reading ${want} bytes at ${offset}`,
        );
      }
      got += n;
    }
    if (length < WINDOW) {
      this.#window = buf;
      this.#windowStart = offset;
    }
    return buf.subarray(0, length);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#file.close();
    }
    return Promise.resolve();
  }
}
