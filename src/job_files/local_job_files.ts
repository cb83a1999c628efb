import { LocalArchiveSource } from "../archive/local_archive_source.ts";
import { LocalArchiveTarget } from "../archive/local_archive_target.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import { LocalCommandRunner } from "../artifacts/local_command_runner.ts";
import { LocalScratchSpace } from "../artifacts/local_scratch_space.ts";
import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { LocalCacheStore } from "../cache/local_cache_store.ts";
import type {
  ArchiveTarget,
  FileMeta,
  SymlinkEntry,
  TargetFile,
} from "../archive/archive_target.ts";
import type { JobFiles, SourceSession, TargetSession } from "./job_files.ts";

/** The job user's ids when shell jobs run as another user (`user`); extracted files go to it. */
export interface FileOwner {
  uid: number;
  gid: number;
}

/**
 * `JobFiles` on this host (shell executor): archives are read from and
 * extracted straight into the project directory, cache archives live under
 * `cache_dir`, downloads wait in `tempDir`.
 */
export class LocalJobFiles implements JobFiles {
  readonly scratch: ScratchSpace;
  readonly #owner: () => FileOwner | null;

  /**
   * @param tempDir where downloaded archives wait; undefined for the system temp dir
   * @param owner the job user, asked per extraction (known after the executor's prepare)
   */
  constructor(tempDir?: string, owner: () => FileOwner | null = () => null) {
    this.scratch = new LocalScratchSpace(tempDir);
    this.#owner = owner;
  }

  openSource(dir: string): Promise<SourceSession> {
    return Promise.resolve({ source: new LocalArchiveSource(dir), close: () => Promise.resolve() });
  }

  async openTarget(dir: string): Promise<TargetSession> {
    await Deno.mkdir(dir, { recursive: true });
    const local = await LocalArchiveTarget.open(dir);
    const owner = this.#owner();
    if (owner === null) {
      return { target: local, commit: () => Promise.resolve(), discard: () => Promise.resolve() };
    }
    // The executor process runs as root: hand what it extracted to the job user,
    // who must be able to change a restored cache or downloaded artifacts.
    const target = new OwnedTarget(local);
    return {
      target,
      commit: () => Promise.resolve(target.chownAll(dir, owner)),
      discard: () => Promise.resolve(),
    };
  }

  cacheStore(root: string): CacheStore {
    return new LocalCacheStore(root);
  }

  commandRunner(dir: string): CommandRunner {
    return new LocalCommandRunner(dir);
  }

  readFile(path: string): Promise<Uint8Array> {
    return Deno.readFile(path).catch(() => new Uint8Array(0));
  }
}

/** Records what an extraction creates, so that its owner can be set afterwards. */
class OwnedTarget implements ArchiveTarget {
  readonly #inner: ArchiveTarget;
  readonly #paths = new Set<string>();

  constructor(inner: ArchiveTarget) {
    this.#inner = inner;
  }

  #record(path: string): void {
    // mkdir creates missing parents too.
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) this.#paths.add(parts.slice(0, i).join("/"));
  }

  mkdir(path: string): Promise<void> {
    this.#record(path);
    return this.#inner.mkdir(path);
  }

  writeFile(path: string, data: Uint8Array, meta: FileMeta): Promise<void> {
    this.#record(path);
    return this.#inner.writeFile(path, data, meta);
  }

  createFile(path: string, meta: FileMeta): Promise<TargetFile> {
    this.#record(path);
    return this.#inner.createFile(path, meta);
  }

  symlink(path: string, linkTarget: string): Promise<void> {
    this.#record(path);
    return this.#inner.symlink(path, linkTarget);
  }

  async symlinks(links: readonly SymlinkEntry[]): Promise<void> {
    for (const { path } of links) this.#record(path);
    if (this.#inner.symlinks !== undefined) return await this.#inner.symlinks(links);
    for (const { path, linkTarget } of links) await this.#inner.symlink(path, linkTarget);
  }

  finishDir(path: string, meta: FileMeta): Promise<void> {
    return this.#inner.finishDir(path, meta);
  }

  remove(path: string): Promise<void> {
    return this.#inner.remove(path);
  }

  /**
   * Gives every recorded entry to `owner`. Symlinks are left alone (chown would
   * follow them, and the job user may replace a link in its own directory anyway);
   * no job process runs between stages to swap an entry for a link meanwhile.
   */
  chownAll(root: string, owner: FileOwner): void {
    for (const path of this.#paths) {
      const abs = `${root}/${path}`;
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(abs);
      } catch {
        continue; // Removed after a failed check.
      }
      if (info.isSymlink) continue;
      Deno.chownSync(abs, owner.uid, owner.gid);
    }
  }
}
