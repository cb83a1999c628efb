/**
 * GitLab's job coverage (`Gitlab::Ci::Trace::Stream#extract_coverage`): the
 * `coverage:` regex is tried on the log from the last line backwards; in the
 * last line that matches, the last match (its last group, if it has groups)
 * is taken, and the first number in it is the coverage. Null when no line
 * gives a number.
 */
/** An ANSI colour or cursor sequence (ESC [ … letter). */
const ANSI_ESCAPE = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*[A-Za-z]", "g");

export function extractCoverage(log: string, regex: string): string | null {
  if (regex === "") return null;
  const re = coverageRegExp(regex);
  if (re === null) return null;
  // ANSI colour codes are not part of what the user sees (or writes a regex for).
  const lines = log.replace(ANSI_ESCAPE, "").split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const matches = [...lines[i]!.matchAll(re)];
    const last = matches.at(-1);
    if (!last) continue;
    const groups = last.slice(1).filter((g) => g !== undefined);
    const text = groups.length > 0 ? groups.at(-1)! : last[0];
    const number = /\d+(\.\d+)?/.exec(text);
    if (number) return number[0];
  }
  return null;
}

/** `/Total: (\d+)%/` as YAML holds it; null if JavaScript cannot compile it. */
function coverageRegExp(regex: string): RegExp | null {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(regex);
  try {
    return new RegExp(m ? m[1]! : regex, `g${(m?.[2] ?? "").replace(/[^ims]/g, "")}`);
  } catch {
    return null;
  }
}
