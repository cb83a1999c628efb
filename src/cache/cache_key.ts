/**
 * Cache keys (§10.1): the default key, and sanitising exactly as the official
 * runner does: decode %2F/%2f and %2E/%2e, turn `\` into `/`, resolve `.` and
 * `..` against a virtual root (a key can never climb out), drop trailing
 * whitespace from the last segments (and segments it empties). Unlike a
 * single pass, trimming repeats until stable, so "foo/.. " cannot come back
 * as a literal ".." segment.
 */
import { posix } from "node:path";

/** The key cannot be used; `message` is the job-log wording. */
export class CacheKeyError extends Error {
  override readonly name = "CacheKeyError";
}

export interface SanitizedKey {
  key: string;
  /** Set when sanitising changed the key: `cache key "a\b" sanitized to "a/b"`. */
  warning: string | null;
}

/** Throws `CacheKeyError` when nothing usable is left (`cache key "…" could not be sanitized`). */
export function sanitizeCacheKey(raw: string): SanitizedKey {
  if (raw === "") throw new CacheKeyError("empty cache key");
  let key = raw.replace(/%2[fF]/g, "/").replace(/%2[eE]/g, ".").replaceAll("\\", "/");
  for (;;) {
    const cleaned = posix.normalize(`/${key}`).slice(1);
    const parts = cleaned.split("/");
    while (parts.length > 0) {
      const last = (parts[parts.length - 1] as string).replace(/[\s\u0085]+$/u, "");
      parts[parts.length - 1] = last;
      if (last !== "") break;
      parts.pop();
    }
    const next = parts.join("/");
    if (next === key) break;
    key = next;
  }
  if (key === "" || key === "." || key === "..") {
    throw new CacheKeyError(`cache key ${JSON.stringify(raw)} could not be sanitized`);
  }
  return {
    key,
    warning: key === raw
      ? null
      : `cache key ${JSON.stringify(raw)} sanitized to ${JSON.stringify(key)}`,
  };
}

/** `<job name>/<git ref>`, used when `cache:key` is empty; never starts with `/` or `..`. */
export function defaultCacheKey(jobName: string, gitRef: string): string {
  return posix.join("/", jobName, gitRef).slice(1);
}

/**
 * `CACHE_FALLBACK_KEY` may not name a protected cache: the `-protected`
 * suffix is reserved for protected refs (trailing dots and spaces ignored, so
 * "key-protected. " is caught too).
 */
export function isProtectedKey(key: string): boolean {
  return key.replace(/[.\s]+$/u, "").endsWith("-protected");
}

export interface CacheKeyContext {
  jobName: string;
  gitRef: string;
  /** Expands `$VAR` references with the job's variables. */
  expand: (value: string) => string;
}

/**
 * The key an entry uses: its `key` expanded (or the default key), then
 * sanitised. Changes and failures go to the job log as warnings; null means
 * the entry is skipped.
 */
export function resolveCacheKey(
  rawKey: string,
  ctx: CacheKeyContext,
  warn: (message: string) => void,
): string | null {
  const expanded = rawKey === "" ? defaultCacheKey(ctx.jobName, ctx.gitRef) : ctx.expand(rawKey);
  try {
    const { key, warning } = sanitizeCacheKey(expanded);
    if (warning) warn(warning);
    return key;
  } catch (err) {
    if (err instanceof CacheKeyError) {
      warn(err.message);
      return null;
    }
    throw err;
  }
}
