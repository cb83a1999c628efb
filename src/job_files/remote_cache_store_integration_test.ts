/**
 * The remote (ssh) cache store under a distributed cache, over an in-memory
 * remote host: the upload reads this host's copy of the new archive, never the
 * remote one back over SFTP. An integration test: the copy is a temp file.
 */
import assert from "node:assert/strict";
import { BytesReader, type RandomAccessReader } from "../archive/random_access_reader.ts";
import type { SourceEntry } from "../archive/archive_source.ts";
import { craftZip } from "../archive/crafted_zip.ts";
import { DistributedCacheStore } from "../cache/distributed_cache_store.ts";
import { type RemoteFileAccess, RemoteJobFiles } from "./remote_job_files.ts";

/** A remote host's files in memory; counts what is read back. */
class MemoryRemote implements RemoteFileAccess {
  readonly files = new Map<string, Uint8Array>();
  readonly readBack: string[] = [];
  stat(path: string): Promise<SourceEntry | null> {
    const data = this.files.get(path);
    return Promise.resolve(
      data ? { kind: "file", mode: 0o644, size: data.length, mtime: new Date() } : null,
    );
  }
  readFile(path: string): Promise<Uint8Array> {
    this.readBack.push(path);
    const data = this.files.get(path);
    return data ? Promise.resolve(data) : Promise.reject(new Deno.errors.NotFound(path));
  }
  archiveSource(): never {
    throw new TypeError("not used");
  }
  archiveTarget(): never {
    throw new TypeError("not used");
  }
  openReader(path: string): Promise<RandomAccessReader> {
    this.readBack.push(path);
    const data = this.files.get(path);
    return data
      ? Promise.resolve(new BytesReader(data))
      : Promise.reject(new Deno.errors.NotFound(path));
  }
  async writeAtomic(path: string, data: ReadableStream<Uint8Array> | Uint8Array): Promise<void> {
    const bytes = data instanceof Uint8Array
      ? data
      : new Uint8Array(await new Response(data).arrayBuffer());
    this.files.set(path, bytes);
  }
}

function distributed(remote: MemoryRemote, tempDir: string, put: (bytes: Uint8Array) => void) {
  return new DistributedCacheStore({
    local: new RemoteJobFiles(() => remote, { tempDir }).cacheStore("/cache/acme/widget"),
    urls: {
      presign: (key, method) =>
        Promise.resolve({ url: `http://s3.test/b/${key}?${method}`, headers: {} }),
    },
    transfer: {
      get: () => Promise.reject(new Error("no download expected")),
      put: async (_request, body) => {
        put(await body.read(0, body.size));
        return { status: 200, headers: new Headers(), text: "" };
      },
    },
    maxUploadedArchiveSize: 0,
    log: () => {},
    signal: new AbortController().signal,
  });
}

Deno.test("a distributed cache over the remote (ssh) store uploads this host's copy of a new archive: nothing is read back over SFTP", async () => {
  const tempDir = await Deno.makeTempDir({ prefix: "remote-cache-it-" });
  try {
    const remote = new MemoryRemote();
    const uploads: Uint8Array[] = [];
    const store = distributed(remote, tempDir, (bytes) => uploads.push(bytes));
    const archive = craftZip([{ name: "vendor/lib.txt", content: "cached" }]);
    assert.equal(
      await store.save("deps/main", "deps/main", ReadableStream.from([archive])),
      archive.length,
    );
    assert.deepEqual(uploads, [archive]);
    assert.deepEqual(remote.readBack, []);
    assert.deepEqual(remote.files.get("/cache/acme/widget/deps/main/cache.zip"), archive);
    assert.equal(
      new TextDecoder().decode(remote.files.get("/cache/acme/widget/deps/main/metadata.json")),
      '{"cachekey":"deps/main"}',
    );
    // The copy is gone once the save is done.
    assert.deepEqual([...Deno.readDirSync(tempDir)], []);
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
});

Deno.test("the remote (ssh) store: a failed remote write is the save's error, after the upload has finished with the copy", async () => {
  const tempDir = await Deno.makeTempDir({ prefix: "remote-cache-it-" });
  try {
    const remote = new MemoryRemote();
    remote.writeAtomic = async (_path, data) => {
      if (!(data instanceof Uint8Array)) await new Response(data).arrayBuffer();
      throw new Error("SFTP write failed: no space left on device");
    };
    const uploads: Uint8Array[] = [];
    const store = distributed(remote, tempDir, (bytes) => uploads.push(bytes));
    const archive = craftZip([{ name: "a.txt", content: "a" }]);
    await assert.rejects(
      store.save("deps/main", "deps/main", ReadableStream.from([archive])),
      /no space left on device/,
    );
    assert.deepEqual([...Deno.readDirSync(tempDir)], []);
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
});
