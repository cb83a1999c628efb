import type { ArchiveSource, EntryKind, SourceDirEntry, SourceEntry } from "./archive_source.ts";

/**
 * `ArchiveSource` over a directory of this host (shell executor, tests, bench).
 * Small operations use Deno's synchronous calls: per call they measured 3-10x
 * cheaper than the async ones (no thread-pool round trip), which dominates
 * when archiving tens of thousands of small files. Each call blocks the event
 * loop only for one syscall-sized step.
 */
export class LocalArchiveSource implements ArchiveSource {
  /** @param root absolute path of the tree's root */
  constructor(readonly root: string) {}

  #abs(path: string): string {
    return path === "" ? this.root : `${this.root}/${path}`;
  }

  stat(path: string): Promise<SourceEntry | null> {
    try {
      const info = Deno.lstatSync(this.#abs(path));
      const kind: EntryKind = info.isSymlink
        ? "symlink"
        : info.isDirectory
        ? "dir"
        : info.isFile
        ? "file"
        : "other";
      return Promise.resolve({
        kind,
        mode: (info.mode ?? (kind === "dir" ? 0o755 : 0o644)) & 0o7777,
        size: info.size,
        mtime: info.mtime ?? new Date(0),
      });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return Promise.resolve(null);
      }
      return Promise.reject(err);
    }
  }

  readDir(path: string): Promise<SourceDirEntry[]> {
    try {
      return Promise.resolve(this.#readDir(path));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #readDir(path: string): SourceDirEntry[] {
    const out: SourceDirEntry[] = [];
    for (const e of Deno.readDirSync(this.#abs(path))) {
      out.push({
        name: e.name,
        kind: e.isSymlink ? "symlink" : e.isDirectory ? "dir" : e.isFile ? "file" : "other",
      });
    }
    return out;
  }

  readFile(path: string): Promise<Uint8Array> {
    try {
      return Promise.resolve(Deno.readFileSync(this.#abs(path)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  readFileInto(path: string, buffer: Uint8Array): number {
    using file = Deno.openSync(this.#abs(path), { read: true });
    let length = 0;
    while (true) {
      if (length === buffer.length) {
        // Full: only fits if the file ends exactly here.
        const probe = new Uint8Array(1);
        return file.readSync(probe) === null ? length : -1;
      }
      const n = file.readSync(buffer.subarray(length));
      if (n === null) return length;
      length += n;
    }
  }

  readFileAt(path: string, offset: number, buffer: Uint8Array): number {
    using file = Deno.openSync(this.#abs(path), { read: true });
    file.seekSync(offset, Deno.SeekMode.Start);
    let length = 0;
    while (length < buffer.length) {
      const n = file.readSync(buffer.subarray(length));
      if (n === null) break;
      length += n;
    }
    return length;
  }

  async openFile(path: string): Promise<ReadableStream<Uint8Array>> {
    const file = await Deno.open(this.#abs(path), { read: true });
    return file.readable;
  }

  readLink(path: string): Promise<string> {
    try {
      return Promise.resolve(Deno.readLinkSync(this.#abs(path)));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
