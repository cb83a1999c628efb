import { LocalFileReader } from "../archive/local_file_reader.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import { fileSink } from "../archive/file_sink.ts";
import type { CacheBody, CacheStore } from "./cache_store.ts";

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

  async save(key: string, humanKey: string, body: CacheBody): Promise<number> {
    const dir = this.#dir(key);
    await Deno.mkdir(dir, { recursive: true });
    let size = 0;
    await replaceAtomically(dir, "cache.zip", async (file) => {
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
      for await (const chunk of body) {
        size += chunk.length;
        for (let o = 0; o < chunk.length;) o += await file.write(chunk.subarray(o));
      }
    });
    const metadata = new TextEncoder().encode(JSON.stringify({ cachekey: humanKey }));
    await replaceAtomically(dir, "metadata.json", async (file) => {
      await file.write(metadata);
    });
    return size;
  }
}

async function replaceAtomically(
  dir: string,
  name: string,
  write: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  const temp = await Deno.makeTempFile({ dir, prefix: `.${name}.`, suffix: ".tmp" });
  try {
    const file = await Deno.open(temp, { write: true, truncate: true });
    try {
      await write(file);
      // Data reaches the disk before the name does: a crash cannot leave an
      // empty cache.zip behind a complete-looking rename.
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, 0o644);
    await Deno.rename(temp, `${dir}/${name}`);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
}
