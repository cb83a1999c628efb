/**
 * Artifact and cache path patterns, read the way GitLab's runner reads them
 * (Go's doublestar): `*` stays within one path segment and matches dot files,
 * `**` spans any number of segments (zero included), `?`, `[...]` and
 * `{a,b}` work; `!` and extglobs have no special meaning.
 */
import picomatch from "picomatch";

const OPTIONS = { dot: true, noextglob: true, nonegate: true, strictSlashes: true } as const;

export type PathMatcher = (path: string) => boolean;

export function compilePattern(pattern: string): PathMatcher {
  return picomatch(pattern, OPTIONS);
}

/**
 * Splits a pattern into the leading part without wildcards (a literal path,
 * possibly empty) and the rest, like doublestar.SplitPattern.
 */
export function splitPattern(pattern: string): { base: string; glob: string } {
  const parts = pattern.split("/");
  const firstMeta = parts.findIndex((p) => /[*?[{\\]/.test(p));
  if (firstMeta < 0) return { base: pattern, glob: "" };
  return { base: parts.slice(0, firstMeta).join("/"), glob: parts.slice(firstMeta).join("/") };
}

/** Whether the pattern can only match at a bounded depth below its base (no `**`). */
export function maxDepth(glob: string): number {
  if (glob === "") return 0;
  if (glob.split("/").some((p) => p.includes("**"))) return Number.POSITIVE_INFINITY;
  return glob.split("/").length;
}
