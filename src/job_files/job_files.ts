/**
 * Where a job's files are, seen from the runner: the project directory to
 * archive from and extract into, the cache archives, and scratch space for
 * downloads. Shell jobs use this host's file system, docker jobs the build
 * container (Engine archive API), ssh jobs SFTP. The stage hooks
 * (job_file_hooks.ts) run the same artifact and cache code over any of them.
 */
import type { ArchiveSource } from "../archive/archive_source.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheStore } from "../cache/cache_store.ts";

/**
 * Call order per stage: `openSource` or `openTarget`, use it, then `close`
 * (source) or `commit`/`discard` (target). Every method may be called only
 * after the executor's `prepare` resolved (a container must exist).
 */
export interface JobFiles {
  /** A read-only view of `dir` (absolute, as the job sees it). */
  openSource(dir: string, signal: AbortSignal): Promise<SourceSession>;
  /** Where an extraction into `dir` goes; nothing is guaranteed visible before `commit`. */
  openTarget(dir: string, signal: AbortSignal): Promise<TargetSession>;
  /** Cache archives under `root` = `<cache_dir>/<project path>` as the job sees it. */
  cacheStore(root: string): CacheStore;
  /** Temporary files for downloaded archives. */
  readonly scratch: ScratchSpace;
  /**
   * Runs commands (`git ls-files -o`) in `dir` where the job runs; undefined
   * when this side has no way to, so `untracked` selects nothing (with a warning).
   */
  commandRunner(dir: string, runScript: ScriptRunner): CommandRunner | undefined;
  /**
   * Content of a small file where the job runs (GITLAB_ENV); empty when it is
   * absent or cannot be read.
   */
  readFile(path: string): Promise<Uint8Array>;
}

/** Runs shell lines where the job runs (StageContext.runScript). */
export type ScriptRunner = (lines: readonly string[]) => Promise<number>;

export interface SourceSession {
  readonly source: ArchiveSource;
  /** Releases snapshots and temp files; may run twice. */
  close(): Promise<void>;
}

export interface TargetSession {
  readonly target: ArchiveTarget;
  /** Makes what was extracted appear in the directory. */
  commit(signal: AbortSignal): Promise<void>;
  /** Drops whatever was not committed; may run twice, also after commit. */
  discard(): Promise<void>;
}
