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
  return parts.join("/");
}

/**
 * Whether a symlink stored at `linkPath` with target `linkTarget` resolves
 * inside the extraction root (lexically; the root itself counts as inside).
 */
export function isLinkInside(linkPath: string, linkTarget: string): boolean {
  if (linkTarget === "" || linkTarget.startsWith("/") || /^[A-Za-z]:/.test(linkTarget)) {
    return false;
  }
  const stack = linkPath.split("/").slice(0, -1);
  for (const segment of linkTarget.replaceAll("\\", "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (stack.length === 0) return false;
      stack.pop();
    } else {
      stack.push(segment);
    }
  }
  return true;
}
