/** Job cache: keys, policies, restore and save, and where archives are stored. */
export {
  type CacheKeyContext,
  CacheKeyError,
  defaultCacheKey,
  isProtectedKey,
  resolveCacheKey,
  sanitizeCacheKey,
  type SanitizedKey,
} from "./cache_key.ts";
export { type CachePolicy, parseCachePolicy } from "./cache_policy.ts";
export type { CacheStore } from "./cache_store.ts";
export { LocalCacheStore } from "./local_cache_store.ts";
export { restoreCache, type RestoreCacheOptions } from "./restore_cache.ts";
export { cachesForStage, saveCache, type SaveCacheOptions } from "./save_cache.ts";
