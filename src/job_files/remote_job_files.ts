import type { ArchiveSource, SourceEntry } from "../archive/archive_source.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import { LocalScratchSpace } from "../artifacts/local_scratch_space.ts";
import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheBody, CacheSaveOptions, CacheStore } from "../cache/cache_store.ts";
import { sinkStream } from "../archive/sink_stream.ts";
import { isNotFound } from "./container_tar_access.ts";
import type { JobFiles, ScriptRunner, SourceSession, TargetSession } from "./job_files.ts";
import { ScriptCommandRunner } from "./script_command_runner.ts";

/**
 * What remote file access must offer; executors/ssh/sftp_files.ts `SftpFiles`
 * has it (ssh and docker+ssh executors, `files()`), with the guarantees of
 * ArchiveSource and ArchiveTarget (no symlink followed) on the remote side.
 */
export interface RemoteFileAccess {
  stat(path: string): Promise<SourceEntry | null>;
  readFile(path: string): Promise<Uint8Array>;
  archiveSource(root: string): ArchiveSource;
  archiveTarget(root: string): Promise<ArchiveTarget>;
  openReader(path: string): Promise<RandomAccessReader>;
  /** Temp file beside `path`, renamed over it; parents created. */
  writeAtomic(
    path: string,
    data: ReadableStream<Uint8Array> | Uint8Array,
    options?: { mode?: number; mtime?: Date },
  ): Promise<void>;
}

/**
 * `JobFiles` of the ssh executor: the work happens in the executor process
 * on the runner host, every file operation goes over SFTP on the job's own
 * connection. Downloads wait in the executor process's temp dir and are
 * extracted remotely entry by entry; cache archives live on the remote host
 * under its cache_dir.
 */
export class RemoteJobFiles implements JobFiles {
  readonly scratch: ScratchSpace;
  readonly #files: () => RemoteFileAccess;

  /** @param files the connection's file access; called per stage, after prepare */
  constructor(files: () => RemoteFileAccess, options: { tempDir?: string } = {}) {
    this.#files = files;
    this.scratch = new LocalScratchSpace(options.tempDir);
  }

  openSource(dir: string): Promise<SourceSession> {
    return Promise.resolve({
      source: this.#files().archiveSource(dir),
      close: () => Promise.resolve(),
    });
  }

  async openTarget(dir: string): Promise<TargetSession> {
    const target = await this.#files().archiveTarget(dir);
    return { target, commit: () => Promise.resolve(), discard: () => Promise.resolve() };
  }

  cacheStore(root: string): CacheStore {
    return new RemoteCacheStore(this.#files(), root);
  }

  commandRunner(dir: string, runScript: ScriptRunner): CommandRunner {
    const files = this.#files();
    return new ScriptCommandRunner({
      tmpDir: `${dir.replace(/\/+$/, "")}.tmp`,
      runScript,
      readFile: (path) => files.readFile(path).catch(() => new Uint8Array(0)),
    });
  }
}

/** `CacheStore` on the remote host: same layout as LocalCacheStore, atomic by rename. */
export class RemoteCacheStore implements CacheStore {
  readonly #files: RemoteFileAccess;
  readonly #root: string;

  constructor(files: RemoteFileAccess, root: string) {
    this.#files = files;
    this.#root = root.replace(/\/+$/, "");
  }

  #dir(key: string): string {
    if (
      key === "" || key.startsWith("/") ||
      key.split("/").some((s) => s === ".." || s === "." || s === "")
    ) {
      throw new TypeError(`Cache key ${JSON.stringify(key)} is not a sanitised key`);
    }
    return `${this.#root}/${key}`;
  }

  async open(key: string): Promise<RandomAccessReader | null> {
    try {
      return await this.#files.openReader(`${this.#dir(key)}/cache.zip`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async modified(key: string): Promise<Date | null> {
    const stat = await this.#files.stat(`${this.#dir(key)}/cache.zip`);
    return stat === null || stat.kind !== "file" ? null : stat.mtime;
  }

  /** `alongside` runs after the commit, reading the archive back from the remote host. */
  async save(
    key: string,
    humanKey: string,
    cacheBody: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const body = typeof cacheBody === "function" ? sinkStream(cacheBody) : cacheBody;
    const dir = this.#dir(key);
    let size = 0;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    );
    await this.#files.writeAtomic(`${dir}/cache.zip`, counted);
    await this.#files.writeAtomic(
      `${dir}/metadata.json`,
      new TextEncoder().encode(JSON.stringify({ cachekey: humanKey })),
    );
    if (options.alongside) {
      const reader = await this.open(key);
      if (reader === null) throw new Error(`Cache archive for ${key} vanished after it was saved`);
      try {
        await options.alongside(reader);
      } finally {
        await reader.close();
      }
    }
    return size;
  }
}
