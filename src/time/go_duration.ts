/**
 * Go's duration syntax (`10m`, `1h30m`, `500ms`): config.toml durations, job
 * variables such as RUNNER_SCRIPT_TIMEOUT, and what the official runner prints
 * (`1h0m0s`, in job logs, /debug/jobs/list and saved config files).
 * Millisecond precision is enough for the runner.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's longest duration (2^63-1 ns, 2562047h47m16.854775807s): Go refuses a
 * longer one, and a longer one here would not survive formatGoDuration
 * (1e23 hours is written "1e+23h0m0s", which no parser reads back).
 */
const MAX_MS = 9_223_372_036_854.775;

/** Milliseconds, or a `RangeError` naming the text when it is not a Go duration. */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  const fail = () =>
    new RangeError(`Invalid duration "${text}": expected a Go duration such as "10m" or "1h30m"`);
  if (s === "0" || s === "+0" || s === "-0") return 0;
  const m = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (!m) throw fail();
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  if (!(total <= MAX_MS)) {
    throw new RangeError(
      `Invalid duration "${text}": longer than Go's longest, 2562047h47m16.854775807s`,
    );
  }
  return m[1] === "-" ? -total : total;
}

/** Formats milliseconds as Go's `time.Duration.String()` does (`1h0m0s`, `1.5s`, `500ms`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${trimNumber(rest)}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = `${trimNumber(rest / 1000)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimNumber(n: number): string {
  return String(Number(n.toFixed(9)));
}
