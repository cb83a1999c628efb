import { LocalFileReader } from "../archive/local_file_reader.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import { fileSink } from "../archive/file_sink.ts";
import type { CacheBody, CacheSaveOptions, CacheStore } from "./cache_store.ts";

/**
 * `CacheStore` on this host (§10.2): `<root>/<key>/cache.zip` plus
 * `<root>/<key>/metadata.json` = `{"cachekey": "<human key>"}`, where root is
 * `<cache_dir>/<project path>`. Saves go to a temp file in the key's own
 * directory and are renamed over `cache.zip` (rename(2) is atomic within a
 * filesystem), so concurrent saves and reads never see a torn archive.
 */
export class LocalCacheStore implements CacheStore {
  constructor(readonly root: string) {}

  #dir(key: string): string {
    // Keys are sanitised by cache_key.ts; refuse anything else outright.
    if (
      key === "" || key.startsWith("/") ||
      key.split("/").some((s) => s === ".." || s === "." || s === "")
    ) {
      throw new TypeError(`Cache key ${JSON.stringify(key)} is not a sanitised key`);
    }
    return `${this.root}/${key}`;
  }

  /** Path of the archive for `key` (for logs and tests). */
  archivePath(key: string): string {
    return `${this.#dir(key)}/cache.zip`;
  }

  async open(key: string): Promise<RandomAccessReader | null> {
    try {
      return await LocalFileReader.open(this.archivePath(key));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  async modified(key: string): Promise<Date | null> {
    try {
      return (await Deno.stat(this.archivePath(key))).mtime;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  async save(
    key: string,
    humanKey: string,
    body: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const dir = this.#dir(key);
    await Deno.mkdir(dir, { recursive: true });
    let size = 0;
    const metadata = new TextEncoder().encode(JSON.stringify({ cachekey: humanKey }));
    await replaceAtomically(dir, "cache.zip", {
      write: async (file) => {
        if (typeof body === "function") {
          const sink = fileSink(file);
          await body({
            write(bytes) {
              size += bytes.length;
              return sink.write(bytes);
            },
          });
          return;
        }
        size = await writeStream(file, body);
      },
      // The metadata is committed with the archive, before `alongside` is waited for.
      committed: () =>
        replaceAtomically(dir, "metadata.json", {
          write: async (file) => {
            await file.write(metadata);
          },
        }),
      ...(options.alongside ? { alongside: options.alongside } : {}),
    });
    return size;
  }
}

/** A download is read into a buffer of this size, reused for the whole stream. */
const READ_BUFFER = 1 << 20;

/**
 * Writes `body` to `file`; resolves with its length. A byte stream (fetch's
 * body) is read into one reused buffer (a BYOB reader): as many bytes as have
 * arrived per read, no array per chunk. Writes are synchronous, one write(2)
 * each, as in `fileSink`. The cache_s3 bench's 3.6 MB download went from 64
 * KiB chunks, each a fresh array and a thread-pool write, to a few large
 * writes: its body time about halved.
 */
async function writeStream(file: Deno.FsFile, body: ReadableStream<Uint8Array>): Promise<number> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch (err) {
    // Not a byte stream (a transform in between, e.g. the transfer meter).
    if (!(err instanceof TypeError)) throw err;
    let size = 0;
    for await (const chunk of body) {
      writeAllSync(file, chunk);
      size += chunk.length;
    }
    return size;
  }
  let size = 0;
  let buffer = new Uint8Array(READ_BUFFER);
  try {
    while (true) {
      const { done, value } = await reader.read(buffer);
      if (done || value === undefined) break;
      writeAllSync(file, value);
      size += value.length;
      // The read took the buffer over (transferred it); this is it again.
      buffer = new Uint8Array(value.buffer);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
  return size;
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
}

interface Replacement {
  write(file: Deno.FsFile): Promise<void>;
  /** After the rename. */
  committed?: () => Promise<void>;
  /** With a reader of the written file, while it is synced and renamed (CacheSaveOptions). */
  alongside?: (written: RandomAccessReader) => Promise<void>;
}

/**
 * Writes `<dir>/<name>` by way of a temp file, synced and renamed over it.
 * `alongside` reads the temp file while that happens: the sync (a thread-pool
 * call) and an upload run at once, and the upload opens no file again.
 */
async function replaceAtomically(dir: string, name: string, how: Replacement): Promise<void> {
  const temp = await Deno.makeTempFile({ dir, prefix: `.${name}.`, suffix: ".tmp" });
  let reader: LocalFileReader | null = null;
  let alongside: Promise<void> = Promise.resolve();
  let renamed = false;
  try {
    const file = await Deno.open(temp, { write: true, truncate: true });
    try {
      await how.write(file);
      if (how.alongside) {
        reader = await LocalFileReader.open(temp);
        alongside = how.alongside(reader);
        // Awaited once the archive is committed; its failure is not unhandled meanwhile.
        alongside.catch(() => {});
      }
      // Data reaches the disk before the name does: a crash cannot leave an
      // empty cache.zip behind a complete-looking rename.
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, 0o644);
    await Deno.rename(temp, `${dir}/${name}`);
    renamed = true;
    await how.committed?.();
  } catch (err) {
    if (!renamed) await Deno.remove(temp).catch(() => {});
    await alongside.catch(() => {});
    await reader?.close();
    throw err;
  }
  try {
    await alongside;
  } finally {
    await reader?.close();
  }
}
