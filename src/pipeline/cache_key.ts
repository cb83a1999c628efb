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
  const parts: string[] = [];
  for (const path of cache.key.files) {
    const text = await files.readText(path.replace(/^\.?\//, ""));
    if (text === null) continue;
    parts.push(path, "\0", text, "\0");
  }
  if (parts.length === 0) {
    return cache.key.prefix ? `${cache.key.prefix}-default` : "default";
  }
  const bytes = new TextEncoder().encode(parts.join(""));
  const digest = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-1", bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return cache.key.prefix ? `${cache.key.prefix}-${digest}` : digest;
}
