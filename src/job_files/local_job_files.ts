import { LocalArchiveSource } from "../archive/local_archive_source.ts";
import { LocalArchiveTarget } from "../archive/local_archive_target.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import { LocalCommandRunner } from "../artifacts/local_command_runner.ts";
import { LocalScratchSpace } from "../artifacts/local_scratch_space.ts";
import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { LocalCacheStore } from "../cache/local_cache_store.ts";
import type { JobFiles, SourceSession, TargetSession } from "./job_files.ts";

/**
 * `JobFiles` on this host (shell executor): archives are read from and
 * extracted straight into the project directory, cache archives live under
 * `cache_dir`, downloads wait in `tempDir`.
 */
export class LocalJobFiles implements JobFiles {
  readonly scratch: ScratchSpace;

  /** @param tempDir where downloaded archives wait; undefined for the system temp dir */
  constructor(tempDir?: string) {
    this.scratch = new LocalScratchSpace(tempDir);
  }

  openSource(dir: string): Promise<SourceSession> {
    return Promise.resolve({ source: new LocalArchiveSource(dir), close: () => Promise.resolve() });
  }

  async openTarget(dir: string): Promise<TargetSession> {
    await Deno.mkdir(dir, { recursive: true });
    const target = await LocalArchiveTarget.open(dir);
    return { target, commit: () => Promise.resolve(), discard: () => Promise.resolve() };
  }

  cacheStore(root: string): CacheStore {
    return new LocalCacheStore(root);
  }

  commandRunner(dir: string): CommandRunner {
    return new LocalCommandRunner(dir);
  }
}
