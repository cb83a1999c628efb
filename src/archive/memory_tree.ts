/**
 * A directory tree in memory that is both an `ArchiveSource` and an
 * `ArchiveTarget`: the small fake unit tests use in place of a filesystem.
 * It keeps the target contract (never writes through a symlink) so tests of
 * the extractor exercise the same refusals a real target gives.
 */
import type { ArchiveSource, EntryKind, SourceDirEntry, SourceEntry } from "./archive_source.ts";
import type { ArchiveTarget, FileMeta, TargetFile } from "./archive_target.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";

export type MemoryNode =
  | { kind: "file"; data: Uint8Array; mode: number; mtime: Date }
  | { kind: "dir"; mode: number; mtime: Date }
  | { kind: "symlink"; target: string; mtime: Date };

export class MemoryTree implements ArchiveSource, ArchiveTarget {
  readonly nodes = new Map<string, MemoryNode>([["", {
    kind: "dir",
    mode: 0o755,
    mtime: new Date(0),
  }]]);

  /** Adds a file (and its parent directories) for a test to archive. */
  addFile(
    path: string,
    content: string | Uint8Array,
    mode = 0o644,
    mtime = new Date("2024-01-02T03:04:06Z"),
  ): this {
    this.#ensureParents(path);
    const data = typeof content === "string" ? new TextEncoder().encode(content) : content;
    this.nodes.set(path, { kind: "file", data, mode, mtime });
    return this;
  }

  addDir(path: string, mode = 0o755, mtime = new Date("2024-01-02T03:04:06Z")): this {
    this.#ensureParents(path);
    this.nodes.set(path, { kind: "dir", mode, mtime });
    return this;
  }

  addSymlink(path: string, target: string): this {
    this.#ensureParents(path);
    this.nodes.set(path, { kind: "symlink", target, mtime: new Date("2024-01-02T03:04:06Z") });
    return this;
  }

  text(path: string): string | undefined {
    const node = this.nodes.get(path);
    return node?.kind === "file" ? new TextDecoder().decode(node.data) : undefined;
  }

  #ensureParents(path: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!this.nodes.has(dir)) {
        this.nodes.set(dir, { kind: "dir", mode: 0o755, mtime: new Date(0) });
      }
    }
  }

  // ArchiveSource

  stat(path: string): Promise<SourceEntry | null> {
    const node = this.nodes.get(path);
    if (!node) return Promise.resolve(null);
    return Promise.resolve({
      kind: node.kind as EntryKind,
      mode: node.kind === "symlink" ? 0o777 : node.mode,
      size: node.kind === "file"
        ? node.data.length
        : node.kind === "symlink"
        ? node.target.length
        : 0,
      mtime: node.mtime,
    });
  }

  readDir(path: string): Promise<SourceDirEntry[]> {
    const prefix = path === "" ? "" : `${path}/`;
    const out: SourceDirEntry[] = [];
    for (const [p, node] of this.nodes) {
      if (p === "" || !p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      if (rest.includes("/")) continue;
      out.push({ name: rest, kind: node.kind });
    }
    return Promise.resolve(out);
  }

  readFile(path: string): Promise<Uint8Array> {
    const node = this.nodes.get(path);
    if (node?.kind !== "file") return Promise.reject(new Deno.errors.NotFound(path));
    return Promise.resolve(node.data);
  }

  openFile(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.readFile(path).then((data) => {
      const chunk = 64 << 10;
      let o = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (o >= data.length) controller.close();
          else {
            controller.enqueue(data.slice(o, o + chunk));
            o += chunk;
          }
        },
      });
    });
  }

  readLink(path: string): Promise<string> {
    const node = this.nodes.get(path);
    if (node?.kind !== "symlink") return Promise.reject(new Deno.errors.NotFound(path));
    return Promise.resolve(node.target);
  }

  // ArchiveTarget

  #checkParents(path: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const node = this.nodes.get(dir);
      if (node?.kind === "symlink") {
        throw new ArchiveError(
          path,
          `Cannot extract into ${
            quoteEntry(dir)
          }: it is a symlink in the target directory, which is never followed`,
        );
      }
      if (node && node.kind !== "dir") {
        throw new ArchiveError(
          path,
          `Cannot extract into ${quoteEntry(dir)}: it exists and is not a directory`,
        );
      }
      if (!node) {
        throw new Error(`Parent ${quoteEntry(dir)} of ${quoteEntry(path)} was not created first`);
      }
    }
  }

  #replaceable(path: string): void {
    if (this.nodes.get(path)?.kind === "dir") {
      throw new ArchiveError(path, `Cannot extract ${quoteEntry(path)}: a directory is in the way`);
    }
  }

  mkdir(path: string): Promise<void> {
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const node = this.nodes.get(dir);
      if (!node) this.nodes.set(dir, { kind: "dir", mode: 0o755, mtime: new Date() });
      else if (node.kind === "symlink") {
        return Promise.reject(
          new ArchiveError(
            path,
            `Cannot extract into ${
              quoteEntry(dir)
            }: it is a symlink in the target directory, which is never followed`,
          ),
        );
      } else if (node.kind !== "dir") {
        return Promise.reject(
          new ArchiveError(
            path,
            `Cannot extract into ${quoteEntry(dir)}: it exists and is not a directory`,
          ),
        );
      }
    }
    return Promise.resolve();
  }

  writeFile(path: string, data: Uint8Array, meta: FileMeta): Promise<void> {
    try {
      this.#checkParents(path);
      this.#replaceable(path);
      this.nodes.set(path, {
        kind: "file",
        data: data.slice(),
        mode: meta.mode & 0o777,
        mtime: meta.mtime,
      });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  createFile(path: string, meta: FileMeta): Promise<TargetFile> {
    try {
      this.#checkParents(path);
      this.#replaceable(path);
    } catch (err) {
      return Promise.reject(err);
    }
    const chunks: Uint8Array[] = [];
    const node = {
      kind: "file" as const,
      data: new Uint8Array(0),
      mode: meta.mode & 0o777,
      mtime: meta.mtime,
    };
    this.nodes.set(path, node);
    return Promise.resolve({
      write: (chunk: Uint8Array) => {
        chunks.push(chunk.slice());
        return Promise.resolve();
      },
      close: () => {
        const size = chunks.reduce((n, c) => n + c.length, 0);
        const data = new Uint8Array(size);
        let o = 0;
        for (const c of chunks) {
          data.set(c, o);
          o += c.length;
        }
        node.data = data;
        return Promise.resolve();
      },
      abort: () => {
        this.nodes.delete(path);
        return Promise.resolve();
      },
    });
  }

  symlink(path: string, linkTarget: string): Promise<void> {
    try {
      this.#checkParents(path);
      this.#replaceable(path);
      this.nodes.set(path, { kind: "symlink", target: linkTarget, mtime: new Date() });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  finishDir(path: string, meta: FileMeta): Promise<void> {
    const node = this.nodes.get(path);
    if (node?.kind === "dir") {
      node.mode = (meta.mode & 0o777) | 0o700;
      node.mtime = meta.mtime;
    }
    return Promise.resolve();
  }

  remove(path: string): Promise<void> {
    this.nodes.delete(path);
    return Promise.resolve();
  }
}
