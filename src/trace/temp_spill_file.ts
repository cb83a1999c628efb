import type { SpillFile } from "./trace_store.ts";

/**
 * Opens a `SpillFile` in `tempDir` (needs --allow-read and --allow-write
 * there). On Unix the file is unlinked at once, so it vanishes with the
 * process even after a crash; elsewhere `close` deletes it.
 */
export function openTempSpillFile(tempDir: string): SpillFile {
  let path: string;
  let file: Deno.FsFile;
  try {
    path = Deno.makeTempFileSync({ dir: tempDir, prefix: "trace-", suffix: ".log" });
    file = Deno.openSync(path, { read: true, write: true });
  } catch (cause) {
    throw new Error(`Cannot create job trace file in "${tempDir}": ${String(cause)}`, { cause });
  }
  let isUnlinked = false;
  if (Deno.build.os !== "windows") {
    try {
      Deno.removeSync(path);
      isUnlinked = true;
    } catch {
      // Deleted in close() instead.
    }
  }
  return new TempSpillFile(file, path, isUnlinked);
}

class TempSpillFile implements SpillFile {
  readonly #file: Deno.FsFile;
  readonly #path: string;
  #isUnlinked: boolean;
  #size = 0;
  /** The file's offset: appends seek only after a read moved it (a seek per append is a system call). */
  #position = 0;
  #isClosed = false;

  constructor(file: Deno.FsFile, path: string, isUnlinked: boolean) {
    this.#file = file;
    this.#path = path;
    this.#isUnlinked = isUnlinked;
  }

  append(bytes: Uint8Array): void {
    try {
      if (this.#position !== this.#size) this.#file.seekSync(this.#size, Deno.SeekMode.Start);
      // Unknown if a write fails: the next append seeks again.
      this.#position = -1;
      let done = 0;
      while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
      this.#size += bytes.length;
      this.#position = this.#size;
    } catch (cause) {
      throw new Error(`Cannot write job trace file "${this.#path}": ${String(cause)}`, { cause });
    }
  }

  readAt(offset: number, into: Uint8Array): void {
    try {
      this.#position = -1;
      this.#file.seekSync(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < into.length) {
        const n = this.#file.readSync(into.subarray(done));
        if (n === null || n === 0) {
          throw new RangeError(`file ends at ${offset + done}, wanted ${offset + into.length}`);
        }
        done += n;
      }
      this.#position = offset + done;
    } catch (cause) {
      throw new Error(`Cannot read job trace file "${this.#path}": ${String(cause)}`, { cause });
    }
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#file.close();
    } catch {
      // Already closed by the runtime; nothing left to release.
    }
    if (!this.#isUnlinked) {
      this.#isUnlinked = true;
      try {
        Deno.removeSync(this.#path);
      } catch {
        // Gone already; a leftover temp file is not worth failing the job.
      }
    }
  }
}
