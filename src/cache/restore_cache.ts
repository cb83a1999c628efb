/**
 * The `restore_cache` stage (§10.3): for each `cache[]` entry whose policy
 * pulls, try the primary key, then `fallback_keys`, then `CACHE_FALLBACK_KEY`;
 * the first archive that extracts wins. Every failure (missing archive,
 * corrupt or hostile archive) is a warning: the job goes on without cache.
 */
import { ArchiveError } from "../archive/archive_error.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import type { JobLogSink } from "../archive/log_sink.ts";
import { type ExtractOptions, extractZip } from "../archive/zip_extractor.ts";
import { detectArchiveFormat } from "../archive/archive_format.ts";
import type { JobCache } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { type CacheKeyContext, isProtectedKey, resolveCacheKey } from "./cache_key.ts";
import { parseCachePolicy } from "./cache_policy.ts";
import type { CacheStore } from "./cache_store.ts";

export interface RestoreCacheOptions extends CacheKeyContext {
  caches: readonly JobCache[];
  /** The `CACHE_FALLBACK_KEY` variable, "" when unset. */
  fallbackKey: string;
  store: CacheStore;
  /** The project directory. */
  target: ArchiveTarget;
  extract?: Omit<ExtractOptions, "signal">;
  log: JobLogSink;
  signal: AbortSignal;
}

/** Resolves when done; rejects only for an unknown policy (a stage error, §10.3) or cancellation. */
export async function restoreCache(options: RestoreCacheOptions): Promise<void> {
  const warn = (m: string) => options.log(`WARNING: ${m}`);
  for (const cache of options.caches) {
    options.signal.throwIfAborted();
    if (cache.paths.length === 0 && !cache.untracked) continue;
    const key = resolveCacheKey(cache.key, options, warn);
    if (key === null) continue;
    let pull: boolean;
    try {
      pull = parseCachePolicy(options.expand(cache.policy)).pull;
    } catch (err) {
      throw new JobFailedError("script_failure", `${(err as Error).message} for ${key}`, {
        exitCode: 1,
      });
    }
    if (!pull) {
      options.log(`Not downloading cache ${key} due to policy`);
      continue;
    }
    const candidates = [key];
    for (const raw of cache.fallbackKeys) {
      const fallback = resolveCacheKey(raw, options, warn);
      if (fallback !== null && !candidates.includes(fallback)) candidates.push(fallback);
    }
    if (options.fallbackKey !== "") {
      if (isProtectedKey(options.fallbackKey)) {
        warn(
          `CACHE_FALLBACK_KEY ${
            JSON.stringify(options.fallbackKey)
          } is ignored: the "-protected" suffix is reserved for protected refs`,
        );
      } else {
        const fallback = resolveCacheKey(options.fallbackKey, options, warn);
        if (fallback !== null && !candidates.includes(fallback)) candidates.push(fallback);
      }
    }
    for (const candidate of candidates) {
      options.log(`Checking cache for ${candidate}...`);
      if (await extractOne(candidate, options)) {
        options.log("Successfully extracted cache");
        break;
      }
      warn("Failed to extract cache");
    }
  }
}

async function extractOne(key: string, options: RestoreCacheOptions): Promise<boolean> {
  const warn = (m: string) => options.log(`WARNING: ${m}`);
  let reader;
  try {
    reader = await options.store.open(key);
  } catch (err) {
    warn(`Cannot open cache ${key}: ${err instanceof Error ? err.message : err}`);
    return false;
  }
  if (reader === null) {
    warn("Cache file does not exist");
    return false;
  }
  try {
    const format = detectArchiveFormat(await reader.read(0, Math.min(4, reader.size)));
    if (format !== "zip") {
      warn(`Cache archive is in ${format} format, which this runner cannot extract`);
      return false;
    }
    await extractZip(reader, options.target, { ...options.extract, warn, signal: options.signal });
    return true;
  } catch (err) {
    options.signal.throwIfAborted();
    if (err instanceof ArchiveError) warn(`Corrupt cache archive for ${key}: ${err.message}`);
    else warn(`Cannot extract cache ${key}: ${err instanceof Error ? err.message : err}`);
    return false;
  } finally {
    await reader.close();
  }
}
