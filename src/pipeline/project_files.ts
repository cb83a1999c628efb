/**
 * Read access to the project exec runs, relative to its root. `local_project.ts`
 * implements it on disk; unit tests pass an in-memory fake.
 */
export interface ProjectFiles {
  /** Text of `path` (relative, `/` separated); null when there is no such file. */
  readText(path: string): Promise<string | null>;
  /**
   * Every file of the project (relative paths, `/` separated, sorted): the
   * tracked and the untracked-but-not-ignored files, as `exists:` sees them.
   */
  listFiles(): Promise<string[]>;
}
