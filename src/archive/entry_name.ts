import { ArchiveError, quoteEntry } from "./archive_error.ts";

/**
 * Turns an archive member name into a safe relative path, or throws an
 * `ArchiveError` naming it. Backslashes count as separators (archives made on
 * Windows use them, and `..\x` must not slip through); `.` and empty segments
 * are dropped. Rejected outright rather than "fixed": absolute paths, drive
 * letters, any `..` segment, NUL bytes, names that reduce to nothing.
 */
export function normalizeEntryName(raw: string): string {
  if (raw.includes("\0")) {
    throw new ArchiveError(raw, `Entry ${quoteEntry(raw)} has a NUL byte in its name`);
  }
  const slashed = raw.replaceAll("\\", "/");
  if (slashed.startsWith("/")) {
    throw new ArchiveError(raw, `Entry ${quoteEntry(raw)} has an absolute path`);
  }
  if (/^[A-Za-z]:/.test(slashed)) {
    throw new ArchiveError(raw, `Entry ${quoteEntry(raw)} has a drive letter`);
  }
  const parts: string[] = [];
  for (const segment of slashed.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      throw new ArchiveError(
        raw,
        `Entry ${
          quoteEntry(raw)
        } has a ".." segment: it would be written outside the target directory`,
      );
    }
    parts.push(segment);
  }
  if (parts.length === 0) {
    throw new ArchiveError(raw, `Entry ${quoteEntry(raw)} has an empty path`);
  }
  const name = parts.join("/");
  // The archive's own string when nothing changed: 20k entries keep one copy, not two.
  return name === raw ? raw : name;
}

/** Whether a normalized relative path is in the project's `.git` directory. */
export function isGitPath(path: string): boolean {
  return path === ".git" || path.startsWith(".git/");
}

/**
 * The official runner's job-log warning when an archive takes or brings
 * `.git` paths (helpers/archives/path_check_helper.go): they are archived or
 * extracted all the same.
 */
export function gitPathWarning(
  operation: "archive" | "extract",
  warn: ((message: string) => void) | undefined,
): void {
  warn?.(`Part of .git directory is on the list of files to ${operation}`);
  warn?.("This may introduce unexpected problems");
}
