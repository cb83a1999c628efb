/**
 * The archive_cache stage of a job with `cache: {key, paths: [<dir's name>]}`
 * in the project that holds `dir`, as the archive and cache_s3 benches time
 * it: the job's own file selection, then the archive into `store`.
 */
import { LocalArchiveSource } from "../../src/archive/mod.ts";
import type { CompressionLevel } from "../../src/archive/mod.ts";
import type { CacheStore } from "../../src/cache/cache_store.ts";
import { saveCache } from "../../src/cache/save_cache.ts";

/**
 * Saves `dir` as a job's cache `key` into `store`; throws unless the cache
 * was created. `onSelected` runs as the file selection ends (the stage then
 * asks the store for its archive's date).
 */
export async function saveCacheAsJob(
  dir: string,
  { key, store, level, concurrency, onSelected }: {
    key: string;
    store: CacheStore;
    level: CompressionLevel;
    /** Compression threads, as FF_USE_FASTZIP gives them; default 1. */
    concurrency?: number;
    onSelected: () => void;
  },
): Promise<void> {
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  const logged: string[] = [];
  await saveCache({
    jobName: "bench",
    gitRef: "main",
    expand: (v) => v,
    caches: [{
      key,
      untracked: false,
      policy: "pull-push",
      paths: [dir.slice(dir.lastIndexOf("/") + 1)],
      when: "on_success",
      fallbackKeys: [],
    }],
    jobSucceeded: true,
    store: {
      open: (k) => store.open(k),
      modified: (k) => {
        onSelected();
        return store.modified(k);
      },
      save: (k, humanKey, body, options) => store.save(k, humanKey, body, options),
    },
    source: new LocalArchiveSource(parent),
    projectDir: parent,
    compressionLevel: level,
    ...(concurrency ? { concurrency } : {}),
    log: (line) => logged.push(line),
    signal: new AbortController().signal,
  });
  if (!logged.includes("Created cache")) throw new Error(`no cache saved: ${logged.join("\n")}`);
}
