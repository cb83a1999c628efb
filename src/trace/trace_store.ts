/**
 * The stored trace: exactly the bytes GitLab should end up with, readable by
 * offset for as long as the job runs, because an upload may have to resend
 * from any offset (416 jumps, 412 resends everything from 0).
 *
 * The first `memoryLimitBytes` live in memory; past that the whole trace moves
 * to a temporary file (from `openSpillFile`) and memory stays at one write
 * buffer, so a 1 GiB log costs about `WRITE_BUFFER_BYTES` of RSS, not 1 GiB.
 * When the file cannot be made or written (its directory removed by a /tmp
 * cleaner, a full disk), the trace stays in (or moves back to) memory and
 * `spillError` says why: the job's log is kept, only its memory grows.
 */
export interface TraceStoreOptions {
  /**
   * Bytes kept in memory before spilling to a file. Default 1 MiB: memory
   * never written before costs a page fault per 4 KiB on first use (on a
   * busy VM some 5 ms per MiB, against under 0.5 ms to write a MiB to the
   * page cache), so a trace past that is cheaper in the file.
   */
  memoryLimitBytes?: number;
  /**
   * Opens the temporary file to spill to (temp_spill_file.ts); called at most
   * once. Without it the trace stays in memory whatever its size.
   */
  openSpillFile?: () => SpillFile;
}

/**
 * Append-only temporary file behind a `TraceStore`. Errors are thrown with
 * the path and cause in the message.
 */
export interface SpillFile {
  /** Appends all of `bytes` at the end of the file. */
  append(bytes: Uint8Array): void;
  /** Fills `into` with the bytes at `offset`; they were appended before. */
  readAt(offset: number, into: Uint8Array): void;
  /** Closes and deletes the file; safe to call twice. */
  close(): void;
}

export const DEFAULT_MEMORY_LIMIT_BYTES = 1024 * 1024;
/** Size of in-memory blocks: a small trace takes little more than it holds. */
const BLOCK_BYTES = 64 * 1024;
/**
 * The buffer in front of the spill file: as large as the default memory
 * part it replaces, so by default a trace's memory never passes 1 MiB (plus
 * a block). Appends are gathered
 * into writes of this size: a job's output arrives in reads of up to 64 KiB
 * (some 96 KiB once stamped), and writing each at once cost a quarter more
 * CPU than copying it here first (96 MB: 37-38 against 27-33 ms, least of 10
 * runs each, 3 alternated pairs): the system call and the page cache's work
 * per call cost more than the copy of bytes still in the CPU's cache.
 */
export const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Appends from this size on are written to the file without the buffer. */
const DIRECT_WRITE_BYTES = WRITE_BUFFER_BYTES;

export class TraceStore {
  readonly #memoryLimitBytes: number;
  readonly #openSpillFile: (() => SpillFile) | undefined;
  #size = 0;
  /** In-memory trace: fixed-size blocks, the last one partly filled. */
  #blocks: Uint8Array[] = [];
  #file: SpillFile | undefined;
  /** Bytes already in the file; the rest sit in `#buffer`. */
  #fileSize = 0;
  #buffer: Uint8Array | undefined;
  #bufferUsed = 0;
  #spillError: Error | null = null;
  #isClosed = false;

  constructor(options: TraceStoreOptions = {}) {
    const limit = options.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES;
    if (!(limit >= 0)) {
      throw new RangeError(`Trace memory limit must be 0 or more bytes: got ${limit}`);
    }
    this.#memoryLimitBytes = limit;
    this.#openSpillFile = options.openSpillFile;
  }

  /** Bytes stored so far. */
  get size(): number {
    return this.#size;
  }

  /** Whether the trace has moved to the temporary file. */
  get isSpilled(): boolean {
    return this.#file !== undefined;
  }

  /** Why the trace is kept in memory past its limit (its file failed), or null. */
  get spillError(): Error | null {
    return this.#spillError;
  }

  append(bytes: Uint8Array): void {
    if (this.#isClosed) throw new TypeError("Cannot append to a closed trace store");
    if (bytes.length === 0) return;
    if (
      this.#file === undefined && this.#openSpillFile !== undefined &&
      this.#spillError === null && this.#size + bytes.length > this.#memoryLimitBytes
    ) {
      this.#spill(this.#openSpillFile);
    }
    if (this.#file !== undefined) {
      try {
        this.#appendToFile(this.#file, bytes);
        this.#size += bytes.length;
        return;
      } catch (error) {
        this.#backToMemory(this.#file, error);
      }
    }
    this.#appendToMemory(bytes);
    this.#size += bytes.length;
  }

  /**
   * Up to `maxLength` stored bytes from `offset` (fewer at the end, none at
   * or past it). The result may share memory with the store; it is never
   * changed afterwards.
   */
  read(offset: number, maxLength: number): Uint8Array {
    if (this.#isClosed) throw new TypeError("Cannot read from a closed trace store");
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`Trace offset must be a non-negative integer: got ${offset}`);
    }
    const length = Math.max(0, Math.min(maxLength, this.#size - offset));
    if (length === 0) return new Uint8Array(0);
    if (this.#file !== undefined && offset + length > this.#fileSize) {
      try {
        this.#flushBuffer(this.#file);
      } catch (error) {
        this.#backToMemory(this.#file, error);
      }
    }
    if (this.#file === undefined) return this.#readFromMemory(offset, length);
    const out = new Uint8Array(length);
    this.#file.readAt(offset, out);
    return out;
  }

  /** Frees memory and deletes the temporary file; safe to call twice. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#blocks = [];
    this.#buffer = undefined;
    this.#file?.close();
  }

  #appendToMemory(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const used = this.#size + at;
      const inBlock = used % BLOCK_BYTES;
      if (inBlock === 0) this.#blocks.push(new Uint8Array(BLOCK_BYTES));
      const block = this.#blocks[this.#blocks.length - 1]!;
      const n = Math.min(BLOCK_BYTES - inBlock, bytes.length - at);
      block.set(bytes.subarray(at, at + n), inBlock);
      at += n;
    }
  }

  #readFromMemory(offset: number, length: number): Uint8Array {
    const first = Math.floor(offset / BLOCK_BYTES);
    const inBlock = offset % BLOCK_BYTES;
    if (inBlock + length <= BLOCK_BYTES) {
      return this.#blocks[first]!.subarray(inBlock, inBlock + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const block = this.#blocks[Math.floor(pos / BLOCK_BYTES)]!;
      const start = pos % BLOCK_BYTES;
      const n = Math.min(BLOCK_BYTES - start, length - done);
      out.set(block.subarray(start, start + n), done);
      done += n;
    }
    return out;
  }

  #spill(open: () => SpillFile): void {
    let file: SpillFile | undefined;
    try {
      file = open();
      let left = this.#size;
      for (const block of this.#blocks) {
        const n = Math.min(left, BLOCK_BYTES);
        file.append(block.subarray(0, n));
        left -= n;
      }
    } catch (error) {
      // The trace stays in memory, where it still is whole.
      this.#spillError = error instanceof Error ? error : new Error(String(error));
      file?.close();
      return;
    }
    this.#blocks = [];
    this.#file = file;
    this.#fileSize = this.#size;
    this.#buffer = new Uint8Array(WRITE_BUFFER_BYTES);
    this.#bufferUsed = 0;
  }

  #appendToFile(file: SpillFile, bytes: Uint8Array): void {
    const buffer = this.#buffer!;
    if (this.#bufferUsed + bytes.length > buffer.length) this.#flushBuffer(file);
    // Only an append as large as the buffer goes straight on.
    if (bytes.length >= DIRECT_WRITE_BYTES) {
      this.#flushBuffer(file);
      file.append(bytes);
      this.#fileSize += bytes.length;
      return;
    }
    buffer.set(bytes, this.#bufferUsed);
    this.#bufferUsed += bytes.length;
  }

  /**
   * The file failed: reads back what it holds (its first `#fileSize` bytes,
   * written whole), adds the buffer, and goes on in memory without it.
   */
  #backToMemory(file: SpillFile, error: unknown): void {
    const buffered = this.#buffer!.subarray(0, this.#bufferUsed);
    const fileSize = this.#fileSize;
    const size = this.#size;
    this.#size = 0;
    try {
      for (let at = 0; at < fileSize; at += BLOCK_BYTES) {
        const chunk = new Uint8Array(Math.min(BLOCK_BYTES, fileSize - at));
        file.readAt(at, chunk);
        this.#appendToMemory(chunk);
        this.#size += chunk.length;
      }
    } catch (readError) {
      // Unreadable too: nothing to fall back on.
      this.#blocks = [];
      this.#size = size;
      throw readError;
    }
    this.#appendToMemory(buffered);
    this.#size += buffered.length;
    this.#spillError = error instanceof Error ? error : new Error(String(error));
    this.#file = undefined;
    this.#buffer = undefined;
    this.#bufferUsed = 0;
    this.#fileSize = 0;
    file.close();
  }

  #flushBuffer(file: SpillFile): void {
    if (this.#bufferUsed === 0) return;
    file.append(this.#buffer!.subarray(0, this.#bufferUsed));
    this.#fileSize += this.#bufferUsed;
    this.#bufferUsed = 0;
  }
}
