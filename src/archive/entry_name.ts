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

/**
 * Whether a symlink stored at `linkPath` with target `linkTarget` stays inside
 * the extraction root (the root itself counts as inside) once the archive's
 * other symlinks (`links`: path ->
 * target) exist on disk. Resolved like realpath(3): a component that is one
 * of those links is replaced by its target before the next `..` applies, so
 * `d/l1 -> ..` then `l2 -> d/l1/..` (lexically `d`, really the root's parent)
 * is outside. Chains longer than 40 links (ELOOP) count as outside.
 */
export function isLinkInside(
  linkPath: string,
  linkTarget: string,
  links: ReadonlyMap<string, string> = new Map(),
): boolean {
  let hops = 0;
  const resolve = (stack: string[], target: string): boolean => {
    if (target === "" || target.startsWith("/") || /^[A-Za-z]:/.test(target)) return false;
    for (const segment of target.replaceAll("\\", "/").split("/")) {
      if (segment === "" || segment === ".") continue;
      if (segment === "..") {
        if (stack.length === 0) return false;
        stack.pop();
        continue;
      }
      stack.push(segment);
      const next = links.get(stack.join("/"));
      if (next === undefined) continue;
      if (++hops > 40) return false;
      stack.pop();
      if (!resolve(stack, next)) return false;
    }
    return true;
  };
  return resolve(linkPath.split("/").slice(0, -1), linkTarget);
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
