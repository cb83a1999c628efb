import type { ByteSink } from "./byte_sink.ts";
import { crc32, formatChecksum } from "./crc32.ts";
import { DEFAULT_OUTPUT_LIMIT_BYTES, OutputLimiter } from "./output_limiter.ts";
import { TraceMasker, type TraceMaskerOptions } from "./trace_masker.ts";
import type { TraceStore } from "./trace_store.ts";
import { Utf8Sanitizer } from "./utf8_sanitizer.ts";

export interface JobTraceOptions {
  /** What to mask, see `maskOptionsForJob`. */
  mask: TraceMaskerOptions;
  /** `output_limit` in KiB; 0 means the default 4096 KiB. */
  outputLimitKiB: number;
  /** Where the stored bytes go; closed by `JobTrace[Symbol.dispose]`. */
  store: TraceStore;
}

/**
 * One job's log, from the raw bytes an executor writes to what GitLab stores:
 * mask secrets → replace invalid UTF-8 → cut at `output_limit` → store, with
 * CRC-32 and size kept over exactly the stored bytes (spec §4.4).
 *
 * Call order: `write` any number of times, `close` once the job's output has
 * ended (it flushes bytes held back because they may begin a secret or a
 * character), then read `checksum()`/`size` for the final update. Writes after
 * `close` are dropped: a late straggler must not fail the job. `read` works
 * at any time and serves the uploader. Disposing releases the store (memory
 * and temporary file); `close` and dispose may both run twice.
 */
export class JobTrace implements ByteSink, Disposable {
  readonly #store: TraceStore;
  readonly #masker: TraceMasker;
  readonly #utf8: Utf8Sanitizer;
  readonly #limiter: OutputLimiter;
  #crc = 0;
  #isClosed = false;

  constructor(options: JobTraceOptions) {
    const kib = options.outputLimitKiB;
    if (!Number.isSafeInteger(kib) || kib < 0) {
      throw new RangeError(`Output limit must be a whole number of KiB, 0 or more: got ${kib}`);
    }
    this.#store = options.store;
    const stored: ByteSink = {
      write: (bytes) => {
        this.#crc = crc32(bytes, this.#crc);
        this.#store.append(bytes);
      },
    };
    this.#limiter = new OutputLimiter(stored, kib === 0 ? DEFAULT_OUTPUT_LIMIT_BYTES : kib * 1024);
    this.#utf8 = new Utf8Sanitizer(this.#limiter);
    this.#masker = new TraceMasker(this.#utf8, options.mask);
  }

  /** Takes raw job output (any bytes, any split). */
  write(chunk: Uint8Array): void {
    if (this.#isClosed) return;
    this.#masker.write(chunk);
  }

  /** Ends the output and flushes what was held back. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#masker.close();
    this.#utf8.close();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Stored bytes so far (the final update's `bytesize` once closed). */
  get size(): number {
    return this.#store.size;
  }

  /** Whether output was cut at the limit (the job still carries on). */
  get isOutputLimitExceeded(): boolean {
    return this.#limiter.isExceeded;
  }

  /** `crc32:%08x` over the stored bytes so far. */
  checksum(): string {
    return formatChecksum(this.#crc);
  }

  /** Up to `maxLength` stored bytes from `offset`, for upload. */
  read(offset: number, maxLength: number): Uint8Array {
    return this.#store.read(offset, maxLength);
  }

  [Symbol.dispose](): void {
    this.close();
    this.#store.close();
  }
}
