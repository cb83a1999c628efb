import { LocalFileReader } from "../archive/local_file_reader.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { CacheBody, CacheSaveOptions, CacheStore } from "../cache/cache_store.ts";
import { fileSink } from "../archive/file_sink.ts";
import { readTar, tarEnd, type TarHeader, tarHeader, tarPadding } from "../archive/tar.ts";
import {
  type ContainerTarAccess,
  isContainerDir,
  isContainerSymlink,
  isNotFound,
} from "./container_tar_access.ts";

/**
 * `CacheStore` inside the job container (docker executor): the archive is
 * `<root>/<key>/cache.zip` on the container's cache volume (root =
 * `/cache/<project path>` by default), read and written with the Engine
 * archive API, as the official helper does from inside the container. A read
 * copies the archive to a host temp file (ZIP is read from its end); a save
 * spills the new archive to a host temp file first (a tar header needs the
 * size) and then sends `cache.zip` and `metadata.json` in one tar.
 *
 * Atomicity: the daemon replaces `cache.zip` by removing and rewriting it,
 * not by rename. Cache volumes belong to one project and concurrency slot
 * (docker/volume_names.ts), so no other job reads it meanwhile; a save that
 * fails half way leaves a torn archive, which the next restore reports as a
 * corrupt cache (a warning) and the next save replaces.
 */
export class ContainerCacheStore implements CacheStore {
  readonly #files: ContainerTarAccess;
  readonly #root: string;
  readonly #tempDir: string | undefined;

  constructor(files: ContainerTarAccess, root: string, options: { tempDir?: string } = {}) {
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

  async #tempFile(): Promise<string> {
    return await Deno.makeTempFile({
      prefix: "container-cache-",
      suffix: ".zip",
      ...(this.#tempDir === undefined ? {} : { dir: this.#tempDir }),
    });
  }

  async open(key: string): Promise<RandomAccessReader | null> {
    const path = `${this.#dir(key)}/cache.zip`;
    let tar: ReadableStream<Uint8Array>;
    try {
      tar = await this.#files.getTar(path);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const temp = await this.#tempFile();
    let found = false;
    try {
      const file = await Deno.open(temp, { write: true, truncate: true });
      try {
        await readTar(tar, async (header, data) => {
          if (found || header.name !== "cache.zip" || header.kind !== "file") return;
          found = true;
          await data(async (chunk) => {
            for (let o = 0; o < chunk.length;) o += await file.write(chunk.subarray(o));
          });
        });
      } finally {
        file.close();
      }
      if (!found) {
        await Deno.remove(temp).catch(() => {});
        return null;
      }
      const reader = await LocalFileReader.open(temp);
      return {
        get size() {
          return reader.size;
        },
        read: (offset, length) => reader.read(offset, length),
        close: async () => {
          await reader.close();
          await Deno.remove(temp).catch(() => {});
        },
      };
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
  }

  async modified(key: string): Promise<Date | null> {
    const stat = await this.#files.stat(`${this.#dir(key)}/cache.zip`);
    if (stat === null || isContainerDir(stat)) return null;
    const time = new Date(stat.mtime);
    return Number.isNaN(time.getTime()) ? new Date(0) : time;
  }

  /**
   * `alongside` reads the host temp file while the tar goes into the
   * container: an upload neither waits for that copy nor reads it back.
   */
  async save(
    key: string,
    humanKey: string,
    body: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const dir = this.#dir(key);
    const temp = await this.#tempFile();
    let reader: LocalFileReader | null = null;
    let alongside: Promise<void> = Promise.resolve();
    try {
      const file = await Deno.open(temp, { write: true, truncate: true });
      if (typeof body === "function") {
        try {
          await body(fileSink(file));
        } finally {
          file.close();
        }
      } else {
        await body.pipeTo(file.writable);
      }
      const size = (await Deno.stat(temp)).size;
      if (options.alongside) {
        reader = await LocalFileReader.open(temp);
        alongside = options.alongside(reader);
        // Awaited once the copy is done; its failure is not unhandled meanwhile.
        alongside.catch(() => {});
      }
      // The deepest directory that exists; the tar creates the rest below it.
      const parts = dir.split("/").filter((p) => p !== "");
      let anchor = parts.length;
      while (anchor > 0) {
        const path = `/${parts.slice(0, anchor).join("/")}`;
        const stat = await this.#files.stat(path);
        if (stat !== null) {
          if (isContainerSymlink(stat) || !isContainerDir(stat)) {
            throw new Error(`Cannot save cache in "${path}": it is not a directory`);
          }
          break;
        }
        anchor--;
      }
      const base = `/${parts.slice(0, anchor).join("/")}`;
      const below = parts.slice(anchor);
      const now = new Date();
      const entry = (name: string, kind: TarHeader["kind"], size = 0): TarHeader => ({
        name,
        kind,
        mode: kind === "dir" ? 0o755 : 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: now,
        linkTarget: "",
      });
      const prefix = below.join("/");
      const metadata = new TextEncoder().encode(JSON.stringify({ cachekey: humanKey }));
      const tar = async function* (): AsyncGenerator<Uint8Array> {
        for (let i = 1; i <= below.length; i++) {
          yield tarHeader(entry(below.slice(0, i).join("/"), "dir"));
        }
        const name = (n: string) => (prefix === "" ? n : `${prefix}/${n}`);
        yield tarHeader(entry(name("cache.zip"), "file", size));
        const data = await Deno.open(temp, { read: true });
        for await (const chunk of data.readable) yield chunk;
        yield tarPadding(size);
        yield tarHeader(entry(name("metadata.json"), "file", metadata.length));
        yield metadata;
        yield tarPadding(metadata.length);
        yield tarEnd();
      };
      await this.#files.putTar(base, ReadableStream.from(tar()));
      await alongside;
      return size;
    } finally {
      // After a failed copy too: the copy's error wins, and the reader stays open until then.
      await alongside.catch(() => {});
      await reader?.close();
      await Deno.remove(temp).catch(() => {});
    }
  }
}
