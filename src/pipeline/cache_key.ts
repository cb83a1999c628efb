import type { CacheConfig } from "./pipeline.ts";
import type { ProjectFiles } from "./project_files.ts";

/**
 * The cache key a job uses. A text key is returned as written (the runner
 * expands `$VAR` in it). For `key: files:` GitLab hashes the last commits
 * that changed the files; exec hashes their current contents instead, so
 * that uncommitted edits to a lock file also give a new key. When none of
 * the files exists the key is `default`, as in GitLab.
 */
export async function computeCacheKey(cache: CacheConfig, files: ProjectFiles): Promise<string> {
  if (cache.key.kind === "text") return cache.key.value;
  // Web crypto: node:crypto takes tens of ms to load on exec's start-up path.
  // The files' bytes, whatever they hold (a key file need not be text).
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const path of cache.key.files) {
    const contents = await files.readBytes(path.replace(/^\.?\//, ""));
    if (contents === null) continue;
    parts.push(encoder.encode(`${path}\0`), contents, encoder.encode("\0"));
  }
  if (parts.length === 0) {
    return cache.key.prefix ? `${cache.key.prefix}-default` : "default";
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  const digest = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-1", bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return cache.key.prefix ? `${cache.key.prefix}-${digest}` : digest;
}
