import type { ArchiveSource, SourceDirEntry, SourceEntry } from "../archive/archive_source.ts";
import { readTar } from "../archive/tar.ts";
import { type ContainerTarAccess, isNotFound } from "./container_tar_access.ts";

interface Node {
  entry: SourceEntry;
  linkTarget: string;
  /** Where the file's bytes start in the spill file. */
  offset: number;
}

/**
 * An `ArchiveSource` over a directory of a container: one `GET archive` of
 * the whole directory, its file contents spilled into a host temp file and
 * indexed, so file selection and archiving make no further daemon calls.
 * It shows the directory as it was when opened (the job's processes have
 * finished by then). Costs one host-side copy of the directory; close
 * removes it. The spill is on the local disk, so files are also read
 * without waiting (`readFileInto`, `readFileAt`): the zip writer then reuses
 * its buffers, and FF_USE_FASTZIP compresses on several threads.
 */
export class ContainerSnapshot implements ArchiveSource {
  readonly #nodes = new Map<string, Node>();
  readonly #children = new Map<string, SourceDirEntry[]>();
  readonly #spill: string;
  /** The spill, opened once for the synchronous reads. */
  #reader: Deno.FsFile | null = null;

  private constructor(spill: string) {
    this.#spill = spill;
  }

  /** Copies `dir` out of the container; an absent `dir` gives an empty tree. */
  static async open(
    files: ContainerTarAccess,
    dir: string,
    options: { tempDir?: string; signal?: AbortSignal } = {},
  ): Promise<ContainerSnapshot> {
    const spill = await Deno.makeTempFile({
      prefix: "container-snapshot-",
      ...(options.tempDir === undefined ? {} : { dir: options.tempDir }),
    });
    const snapshot = new ContainerSnapshot(spill);
    try {
      await snapshot.#load(files, dir, options.signal);
      return snapshot;
    } catch (err) {
      await snapshot.close();
      throw err;
    }
  }

  async #load(files: ContainerTarAccess, dir: string, signal?: AbortSignal): Promise<void> {
    let tar: ReadableStream<Uint8Array>;
    try {
      tar = await files.getTar(dir);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const base = dir.replace(/\/+$/, "").split("/").pop() || ".";
    const file = await Deno.open(this.#spill, { write: true, truncate: true });
    let offset = 0;
    try {
      await readTar(tar, async (header, data) => {
        signal?.throwIfAborted();
        // Names are `<base>` and `<base>/<relative path>`, as `docker cp` makes them.
        let path: string;
        if (header.name === base) path = "";
        else if (header.name.startsWith(`${base}/`)) path = header.name.slice(base.length + 1);
        else return;
        if (path.split("/").some((s) => s === ".." || s === "." || s === "")) {
          if (path !== "") return;
        }
        const node: Node = {
          entry: { kind: header.kind, mode: header.mode, size: header.size, mtime: header.mtime },
          linkTarget: header.linkTarget,
          offset,
        };
        if (header.kind === "file") {
          await data(async (chunk) => {
            for (let o = 0; o < chunk.length;) o += await file.write(chunk.subarray(o));
          });
          offset += header.size;
        }
        this.#nodes.set(path, node);
        if (path !== "") {
          const slash = path.lastIndexOf("/");
          const parent = slash < 0 ? "" : path.slice(0, slash);
          let list = this.#children.get(parent);
          if (!list) this.#children.set(parent, list = []);
          list.push({ name: path.slice(slash + 1), kind: header.kind });
        }
      });
    } finally {
      file.close();
    }
  }

  #node(path: string): Node {
    const node = this.#nodes.get(path);
    if (!node) throw new Deno.errors.NotFound(`No "${path}" in the container's directory`);
    return node;
  }

  stat(path: string): Promise<SourceEntry | null> {
    return Promise.resolve(this.#nodes.get(path)?.entry ?? null);
  }

  readDir(path: string): Promise<SourceDirEntry[]> {
    try {
      const node = this.#node(path);
      if (node.entry.kind !== "dir") throw new Error(`"${path}" is not a directory`);
      return Promise.resolve([...(this.#children.get(path) ?? [])]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    const node = this.#node(path);
    const out = new Uint8Array(node.entry.size);
    const file = await Deno.open(this.#spill, { read: true });
    try {
      await file.seek(node.offset, Deno.SeekMode.Start);
      for (let got = 0; got < out.length;) {
        const n = await file.read(out.subarray(got));
        if (n === null) throw new Error(`Snapshot of "${path}" is truncated`);
        got += n;
      }
    } finally {
      file.close();
    }
    return out;
  }

  readFileInto(path: string, buffer: Uint8Array): number {
    const node = this.#node(path);
    if (node.entry.size > buffer.length) return -1;
    this.#readAt(path, node.offset, buffer.subarray(0, node.entry.size));
    return node.entry.size;
  }

  readFileAt(path: string, offset: number, buffer: Uint8Array): number {
    const node = this.#node(path);
    const length = Math.max(0, Math.min(buffer.length, node.entry.size - offset));
    this.#readAt(path, node.offset + offset, buffer.subarray(0, length));
    return length;
  }

  /** Fills `into` from the spill at `at`. */
  #readAt(path: string, at: number, into: Uint8Array): void {
    this.#reader ??= Deno.openSync(this.#spill, { read: true });
    this.#reader.seekSync(at, Deno.SeekMode.Start);
    for (let got = 0; got < into.length;) {
      const n = this.#reader.readSync(into.subarray(got));
      if (n === null) throw new Error(`Snapshot of "${path}" is truncated`);
      got += n;
    }
  }

  async openFile(path: string): Promise<ReadableStream<Uint8Array>> {
    const node = this.#node(path);
    const file = await Deno.open(this.#spill, { read: true });
    await file.seek(node.offset, Deno.SeekMode.Start);
    let left = node.entry.size;
    const close = () => {
      try {
        file.close();
      } catch { /* already closed */ }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (left === 0) {
          close();
          controller.close();
          return;
        }
        const buf = new Uint8Array(Math.min(left, 256 * 1024));
        const n = await file.read(buf);
        if (n === null) {
          close();
          controller.error(new Error(`Snapshot of "${path}" is truncated`));
          return;
        }
        left -= n;
        controller.enqueue(buf.subarray(0, n));
      },
      cancel: close,
    });
  }

  readLink(path: string): Promise<string> {
    try {
      return Promise.resolve(this.#node(path).linkTarget);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async close(): Promise<void> {
    this.#reader?.close();
    this.#reader = null;
    await Deno.remove(this.#spill).catch(() => {});
  }
}
