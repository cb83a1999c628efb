const UNIT_SECONDS: ReadonlyArray<[RegExp, number]> = [
  [/^(s|secs?|seconds?)$/, 1],
  [/^(m|mins?|minutes?)$/, 60],
  [/^(h|hrs?|hours?)$/, 3600],
  [/^(d|days?)$/, 86400],
  [/^(w|wks?|weeks?)$/, 7 * 86400],
  [/^(mo|mos|months?)$/, 30 * 86400],
  [/^(y|yrs?|years?)$/, 365 * 86400],
];

/**
 * Seconds in a GitLab human duration such as `1h 30m`, `3 hours`,
 * `90 minutes`, `1 day 2 hours`, `1h30m` or a bare number of seconds.
 * Returns null when the text is not a duration.
 */
export function parseCiDuration(text: string | number): number | null {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? Math.round(text) : null;
  const s = text.trim().toLowerCase().replace(/,|\band\b/g, " ");
  if (s === "") return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s));
  let total = 0;
  let rest = s;
  const part = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*/;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) return null;
    const unit = UNIT_SECONDS.find(([re]) => re.test(m[2]!));
    if (!unit) return null;
    total += Number(m[1]) * unit[1];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}
