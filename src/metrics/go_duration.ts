/**
 * Seconds printed the way Go's time.Duration does, as the official runner's
 * /debug/jobs/list shows them: `0s`, `250ms`, `3.5s`, `1h2m3s`.
 */
import { formatGoDuration as formatMs } from "../time/go_duration.ts";

export function formatGoDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "0s";
  return formatMs(Math.round(seconds * 1000));
}
