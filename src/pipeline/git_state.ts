/** The local repository as exec sees it; `local_project.ts` reads it with git. */
export interface GitState {
  /** HEAD commit; all zeros when the project is not a git repository or has no commit. */
  sha: string;
  /** HEAD's parent, or all zeros. */
  beforeSha: string;
  /** Current branch, or the tag HEAD points at when detached; "" when neither. */
  ref: string;
  refType: "branch" | "tag";
  /** `origin`'s default branch when known, else the current branch. */
  defaultBranch: string;
  commitMessage: string;
  commitAuthor: string;
  /** ISO 8601. */
  commitTimestamp: string;
  /**
   * Files that differ from HEAD (staged, unstaged, untracked), relative paths:
   * what `changes:` sees. Null when not read: exec reads them only for a
   * pipeline with `changes:` (`isReadingChanges`; `git diff` stats every
   * tracked file), and a `changes` rule given null fails as a bug.
   */
  changedFiles: string[] | null;
  /** `namespace/name` from the `origin` remote, or "" when there is none. */
  remotePath: string;
}

export const ZERO_SHA = "0000000000000000000000000000000000000000";
