/**
 * Go duration strings as config.toml uses them ("90s", "1h30m", "15m", "500ms").
 * Go's syntax: an optional sign, then one or more decimal numbers each followed by
 * a unit (ns, us, µs, ms, s, m, h); "0" alone is allowed.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  "ns": 1e-9,
  "us": 1e-6,
  "µs": 1e-6,
  "μs": 1e-6,
  "ms": 1e-3,
  "s": 1,
  "m": 60,
  "h": 3600,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Seconds in `text`, or a RangeError saying why it is not a Go duration. */
export function parseGoDuration(text: string): number {
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest.startsWith("-")) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new RangeError(`Invalid duration "${text}": empty`);
  let total = 0;
  while (rest !== "") {
    const m = PART.exec(rest);
    if (m === null) {
      throw new RangeError(
        `Invalid duration "${text}": expected a number and a unit (h, m, s, ms, us, ns) at "${rest}"`,
      );
    }
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ""] ?? 0);
    rest = rest.slice(m[0].length);
  }
  // Round away float noise below a nanosecond ("0.1s" + "0.2s").
  return sign * Math.round(total * 1e9) / 1e9;
}

/** A compact Go duration for `seconds`: 5400 -> "1h30m", 0.5 -> "500ms". */
export function formatGoDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) throw new RangeError(`Cannot format duration ${seconds}`);
  if (seconds === 0) return "0s";
  const sign = seconds < 0 ? "-" : "";
  let ns = Math.round(Math.abs(seconds) * 1e9);
  const parts: string[] = [];
  const units: Array<[string, number]> = [
    ["h", 3600e9],
    ["m", 60e9],
    ["s", 1e9],
    ["ms", 1e6],
    ["us", 1e3],
    ["ns", 1],
  ];
  for (const [unit, size] of units) {
    const count = Math.floor(ns / size);
    if (count > 0) {
      parts.push(`${count}${unit}`);
      ns -= count * size;
    }
  }
  return sign + parts.join("");
}
