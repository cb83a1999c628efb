import type { ArchiveSource, SourceEntry } from "../archive/archive_source.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { CommandRunner } from "../artifacts/command_runner.ts";
import { LocalFileReader } from "../archive/local_file_reader.ts";
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
  readonly #tempDir: string | undefined;

  /** @param files the connection's file access; called per stage, after prepare */
  constructor(files: () => RemoteFileAccess, options: { tempDir?: string } = {}) {
    this.#files = files;
    this.#tempDir = options.tempDir;
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
    return new RemoteCacheStore(
      this.#files(),
      root,
      this.#tempDir === undefined ? {} : { tempDir: this.#tempDir },
    );
  }

  commandRunner(dir: string, runScript: ScriptRunner): CommandRunner {
    const files = this.#files();
    return new ScriptCommandRunner({
      tmpDir: `${dir.replace(/\/+$/, "")}.tmp`,
      runScript,
      readFile: (path) => files.readFile(path).catch(() => new Uint8Array(0)),
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#files().readFile(path).catch(() => new Uint8Array(0));
  }
}

/** `CacheStore` on the remote host: same layout as LocalCacheStore, atomic by rename. */
export class RemoteCacheStore implements CacheStore {
  readonly #files: RemoteFileAccess;
  readonly #root: string;
  readonly #tempDir: string | undefined;

  /** @param options.tempDir where a save keeps this host's copy for `alongside` */
  constructor(files: RemoteFileAccess, root: string, options: { tempDir?: string } = {}) {
    this.#files = files;
    this.#root = root.replace(/\/+$/, "");
    this.#tempDir = options.tempDir;
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

  /**
   * With `alongside`, the archive is also written to a temp file on this host
   * as it goes to the remote one, and `alongside` reads that copy while the
   * remote file is finished and renamed: an upload reads nothing back over
   * SFTP.
   */
  async save(
    key: string,
    humanKey: string,
    cacheBody: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const body = typeof cacheBody === "function" ? sinkStream(cacheBody) : cacheBody;
    const dir = this.#dir(key);
    const copy = options.alongside ? await HostCopy.create(this.#tempDir) : null;
    let size = 0;
    try {
      const counted = body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            size += chunk.length;
            copy?.write(chunk);
            controller.enqueue(chunk);
          },
          flush() {
            // The whole archive is here: the upload may start.
            if (copy && options.alongside) copy.start(options.alongside);
          },
        }),
      );
      await this.#files.writeAtomic(`${dir}/cache.zip`, counted);
      await this.#files.writeAtomic(
        `${dir}/metadata.json`,
        new TextEncoder().encode(JSON.stringify({ cachekey: humanKey })),
      );
      await copy?.done();
      return size;
    } finally {
      await copy?.dispose();
    }
  }
}

/** This host's copy of an archive being saved remotely, and what reads it (`alongside`). */
class HostCopy {
  readonly #path: string;
  readonly #file: Deno.FsFile;
  #isOpen = true;
  #reader: LocalFileReader | null = null;
  #alongside: Promise<void> | null = null;

  private constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  static async create(tempDir: string | undefined): Promise<HostCopy> {
    const path = await Deno.makeTempFile({
      prefix: "remote-cache-",
      suffix: ".zip",
      ...(tempDir === undefined ? {} : { dir: tempDir }),
    });
    return new HostCopy(path, await Deno.open(path, { write: true, truncate: true }));
  }

  write(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
  }

  /** Runs `alongside` on the complete copy; `done` waits for it. */
  start(alongside: (archive: RandomAccessReader) => Promise<void>): void {
    this.#close();
    this.#alongside = (async () => {
      this.#reader = await LocalFileReader.open(this.#path);
      await alongside(this.#reader);
    })();
    // Awaited in `done` once the remote save is committed; not unhandled meanwhile.
    this.#alongside.catch(() => {});
  }

  #close(): void {
    if (this.#isOpen) {
      this.#isOpen = false;
      this.#file.close();
    }
  }

  async done(): Promise<void> {
    if (this.#alongside === null) throw new Error("The archive ended before it was complete");
    await this.#alongside;
  }

  /** After a failed remote save too: waits for `alongside`, then removes the copy. */
  async dispose(): Promise<void> {
    this.#close();
    await this.#alongside?.catch(() => {});
    await this.#reader?.close();
    await Deno.remove(this.#path).catch(() => {});
  }
}
