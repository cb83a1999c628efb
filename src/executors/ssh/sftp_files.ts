/**
 * File access to the ssh executor's remote host over SFTP, on the job's own
 * SSH connection: what artifact and cache code needs (archive sources and
 * targets, random-access reads of archives, atomic writes) without any
 * program on the remote host beyond sshd's sftp subsystem.
 *
 * Latency, not bandwidth, limits SFTP: every call is a round trip. Reads and
 * writes therefore keep several requests in flight (ssh2 pipelines them on
 * one channel), and a file write sends its data, attributes and close without
 * waiting in between.
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/ssh2"
import type { Attributes, OpenMode, SFTPWrapper, Stats } from "ssh2";
import { ArchiveError, quoteEntry } from "../../archive/archive_error.ts";
import type {
  ArchiveSource,
  EntryKind,
  SourceDirEntry,
  SourceEntry,
} from "../../archive/archive_source.ts";
import type { ArchiveTarget, FileMeta, TargetFile } from "../../archive/archive_target.ts";
import type { RandomAccessReader } from "../../archive/random_access_reader.ts";
import { joinPath } from "../../shells/script_writer.ts";
import { SFTP_NO_SUCH_FILE, sftpCode } from "./_ssh_errors.ts";

/** Bytes per read or write request (OpenSSH's sftp-server accepts up to 256 KiB). */
const IO_CHUNK = 128 * 1024;
/** Read requests in flight per stream. */
const READS_IN_FLIGHT = 16;
/** Write requests in flight per file. */
const WRITES_IN_FLIGHT = 16;
/** Read-ahead window of a RandomAccessReader. */
const READER_WINDOW = 4 << 20;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function kindOf(mode: number): EntryKind {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "dir";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    default:
      return "other";
  }
}

/** A NotFound for a missing path, as ArchiveSource promises; other errors keep their message. */
function remoteError(err: unknown, what: string, path: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (sftpCode(err) === SFTP_NO_SUCH_FILE) {
    return new Deno.errors.NotFound(`Cannot ${what} "${path}" on the remote host: no such file`, {
      cause: err,
    });
  }
  return new Error(`Cannot ${what} "${path}" on the remote host: ${message}`, { cause: err });
}

function call<T>(run: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    run((err, value) => (err ? reject(err) : resolve(value)));
  });
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

export class SftpFiles {
  readonly #sftp: SFTPWrapper;
  /** `user@host:port`, for messages. */
  readonly host: string;

  constructor(sftp: SFTPWrapper, host: string) {
    this.#sftp = sftp;
    this.host = host;
  }

  /** The raw SFTP session, for callers with needs this class does not cover. */
  get sftp(): SFTPWrapper {
    return this.#sftp;
  }

  /** Absolute, canonical form of a remote path (`.` = the login directory). */
  async realPath(path: string): Promise<string> {
    try {
      return await call<string>((cb) => this.#sftp.realpath(path, cb));
    } catch (err) {
      throw remoteError(err, "resolve", path);
    }
  }

  /** lstat; null when the path does not exist. */
  async stat(path: string): Promise<SourceEntry | null> {
    try {
      const stats = await call<Stats>((cb) => this.#sftp.lstat(path, cb));
      return {
        kind: kindOf(stats.mode),
        mode: stats.mode & 0o7777,
        size: stats.size,
        mtime: new Date(stats.mtime * 1000),
      };
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
      throw remoteError(err, "stat", path);
    }
  }

  /** `mkdir -p`. Follows existing symlinks like mkdir(1); use archiveTarget for untrusted paths. */
  async mkdirAll(path: string, mode = 0o755): Promise<void> {
    const existing = await this.stat(path);
    if (existing?.kind === "dir") return;
    if (existing === null) {
      const parent = path.replace(/\/+[^/]*\/*$/, "");
      if (parent !== "" && parent !== path) await this.mkdirAll(parent, mode);
      try {
        await call<void>((cb) => this.#sftp.mkdir(path, { mode }, (err) => cb(err, undefined)));
        return;
      } catch (err) {
        // Another writer may have made it meanwhile.
        if ((await this.stat(path))?.kind === "dir") return;
        throw remoteError(err, "create directory", path);
      }
    }
    const followed = await call<Stats>((cb) => this.#sftp.stat(path, cb)).catch(() => null);
    if (followed?.isDirectory()) return;
    throw new Error(`Cannot create directory "${path}" on the remote host: a file is in the way`);
  }

  /** Removes a file or symlink; a missing path is fine. */
  async remove(path: string): Promise<void> {
    try {
      await call<void>((cb) => this.#sftp.unlink(path, (err) => cb(err, undefined)));
    } catch (err) {
      if (sftpCode(err) !== SFTP_NO_SUCH_FILE) throw remoteError(err, "remove", path);
    }
  }

  /** Removes a directory tree (without following symlinks); a missing path is fine. */
  async removeAll(path: string): Promise<void> {
    const entry = await this.stat(path);
    if (entry === null) return;
    if (entry.kind !== "dir") return await this.remove(path);
    const names = await this.#readDir(path);
    for (const e of names) await this.removeAll(joinPath(path, e.name));
    await call<void>((cb) => this.#sftp.rmdir(path, (err) => cb(err, undefined))).catch((err) => {
      if (sftpCode(err) !== SFTP_NO_SUCH_FILE) throw remoteError(err, "remove directory", path);
    });
  }

  async #readDir(path: string): Promise<SourceDirEntry[]> {
    try {
      const list = await call<{ filename: string; attrs: Attributes }[]>((cb) =>
        this.#sftp.readdir(path, cb)
      );
      return list.filter((e) => e.filename !== "." && e.filename !== "..").map((e) => ({
        name: e.filename,
        kind: kindOf(e.attrs.mode),
      }));
    } catch (err) {
      throw remoteError(err, "list", path);
    }
  }

  /** Whole file content. */
  async readFile(path: string): Promise<Uint8Array> {
    const handle = await this.#open(path, "r", "read");
    try {
      const stats = await call<Stats>((cb) => this.#sftp.fstat(handle, cb));
      const chunks: Uint8Array[] = [];
      let total = 0;
      for await (const chunk of this.#readChunks(handle, stats.size, path)) {
        chunks.push(chunk);
        total += chunk.length;
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    } finally {
      await this.#close(handle);
    }
  }

  /** File content as a stream, read ahead with several requests in flight. */
  async openFile(path: string): Promise<ReadableStream<Uint8Array>> {
    const handle = await this.#open(path, "r", "read");
    let stats: Stats;
    try {
      stats = await call<Stats>((cb) => this.#sftp.fstat(handle, cb));
    } catch (err) {
      await this.#close(handle);
      throw remoteError(err, "read", path);
    }
    const chunks = this.#readChunks(handle, stats.size, path);
    let isClosed = false;
    const close = async () => {
      if (isClosed) return;
      isClosed = true;
      await this.#close(handle);
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const next = await chunks.next();
          if (next.done) {
            await close();
            controller.close();
          } else controller.enqueue(next.value);
        } catch (err) {
          await close();
          controller.error(err);
        }
      },
      cancel: async () => {
        await chunks.return(undefined);
        await close();
      },
    });
  }

  /**
   * Reads `handle` from 0 up to `size` (from fstat: files are archived at
   * rest) with several requests in flight; stops early if the file shrank.
   */
  async *#readChunks(handle: Buffer, size: number, path: string): AsyncGenerator<Uint8Array> {
    let next = 0;
    const queue: { offset: number; length: number; data: Promise<Uint8Array> }[] = [];
    try {
      for (;;) {
        while (queue.length < READS_IN_FLIGHT && next < size) {
          const length = Math.min(IO_CHUNK, size - next);
          queue.push({ offset: next, length, data: this.#readAt(handle, next, length, path) });
          next += length;
        }
        const head = queue.shift();
        if (!head) return;
        const chunk = await head.data;
        if (chunk.length === 0) return;
        yield chunk;
        if (chunk.length < head.length) {
          // A short read: drop the read-ahead and go on right after it.
          await Promise.allSettled(queue.splice(0).map((q) => q.data));
          next = head.offset + chunk.length;
        }
      }
    } finally {
      await Promise.allSettled(queue.map((q) => q.data));
    }
  }

  /** Up to `length` bytes at `offset`; empty at EOF. */
  #readAt(handle: Buffer, offset: number, length: number, path: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const buf = Buffer.allocUnsafe(length);
      this.#sftp.read(handle, buf, 0, length, offset, (err, bytesRead) => {
        if (err) {
          // ssh2 reports EOF as an error with the SFTP EOF status (1).
          if (sftpCode(err) === 1) resolve(new Uint8Array(0));
          else reject(remoteError(err, "read", path));
        } else {
          resolve(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
        }
      });
    });
  }

  async readLink(path: string): Promise<string> {
    try {
      return await call<string>((cb) => this.#sftp.readlink(path, cb));
    } catch (err) {
      throw remoteError(err, "read link", path);
    }
  }

  async #open(
    path: string,
    flags: OpenMode,
    what: string,
    attrs: Record<string, number> = {},
  ): Promise<Buffer> {
    try {
      return await call<Buffer>((cb) => this.#sftp.open(path, flags, attrs, cb));
    } catch (err) {
      throw remoteError(err, what, path);
    }
  }

  async #close(handle: Buffer): Promise<void> {
    await call<void>((cb) => this.#sftp.close(handle, (err) => cb(err, undefined))).catch(() => {});
  }

  /** Opens `path` for writing with pipelined writes; `flags` as for sftp.open. */
  async createWriter(
    path: string,
    flags: "w" | "wx",
    mode: number,
  ): Promise<RemoteWriter> {
    const handle = await this.#open(path, flags, "create", { mode: mode & 0o777 });
    return new RemoteWriter(this.#sftp, handle, path);
  }

  /**
   * Writes `data` to `path` atomically: into a temporary file beside it, then
   * renamed over it (posix-rename@openssh.com where the server has it), so a
   * reader sees the old or the new file, never a half-written one. Parent
   * directories are created.
   */
  async writeAtomic(
    path: string,
    data: ReadableStream<Uint8Array> | Uint8Array,
    options: { mode?: number; mtime?: Date } = {},
  ): Promise<void> {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await this.mkdirAll(path.slice(0, slash));
    const temp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    const writer = await this.createWriter(temp, "wx", options.mode ?? 0o644);
    try {
      if (data instanceof Uint8Array) await writer.write(data);
      else for await (const chunk of data) await writer.write(chunk);
      await writer.close(options.mtime ? { mtime: options.mtime } : {});
      await this.#rename(temp, path);
    } catch (err) {
      await writer.abort();
      await this.remove(temp).catch(() => {});
      throw err;
    }
  }

  async #rename(from: string, to: string): Promise<void> {
    try {
      await call<void>((cb) =>
        this.#sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined))
      );
    } catch (err) {
      // Plain SFTP rename refuses an existing target; without the extension
      // there is a short window without the file.
      if (!/not supported/i.test(String(err))) throw remoteError(err, "rename", from);
      await this.remove(to);
      await call<void>((cb) => this.#sftp.rename(from, to, (e) => cb(e, undefined))).catch((e) => {
        throw remoteError(e, "rename", from);
      });
    }
  }

  /** Byte-range reads of a remote file at rest (a cache archive). */
  async openReader(path: string): Promise<RandomAccessReader> {
    const handle = await this.#open(path, "r", "read");
    try {
      const stats = await call<Stats>((cb) => this.#sftp.fstat(handle, cb));
      return new SftpFileReader(this, handle, stats.size, path);
    } catch (err) {
      await this.#close(handle);
      throw remoteError(err, "read", path);
    }
  }

  /** @internal for SftpFileReader: fills `length` bytes at `offset` with parallel requests. */
  async readRange(
    handle: Buffer,
    offset: number,
    length: number,
    path: string,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const parts: Promise<void>[] = [];
    let failure: unknown = null;
    for (let at = 0; at < length; at += IO_CHUNK) {
      const want = Math.min(IO_CHUNK, length - at);
      parts.push(
        (async () => {
          let got = 0;
          while (got < want) {
            const chunk = await this.#readAt(handle, offset + at + got, want - got, path);
            if (chunk.length === 0) {
              throw new RangeError(
                `"${path}" ended at ${
                  offset + at + got
                } while reading ${length} bytes at ${offset}`,
              );
            }
            out.set(chunk, at + got);
            got += chunk.length;
          }
        })().catch((err) => {
          failure ??= err;
        }),
      );
      if (parts.length >= READS_IN_FLIGHT) await parts.shift();
    }
    await Promise.all(parts);
    if (failure) throw failure;
    return out;
  }

  /** @internal */
  closeHandle(handle: Buffer): Promise<void> {
    return this.#close(handle);
  }

  /** The tree under `root` (an absolute remote path) as an ArchiveSource. */
  archiveSource(root: string): ArchiveSource {
    return new SftpArchiveSource(this, root);
  }

  /** Creates `root` if missing and returns an ArchiveTarget writing under it. */
  async archiveTarget(root: string): Promise<ArchiveTarget> {
    await this.mkdirAll(root);
    const real = await this.realPath(root);
    return new SftpArchiveTarget(this, real);
  }

  /** @internal for the archive target */
  async rawMkdir(path: string, mode: number): Promise<Error | null> {
    try {
      await call<void>((cb) => this.#sftp.mkdir(path, { mode }, (err) => cb(err, undefined)));
      return null;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** @internal */
  async rawSymlink(linkTarget: string, path: string): Promise<Error | null> {
    try {
      await call<void>((cb) => this.#sftp.symlink(linkTarget, path, (err) => cb(err, undefined)));
      return null;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** @internal */
  async setAttributes(path: string, attrs: { mode?: number; mtime?: Date }): Promise<void> {
    const set: Record<string, number> = {};
    if (attrs.mode !== undefined) set["mode"] = attrs.mode;
    if (attrs.mtime) {
      set["atime"] = seconds(attrs.mtime);
      set["mtime"] = seconds(attrs.mtime);
    }
    try {
      await call<void>((cb) => this.#sftp.setstat(path, set, (err) => cb(err, undefined)));
    } catch (err) {
      throw remoteError(err, "set attributes of", path);
    }
  }
}

/** A remote file being written: writes are pipelined, `close` waits for all of them. */
export class RemoteWriter {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #path: string;
  #offset = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown = null;
  #isClosed = false;

  constructor(sftp: SFTPWrapper, handle: Buffer, path: string) {
    this.#sftp = sftp;
    this.#handle = handle;
    this.#path = path;
  }

  /** Resolves once the chunk is queued (not yet acknowledged); back-pressure beyond a window. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure;
    for (let at = 0; at < chunk.length; at += IO_CHUNK) {
      while (this.#inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.#inFlight);
      if (this.#failure) throw this.#failure;
      const piece = Buffer.from(
        chunk.buffer,
        chunk.byteOffset + at,
        Math.min(IO_CHUNK, chunk.length - at),
      );
      // ssh2 copies the data into its packet before write() returns.
      const position = this.#offset;
      this.#offset += piece.length;
      const done: Promise<void> = new Promise<void>((resolve) => {
        this.#sftp.write(this.#handle, piece, 0, piece.length, position, (err) => {
          if (err) this.#failure ??= remoteError(err, "write", this.#path);
          resolve();
        });
      }).finally(() => this.#inFlight.delete(done));
      this.#inFlight.add(done);
    }
  }

  /** Waits for every write, applies `mode`/`mtime`, closes; rejects with the first write error. */
  async close(attrs: { mode?: number; mtime?: Date } = {}): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const set: Record<string, number> = {};
    if (attrs.mode !== undefined) set["mode"] = attrs.mode;
    if (attrs.mtime) {
      set["atime"] = seconds(attrs.mtime);
      set["mtime"] = seconds(attrs.mtime);
    }
    // Attributes and close go right behind the writes; the server handles them in order.
    const setstat = Object.keys(set).length === 0
      ? Promise.resolve()
      : call<void>((cb) => this.#sftp.fsetstat(this.#handle, set, (err) => cb(err, undefined)))
        .catch((err) => {
          this.#failure ??= remoteError(err, "set attributes of", this.#path);
        });
    const close = call<void>((cb) => this.#sftp.close(this.#handle, (err) => cb(err, undefined)))
      .catch((err) => {
        this.#failure ??= remoteError(err, "close", this.#path);
      });
    await Promise.all([...this.#inFlight, setstat, close]);
    if (this.#failure) throw this.#failure;
  }

  /** Closes without caring about errors; the caller removes the file. */
  async abort(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    await Promise.allSettled(this.#inFlight);
    await call<void>((cb) => this.#sftp.close(this.#handle, (err) => cb(err, undefined))).catch(
      () => {},
    );
  }
}

class SftpFileReader implements RandomAccessReader {
  readonly #files: SftpFiles;
  readonly #handle: Buffer;
  readonly #path: string;
  #window: Uint8Array = new Uint8Array(0);
  #windowStart = 0;
  #isClosed = false;

  constructor(files: SftpFiles, handle: Buffer, readonly size: number, path: string) {
    this.#files = files;
    this.#handle = handle;
    this.#path = path;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(
        `Read of ${length} bytes at ${offset} is past the end of "${this.#path}" (${this.size} bytes)`,
      );
    }
    const w = this.#window;
    if (offset >= this.#windowStart && offset + length <= this.#windowStart + w.length) {
      return w.subarray(offset - this.#windowStart, offset - this.#windowStart + length);
    }
    if (length >= READER_WINDOW) {
      return await this.#files.readRange(this.#handle, offset, length, this.#path);
    }
    const want = Math.min(READER_WINDOW, this.size - offset);
    const window = await this.#files.readRange(this.#handle, offset, want, this.#path);
    this.#window = window;
    this.#windowStart = offset;
    return window.subarray(0, length);
  }

  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    await this.#files.closeHandle(this.#handle);
  }
}

class SftpArchiveSource implements ArchiveSource {
  readonly #files: SftpFiles;
  readonly #root: string;

  constructor(files: SftpFiles, root: string) {
    this.#files = files;
    this.#root = root;
  }

  #abs(path: string): string {
    return path === "" ? this.#root : `${this.#root}/${path}`;
  }

  stat(path: string): Promise<SourceEntry | null> {
    return this.#files.stat(this.#abs(path));
  }

  async readDir(path: string): Promise<SourceDirEntry[]> {
    try {
      const list = await call<{ filename: string; attrs: Attributes }[]>((cb) =>
        this.#files.sftp.readdir(this.#abs(path), cb)
      );
      return list.filter((e) => e.filename !== "." && e.filename !== "..").map((e) => ({
        name: e.filename,
        kind: kindOf(e.attrs.mode),
      }));
    } catch (err) {
      throw remoteError(err, "list", this.#abs(path));
    }
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#files.readFile(this.#abs(path));
  }

  openFile(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.#files.openFile(this.#abs(path));
  }

  readLink(path: string): Promise<string> {
    return this.#files.readLink(this.#abs(path));
  }
}

/**
 * ArchiveTarget over SFTP. The no-symlink-following guarantee, SFTP's way:
 * every parent directory is created with mkdir or checked with lstat (once;
 * results are remembered), files are opened with O_CREAT|O_EXCL ("wx") after
 * removing whatever stood at the path, and symlinks are created, never opened.
 */
class SftpArchiveTarget implements ArchiveTarget {
  readonly #files: SftpFiles;
  readonly #root: string;
  readonly #dirs = new Map<string, Promise<void>>([["", Promise.resolve()]]);

  constructor(files: SftpFiles, root: string) {
    this.#files = files;
    this.#root = root;
  }

  #abs(path: string): string {
    return path === "" ? this.#root : `${this.#root}/${path}`;
  }

  mkdir(path: string): Promise<void> {
    let done = this.#dirs.get(path);
    if (!done) {
      done = this.#mkdir(path);
      this.#dirs.set(path, done);
      done.catch(() => this.#dirs.delete(path));
    }
    return done;
  }

  async #mkdir(path: string): Promise<void> {
    await this.#parent(path);
    const failure = await this.#files.rawMkdir(this.#abs(path), 0o755);
    if (failure === null) return;
    const entry = await this.#files.stat(this.#abs(path));
    if (entry?.kind === "symlink") {
      throw new ArchiveError(
        path,
        `Cannot extract into ${
          quoteEntry(path)
        }: it is a symlink in the target directory, which is never followed`,
      );
    }
    if (entry === null) throw remoteError(failure, "create directory", this.#abs(path));
    if (entry.kind !== "dir") {
      throw new ArchiveError(
        path,
        `Cannot extract into ${quoteEntry(path)}: it exists and is not a directory`,
      );
    }
  }

  #parent(path: string): Promise<void> {
    const slash = path.lastIndexOf("/");
    return this.mkdir(slash > 0 ? path.slice(0, slash) : "");
  }

  /** Removes what stands at `path` so an exclusive create can succeed; never a directory. */
  async #clear(path: string): Promise<void> {
    const entry = await this.#files.stat(this.#abs(path));
    if (entry?.kind === "dir") {
      throw new ArchiveError(path, `Cannot extract ${quoteEntry(path)}: a directory is in the way`);
    }
    await this.#files.remove(this.#abs(path));
  }

  async #createExclusive(path: string, mode: number): Promise<RemoteWriter> {
    await this.#parent(path);
    try {
      return await this.#files.createWriter(this.#abs(path), "wx", mode);
    } catch {
      await this.#clear(path);
      return await this.#files.createWriter(this.#abs(path), "wx", mode);
    }
  }

  async writeFile(path: string, data: Uint8Array, meta: FileMeta): Promise<void> {
    const writer = await this.#createExclusive(path, meta.mode);
    await writer.write(data);
    await writer.close({ mode: meta.mode & 0o777, mtime: meta.mtime });
  }

  async createFile(path: string, meta: FileMeta): Promise<TargetFile> {
    const writer = await this.#createExclusive(path, meta.mode);
    const abs = this.#abs(path);
    return {
      write: (chunk) => writer.write(chunk),
      close: () => writer.close({ mode: meta.mode & 0o777, mtime: meta.mtime }),
      abort: async () => {
        await writer.abort();
        await this.#files.remove(abs).catch(() => {});
      },
    };
  }

  async symlink(path: string, linkTarget: string): Promise<void> {
    await this.#parent(path);
    const abs = this.#abs(path);
    if ((await this.#files.rawSymlink(linkTarget, abs)) === null) return;
    await this.#clear(path);
    const failure = await this.#files.rawSymlink(linkTarget, abs);
    if (failure !== null) throw remoteError(failure, "create symlink", abs);
  }

  async finishDir(path: string, meta: FileMeta): Promise<void> {
    const entry = await this.#files.stat(this.#abs(path));
    if (entry?.kind !== "dir") return;
    // Keep the directory writable for the owner, as the local target does.
    await this.#files.setAttributes(this.#abs(path), {
      mode: (meta.mode & 0o777) | 0o700,
      mtime: meta.mtime,
    });
  }

  async remove(path: string): Promise<void> {
    await this.#files.remove(this.#abs(path)).catch(() => {});
  }
}
