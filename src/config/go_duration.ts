/**
 * Durations in config.toml ("90s", "1h30m", "15m", "500ms"), in seconds as the
 * config types keep them; the syntax itself lives in time/go_duration.ts.
 */
import { formatGoDuration as formatMs, parseGoDuration as parseMs } from "../time/go_duration.ts";

/** Seconds in `text`, or a RangeError saying why it is not a Go duration. */
export function parseGoDuration(text: string): number {
  return parseMs(text) / 1000;
}

/** The Go spelling of `seconds`, as the official runner writes it: 5400 -> "1h30m0s". */
export function formatGoDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) throw new RangeError(`Cannot format duration ${seconds}`);
  return formatMs(seconds * 1000);
}
