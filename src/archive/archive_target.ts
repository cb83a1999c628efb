/**
 * The directory an archive is extracted into (the project directory). Paths
 * are relative, `/`-separated and already validated by the extractor: no `..`
 * segment, not absolute, not empty.
 *
 * Contract every implementation keeps, whatever the archive says: nothing is
 * ever written outside the root. A path component that is a symlink (one that
 * was extracted, or one that existed before) is never followed: `mkdir`,
 * `writeFile` and `createFile` reject with an error naming the component
 * instead. An existing file or symlink at the final path is replaced, never
 * written through. The local implementation verifies every parent with lstat
 * and creates files exclusively (O_CREAT|O_EXCL); SFTP and docker
 * implementations provide the same guarantee their own way.
 */
export interface ArchiveTarget {
  /**
   * True when every operation completes before it returns (the local disk):
   * the extractor then works on one entry at a time, since several at once
   * would overlap nothing and each would keep its own buffers.
   */
  readonly synchronous?: boolean;
  /** Creates a real directory and its missing parents; an existing directory is fine. */
  mkdir(path: string): Promise<void>;
  /**
   * Creates or replaces a regular file with `data`. Parents must exist (see
   * `mkdir`). The extractor reuses `data`'s memory once the promise settles:
   * copy it to keep it.
   */
  writeFile(path: string, data: Uint8Array, meta: FileMeta): Promise<void>;
  /** Like `writeFile`, for content that arrives in chunks. */
  createFile(path: string, meta: FileMeta): Promise<TargetFile>;
  /** Creates or replaces a symlink at `path` pointing at `linkTarget`. */
  symlink(path: string, linkTarget: string): Promise<void>;
  /**
   * Like `symlink` for each link, in order, for a target that creates many
   * links cheaper at once; the extractor uses it when present.
   */
  symlinks?(links: readonly SymlinkEntry[]): Promise<void>;
  /** Sets a directory's permission bits and mtime (after its content is written). */
  finishDir(path: string, meta: FileMeta): Promise<void>;
  /** Removes a file this extraction wrote (used when its content fails a check). */
  remove(path: string): Promise<void>;
}

export interface SymlinkEntry {
  path: string;
  linkTarget: string;
}

export interface FileMeta {
  /** Permission bits; implementations keep at most `0o777`. */
  mode: number;
  mtime: Date;
}

export interface TargetFile {
  /** `chunk`'s memory is reused once the promise settles, as with `writeFile`. */
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file and applies its mtime. */
  close(): Promise<void>;
  /** Closes and removes the partly written file; safe after close. */
  abort(): Promise<void>;
}
