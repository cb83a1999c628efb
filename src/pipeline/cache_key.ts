import { createHash } from "node:crypto";
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
  const hash = createHash("sha1");
  let found = 0;
  for (const path of cache.key.files) {
    const text = await files.readText(path.replace(/^\.?\//, ""));
    if (text === null) continue;
    found++;
    hash.update(path).update("\0").update(text).update("\0");
  }
  const digest = found > 0 ? hash.digest("hex") : "default";
  return cache.key.prefix ? `${cache.key.prefix}-${digest}` : digest;
}
