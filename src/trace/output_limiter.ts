import type { ByteSink } from "./byte_sink.ts";

/** The official runner's default `output_limit`: 4096 KiB. */
export const DEFAULT_OUTPUT_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * The notice appended when the log reaches its limit, byte for byte the
 * official one (yellow bold, then reset).
 */
export function outputLimitNotice(limitBytes: number): string {
  return `\n\x1b[33;1mJob's log exceeded limit of ${limitBytes} bytes.\n` +
    `Job execution will continue but no more output will be collected.\x1b[0;m\n`;
}

/**
 * Caps the stored log at `limitBytes` (spec §4.4, `output_limit`). The write
 * that reaches the limit is cut without splitting a UTF-8 character (its
 * input is already valid UTF-8), the notice follows, and everything after is
 * dropped without error: the job carries on and is not failed. As upstream,
 * the notice is added as soon as the limit is reached, even exactly.
 */
export class OutputLimiter {
  readonly #next: ByteSink;
  readonly #limitBytes: number;
  #written = 0;
  #isExceeded = false;

  constructor(next: ByteSink, limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) {
      throw new RangeError(`Output limit must be a positive number of bytes: got ${limitBytes}`);
    }
    this.#next = next;
    this.#limitBytes = limitBytes;
  }

  /** Whether the limit was reached and later output is being dropped. */
  get isExceeded(): boolean {
    return this.#isExceeded;
  }

  write(chunk: Uint8Array): void {
    if (this.#isExceeded || chunk.length === 0) return;
    const capacity = this.#limitBytes - this.#written;
    if (chunk.length < capacity) {
      this.#written += chunk.length;
      this.#next.write(chunk);
      return;
    }
    let cut = capacity;
    // Back up to the first byte of the character the cut falls in.
    while (cut > 0 && cut < chunk.length && (chunk[cut]! & 0xc0) === 0x80) cut--;
    if (cut > 0) this.#next.write(chunk.subarray(0, cut));
    this.#written += cut;
    this.#isExceeded = true;
    this.#next.write(new TextEncoder().encode(outputLimitNotice(this.#limitBytes)));
  }
}
