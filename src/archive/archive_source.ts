/**
 * A read-only view of a directory tree (the project directory) that archives
 * are made from and artifact paths are matched against. Paths are relative to
 * the tree's root, `/`-separated, without a leading `./`; `""` is the root.
 *
 * The local implementation reads the host filesystem; ssh (SFTP) and docker
 * executors provide their own. No method follows a symlink: a symlink is
 * reported and archived as a symlink. Methods reject with `Deno.errors.NotFound`
 * (or an error whose `code` is `ENOENT`) when a path does not exist.
 */
export interface ArchiveSource {
  /** Like lstat(2). Resolves null when the path does not exist. */
  stat(path: string): Promise<SourceEntry | null>;
  /** Entries of a directory (names only, no `.`/`..`), in any order. */
  readDir(path: string): Promise<SourceDirEntry[]>;
  /** Whole content of a regular file; used for files up to a few MiB. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Optional, for sources that can read without waiting (the local disk):
   * reads a regular file into `buffer` and returns its length, or -1 when it
   * does not fit. The writer reuses one buffer for every small file instead of
   * allocating one per file, which kept peak memory down by tens of MiB over
   * 20k files. Throws like `readFile`.
   */
  readFileInto?(path: string, buffer: Uint8Array): number;
  /**
   * Optional, for sources that can read without waiting: fills `buffer` with
   * the file's bytes from `offset` and returns how many it read (fewer only at
   * the end of the file). The writer reads large files in blocks into a few
   * reused buffers this way; through `openFile` each block was new memory,
   * and 60 MB of large files drove the writer to 120 MiB. Throws like `readFile`.
   */
  readFileAt?(path: string, offset: number, buffer: Uint8Array): number;
  /** Content of a regular file as a stream; used for large files. */
  openFile(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Target of a symlink, as stored in the link. */
  readLink(path: string): Promise<string>;
}

export type EntryKind = "file" | "dir" | "symlink" | "other";

export interface SourceEntry {
  kind: EntryKind;
  /** Permission bits (`0o7777` range). */
  mode: number;
  size: number;
  mtime: Date;
}

export interface SourceDirEntry {
  name: string;
  kind: EntryKind;
}
