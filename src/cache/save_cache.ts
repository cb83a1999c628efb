/**
 * The `archive_cache` / `archive_cache_on_failure` stages (§10.3): for each
 * `cache[]` entry whose `when` fits the job's outcome and whose policy
 * pushes, select files as artifacts do, skip when nothing changed since the
 * stored archive ("Archive is up to date!"), else write a new archive
 * atomically. Failures are warnings; the job's result does not change.
 */
import type { ArchiveSource } from "../archive/archive_source.ts";
import type { CompressionLevel } from "../archive/compression_level.ts";
import type { JobLogSink } from "../archive/log_sink.ts";
import { writeZip } from "../archive/zip_writer.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import { selectFiles } from "../artifacts/file_selection.ts";
import type { JobCache } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { type CacheKeyContext, resolveCacheKey } from "./cache_key.ts";
import { parseCachePolicy } from "./cache_policy.ts";
import type { CacheStore } from "./cache_store.ts";

export interface SaveCacheOptions extends CacheKeyContext {
  caches: readonly JobCache[];
  /** Which stage runs: the job's outcome so far. */
  jobSucceeded: boolean;
  store: CacheStore;
  source: ArchiveSource;
  projectDir: string;
  git?: CommandRunner;
  /** From `CACHE_COMPRESSION_LEVEL`. */
  compressionLevel: CompressionLevel;
  /** Compression threads (FF_USE_FASTZIP); default 1. */
  concurrency?: number;
  log: JobLogSink;
  signal: AbortSignal;
  /**
   * Expands `cache:paths` where the official cache-archiver does, in the
   * stage's environment (with what the scripts wrote to GITLAB_ENV); the key
   * and policy are the runner's, expanded with `expand`. Default: `expand`.
   */
  expandPath?: (value: string) => string;
}

/** Entries this stage saves (§10.3). */
export function cachesForStage(caches: readonly JobCache[], jobSucceeded: boolean): JobCache[] {
  return caches.filter((c) => {
    if (c.paths.length === 0 && !c.untracked) return false;
    return c.when === "always" || c.when === (jobSucceeded ? "on_success" : "on_failure");
  });
}

/** Resolves when done; rejects only for an unknown policy (a stage error) or cancellation. */
export async function saveCache(options: SaveCacheOptions): Promise<void> {
  const warn = (m: string) => options.log(`WARNING: ${m}`);
  for (const cache of cachesForStage(options.caches, options.jobSucceeded)) {
    options.signal.throwIfAborted();
    const key = resolveCacheKey(cache.key, options, warn);
    if (key === null) continue;
    let push: boolean;
    try {
      push = parseCachePolicy(options.expand(cache.policy)).push;
    } catch (err) {
      throw new JobFailedError("script_failure", `${(err as Error).message} for ${key}`, {
        exitCode: 1,
      });
    }
    if (!push) {
      options.log(`Not uploading cache ${key} due to policy`);
      continue;
    }
    options.log(`Creating cache ${key}...`);
    try {
      await saveOne(cache, key, options);
      options.log("Created cache");
    } catch (err) {
      options.signal.throwIfAborted();
      warn(err instanceof Error ? err.message : String(err));
      warn("Failed to create cache");
    }
  }
}

async function saveOne(cache: JobCache, key: string, options: SaveCacheOptions): Promise<void> {
  const paths = await selectFiles(
    {
      paths: cache.paths.map(options.expandPath ?? options.expand),
      exclude: [],
      untracked: cache.untracked,
    },
    {
      source: options.source,
      projectDir: options.projectDir,
      log: options.log,
      ...(options.git ? { git: options.git } : {}),
    },
  );
  const stored = await options.store.modified(key);
  if (stored !== null && !(await anyNewer(options.source, paths, stored))) {
    options.log("Archive is up to date!");
    return;
  }
  await options.store.save(key, key, (sink) =>
    writeZip(options.source, paths, sink, {
      level: options.compressionLevel,
      warn: (m) => options.log(`WARNING: ${m}`),
      signal: options.signal,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    }));
}

/** Whether any selected path changed after `time` (the official "isChanged" test). */
async function anyNewer(source: ArchiveSource, paths: string[], time: Date): Promise<boolean> {
  for (const path of paths) {
    const entry = await source.stat(path);
    if (entry !== null && entry.mtime.getTime() > time.getTime()) return true;
  }
  return false;
}
