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
  const below = picomatch(asPicomatch(pattern), OPTIONS);
  // doublestar's "dir/**" also matches dir itself; picomatch's only what is below it.
  if (!pattern.endsWith("/**") || pattern.length === 3) return below;
  const itself = picomatch(asPicomatch(pattern.slice(0, -3)), OPTIONS);
  return (path) => below(path) || itself(path);
}

/**
 * A doublestar pattern in picomatch's dialect. Outside `[...]`, `(`, `)`,
 * `|`, `+` and `@` are escaped: picomatch reads them as a regex group or
 * alternation even without extglobs, so "dist (1)/*.js" matched
 * "dist 1/a.js" and not "dist (1)/a.js". A class negated with `!` becomes
 * `[^...]`: picomatch read `[!a]` as "! or a".
 */
function asPicomatch(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      out += c + (pattern[i + 1] ?? "");
      i++;
    } else if (inClass) {
      out += c;
      if (c === "]") inClass = false;
    } else if (c === "[") {
      out += c;
      inClass = true;
      if (pattern[i + 1] === "!" || pattern[i + 1] === "^") {
        out += "^";
        i++;
      }
      // A "]" first in the class is one of its characters.
      if (pattern[i + 1] === "]") out += pattern[++i];
    } else out += "()|+@".includes(c) ? `\\${c}` : c;
  }
  return out;
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
