import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { ZipSink } from "../archive/zip_writer.ts";

/**
 * An archive to save: a stream (a download), or a writer that puts it into
 * the sink it is given (`writeZip`), which lets a store that writes a file
 * take the writer's reused buffers instead of a fresh array per chunk.
 */
export type CacheBody = ReadableStream<Uint8Array> | ((sink: ZipSink) => Promise<unknown>);

/**
 * Where cache archives live, by sanitised key (`/`-separated, relative, no
 * `..`). `LocalCacheStore` keeps them under the runner's cache dir; S3, GCS
 * and Azure stores come later behind the same interface.
 *
 * `save` is atomic per key: a reader sees the previous archive or the new
 * one, never a mix, even when two jobs save the same key at once (the last
 * to finish wins). A failed or cancelled save leaves the previous archive.
 */
export interface CacheStore {
  /** The archive for `key`, or null when there is none. The caller closes the reader. */
  open(key: string): Promise<RandomAccessReader | null>;
  /** When the archive for `key` was written, or null when there is none. */
  modified(key: string): Promise<Date | null>;
  /** Stores `body` as the archive for `key`, recording `humanKey` in its metadata; resolves with its size. */
  save(key: string, humanKey: string, body: CacheBody, options?: CacheSaveOptions): Promise<number>;
}

export interface CacheSaveOptions {
  /**
   * Runs once the archive is written in full, with a reader of a copy on
   * this host that the store closes afterwards, while the store commits the
   * archive (syncs and renames it, copies it into the job's container, or
   * finishes it on the remote host). An upload then waits for no commit and
   * reads nothing back from a container or over SFTP. `save` settles once both are done; it rejects with the
   * commit's error if there is one, else with this one's. The archive stays
   * stored when this fails.
   */
  alongside?: (archive: RandomAccessReader) => Promise<void>;
}
