/** A CacheStore in memory, for the distributed cache's tests: archives by key, dated by `clock`. */
import { BytesReader, type RandomAccessReader } from "../archive/random_access_reader.ts";
import { sinkStream } from "../archive/sink_stream.ts";
import type { CacheBody, CacheSaveOptions, CacheStore } from "./cache_store.ts";

export class MemoryStore implements CacheStore {
  readonly archives = new Map<string, { bytes: Uint8Array; at: Date }>();
  constructor(readonly clock: () => Date) {}
  open(key: string): Promise<RandomAccessReader | null> {
    const a = this.archives.get(key);
    return Promise.resolve(a ? new BytesReader(a.bytes) : null);
  }
  modified(key: string): Promise<Date | null> {
    return Promise.resolve(this.archives.get(key)?.at ?? null);
  }
  async save(
    key: string,
    _human: string,
    body: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const stream = typeof body === "function" ? sinkStream(body) : body;
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    this.archives.set(key, { bytes, at: this.clock() });
    await options.alongside?.(new BytesReader(bytes));
    return bytes.length;
  }
}
