/**
 * The transfer meter the official cache helpers print while a remote cache
 * moves, when the job sets `TRANSFER_METER_FREQUENCY` (a Go duration; unset
 * or 0 = no meter, less than 1s = 1s):
 *
 * ```
 * \rDownloading cache 1.05 MB/4.19 MB (1.0 MB/s)                ← every tick
 * \rDownloading cache 4.19 MB/4.19 MB (2.1 MB/s)                \n  ← when done
 * ```
 *
 * Sizes in decimal units, two decimals (rates one), as the official meter
 * formats them; the `/total` part only when the size is known. The carriage
 * returns make GitLab show one line that updates.
 */

import { MAX_TIMER_MS } from "../time/clock.ts";
import { parseGoDuration } from "../time/go_duration.ts";

/** Where the meter writes (raw job log text) and how often. */
export interface TransferProgress {
  write(text: string): void;
  intervalMs: number;
}

/**
 * Milliseconds between meter lines for a `TRANSFER_METER_FREQUENCY` value (a
 * Go duration), or null for no meter: unset, empty or 0. As in the official
 * meter, which is off only at 0, a duration under a second (a negative one
 * too) is every second. Throws when the value is no Go duration; the caller
 * names the variable.
 */
export function transferMeterInterval(value: string | undefined): number | null {
  if (value === undefined || value === "") return null;
  const ms = parseGoDuration(value);
  return ms === 0 ? null : Math.max(1000, ms);
}

/** `b` bytes as the official meter writes them: `999 B`, `1.00 KB`, `4.19 MB`. */
export function formatBytes(bytes: number): string {
  const [size, prefix] = scale(bytes);
  return prefix === "" ? `${Math.trunc(size)} B` : `${size.toFixed(2)} ${prefix}B`;
}

/** Bytes per second over `ms` milliseconds: `512 B/s`, `1.0 MB/s`. */
export function formatByteRate(bytes: number, ms: number): string {
  const perSecond = Math.trunc(bytes / Math.max(1e-9, ms / 1000));
  const [rate, prefix] = scale(perSecond);
  return prefix === "" ? `${Math.trunc(rate)} B/s` : `${rate.toFixed(1)} ${prefix}B/s`;
}

function scale(bytes: number): [number, string] {
  // The official meter's prefixes, decimal, with a capital K.
  const prefixes = "KMGTPE";
  if (bytes < 1000) return [bytes, ""];
  let div = 1000;
  let exp = 0;
  for (let n = Math.trunc(bytes / 1000); n >= 1000; n = Math.trunc(n / 1000)) {
    div *= 1000;
    exp++;
  }
  return [bytes / div, prefixes[exp] ?? "E"];
}

/** One line of the meter (without the leading `\r`). */
export function meterLine(label: string, written: number, total: number, ms: number): string {
  const known = total > 0 ? `/${formatBytes(total)}` : "";
  return `${label} ${formatBytes(written)}${known} (${
    formatByteRate(written, ms)
  })                `;
}

/** Counts bytes and prints the meter every interval until `done()`. */
export class TransferMeter {
  readonly #label: string;
  readonly #total: number;
  readonly #progress: TransferProgress;
  readonly #now: () => number;
  readonly #started: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #written = 0;
  #isDone = false;

  /** `total` 0 = unknown. `now` in milliseconds, a parameter for tests. */
  constructor(
    label: string,
    total: number,
    options: { progress: TransferProgress; now?: () => number },
  ) {
    this.#label = label;
    this.#total = total;
    this.#progress = options.progress;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    this.#print(false);
    // At most one timer's longest delay: a longer one (TRANSFER_METER_FREQUENCY
    // of 597h or more) would fire every millisecond and flood the job log.
    this.#timer = setInterval(
      () => this.#print(false),
      Math.min(MAX_TIMER_MS, Math.max(1000, options.progress.intervalMs)),
    );
  }

  add(bytes: number): void {
    this.#written += bytes;
  }

  /** Prints the last line, ending it; safe to call twice. */
  done(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    clearInterval(this.#timer);
    this.#print(true);
  }

  /** A pass-through stream that counts what flows and ends the meter with the stream. */
  counter(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, controller) => {
        this.add(chunk.length);
        controller.enqueue(chunk);
      },
      flush: () => this.done(),
    });
  }

  #print(isLast: boolean): void {
    const line = meterLine(this.#label, this.#written, this.#total, this.#now() - this.#started);
    this.#progress.write(`\r${line}${isLast ? "\n" : ""}`);
  }
}
