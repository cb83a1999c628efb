/**
 * Formats seconds the way Go's time.Duration prints, which is what the
 * official runner's /debug/jobs/list shows: `0s`, `250ms`, `3.5s`, `1h2m3s`.
 * Millisecond precision.
 */
export function formatGoDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "0s";
  const sign = seconds < 0 ? "-" : "";
  let ms = Math.round(Math.abs(seconds) * 1000);
  if (ms === 0) return "0s";
  if (ms < 1000) return `${sign}${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  ms -= hours * 3_600_000;
  const minutes = Math.floor(ms / 60_000);
  ms -= minutes * 60_000;
  const secs = (ms / 1000).toFixed(3).replace(/\.?0+$/, "");
  let out = sign;
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${secs}s`;
}
