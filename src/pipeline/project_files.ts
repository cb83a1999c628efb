/**
 * Read access to the project exec runs, relative to its root. `local_project.ts`
 * implements it on disk; unit tests pass an in-memory fake.
 */
export interface ProjectFiles {
  /**
   * Text of the CI file `path` (relative, `/` separated); null when there is
   * no such file. Text that is not UTF-8 is a `CiConfigError` (`decodeCiText`).
   */
  readText(path: string): Promise<string | null>;
  /** Contents of `path`, any bytes (`cache:key:files`); null when there is no such file. */
  readBytes(path: string): Promise<Uint8Array | null>;
  /**
   * Every file of the project (relative paths, `/` separated, sorted): the
   * tracked and the untracked-but-not-ignored files, as `exists:` sees them.
   */
  listFiles(): Promise<string[]>;
}
