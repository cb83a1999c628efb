/**
 * Which files an artifact or cache entry takes, decided as GitLab's runner
 * decides it: `paths` are doublestar globs relative to the project dir (an
 * absolute path inside it works too), a matched directory brings everything
 * below it, symlinks are taken as links and never followed (nor is a path
 * through a symlinked directory taken: "link/x" is refused), `untracked` adds
 * what `git ls-files -o` lists, and `exclude` globs drop single paths. Paths
 * leading outside the project are ignored with a warning. The job log gets
 * the official lines ("found N matching artifact files and directories",
 * "no matching files. Ensure that…").
 */
import { posix } from "node:path";
import type { ArchiveSource, EntryKind } from "../archive/archive_source.ts";
import type { JobLogSink } from "../archive/log_sink.ts";
import type { CommandRunner } from "./command_runner.ts";
import { compilePattern, maxDepth, type PathMatcher, splitPattern } from "./glob_pattern.ts";

export interface FileSelectionSpec {
  paths: readonly string[];
  exclude: readonly string[];
  untracked: boolean;
}

export interface FileSelectionContext {
  /** The project directory's tree. */
  source: ArchiveSource;
  /** The project directory as the job sees it; absolute; used for absolute patterns and messages. */
  projectDir: string;
  /** Runs `git ls-files` in the project directory; needed when `untracked` is set. */
  git?: CommandRunner;
  log: JobLogSink;
}

/** Selected paths relative to the project dir, sorted, directories included. */
export async function selectFiles(
  spec: FileSelectionSpec,
  ctx: FileSelectionContext,
): Promise<string[]> {
  const projectDir = posix.normalize(ctx.projectDir).replace(/\/+$/, "") || "/";
  const selected = new Map<string, EntryKind>();
  const excludes: { rule: string; match: PathMatcher }[] = [];
  for (const rule of spec.exclude) {
    if (rule === "") {
      ctx.log("WARNING: isExcluded: exclude path is empty: it excludes nothing");
      continue;
    }
    const rel = relativeInProject(rule.replaceAll("\\", "/"), projectDir);
    if (rel === null) {
      ctx.log(`WARNING: isExcluded: artifact path is not a subpath of project directory: ${rule}`);
      continue;
    }
    // The project directory itself, which is never taken: nothing to exclude
    // (and no pattern to compile; picomatch throws on "").
    if (rel === "") continue;
    excludes.push({ rule, match: compilePattern(rel) });
  }
  const excludedCounts = new Map<string, number>();
  /** Directories known to be reached without passing a symlink. */
  const linkFree = new Set<string>([""]);

  /** Adds one existing path unless excluded; says whether it counted as found. */
  const take = (path: string, kind: EntryKind): boolean => {
    const rule = excludes.find((e) => e.match(path));
    if (rule) {
      excludedCounts.set(rule.rule, (excludedCounts.get(rule.rule) ?? 0) + 1);
      return false;
    }
    if (kind === "other") return false;
    selected.set(path, kind);
    return true;
  };

  for (const raw of spec.paths) {
    // A variable that expanded to nothing: the official helper takes
    // nothing for it (it would otherwise be the whole project directory).
    if (raw === "") {
      ctx.log("WARNING: No matching files. Path is empty.");
      continue;
    }
    // No file has such a name; the file system would refuse to look.
    if (raw.includes("\0")) {
      ctx.log(
        `WARNING: ${JSON.stringify(raw)}: no matching files: a path cannot contain a NUL byte`,
      );
      continue;
    }
    const pattern = raw.replaceAll("\\", "/");
    const { base, glob } = splitPattern(pattern);
    const relBase = relativeInProject(base === "" ? "." : base, projectDir);
    if (relBase === null) {
      ctx.log(`WARNING: processPath: artifact path is not a subpath of project directory: ${raw}`);
      continue;
    }
    const shown = glob === "" ? (relBase || ".") : relBase === "" ? glob : `${relBase}/${glob}`;
    // lstat(2) follows every component but the last, so "link/secret" with
    // link -> /etc would read /etc/secret: a path through a symlink is refused.
    const link = await symlinkOnTheWay(ctx.source, relBase, linkFree);
    if (link !== null) {
      ctx.log(
        `WARNING: ${shown}: "${link}" is a symlink, and artifact paths never lead through one`,
      );
      continue;
    }
    let found = 0;
    for (const match of await matchPattern(ctx.source, relBase, glob)) {
      found += await walk(ctx.source, match.path, match.kind, take);
    }
    if (found === 0) {
      ctx.log(
        `WARNING: ${shown}: no matching files. Ensure that the artifact path is relative to the working directory (${projectDir})`,
      );
    } else {
      ctx.log(`${shown}: found ${found} matching artifact files and directories`);
    }
  }

  if (spec.untracked) await addUntracked(ctx, take, linkFree);

  for (const [rule, count] of excludedCounts) ctx.log(`${rule}: excluded ${count} files`);
  return [...selected.keys()].sort();
}

async function addUntracked(
  ctx: FileSelectionContext,
  take: (path: string, kind: EntryKind) => boolean,
  linkFree: Set<string>,
): Promise<void> {
  if (!ctx.git) {
    ctx.log("WARNING: untracked: no git command runner available");
    return;
  }
  // Like the official runner: -o without --exclude-standard, so files that
  // .gitignore hides (build output) count as untracked too.
  let listing: string;
  try {
    const result = await ctx.git.run(["git", "ls-files", "-o", "-z"]);
    if (!result.success) {
      ctx.log(`WARNING: untracked: git ls-files failed: ${result.stderr.trim()}`);
      return;
    }
    listing = new TextDecoder().decode(result.stdout);
  } catch (err) {
    ctx.log(`WARNING: untracked: ${err instanceof Error ? err.message : err}`);
    return;
  }
  let found = 0;
  for (const path of listing.split("\0")) {
    if (path === "") continue;
    const rel = posix.normalize(path).replace(/\/+$/, "");
    if (rel === ".." || rel.startsWith("../") || rel.startsWith("/")) continue;
    if (await symlinkOnTheWay(ctx.source, rel, linkFree) !== null) continue;
    const entry = await ctx.source.stat(rel);
    if (entry !== null && take(rel, entry.kind)) found++;
  }
  if (found === 0) ctx.log("WARNING: untracked: no files");
  else ctx.log(`untracked: found ${found} files`);
}

interface Match {
  path: string;
  kind: EntryKind;
}

/** Paths below `relBase` that the pattern names, not walked into yet. */
async function matchPattern(
  source: ArchiveSource,
  relBase: string,
  glob: string,
): Promise<Match[]> {
  const baseEntry = await source.stat(relBase);
  if (baseEntry === null) return [];
  if (glob === "") return [{ path: relBase, kind: baseEntry.kind }];
  if (baseEntry.kind !== "dir") return [];
  const matcher = compilePattern(relBase === "" ? glob : `${relBase}/${glob}`);
  const depthLimit = maxDepth(glob);
  const matches: Match[] = [];
  if (relBase !== "" && matcher(relBase)) matches.push({ path: relBase, kind: "dir" });
  const visit = async (dir: string, depth: number) => {
    const entries = await source.readDir(dir);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = dir === "" ? e.name : `${dir}/${e.name}`;
      if (matcher(path)) matches.push({ path, kind: e.kind });
      // Never descend through a symlink: it may lead out of the project.
      if (e.kind === "dir" && depth + 1 < depthLimit) await visit(path, depth + 1);
    }
  };
  await visit(relBase, 0);
  return matches;
}

/** Takes `path` and, for a directory, everything below it; returns how many were taken. */
async function walk(
  source: ArchiveSource,
  path: string,
  kind: EntryKind,
  take: (path: string, kind: EntryKind) => boolean,
): Promise<number> {
  let count = path !== "" && take(path, kind) ? 1 : 0;
  if (kind !== "dir") return count;
  for (const e of await source.readDir(path)) {
    count += await walk(source, path === "" ? e.name : `${path}/${e.name}`, e.kind, take);
  }
  return count;
}

/**
 * The first proper ancestor of `path` that is a symlink, or null when none
 * is (a missing ancestor means nothing below it exists either). `linkFree` remembers
 * directories already checked.
 */
async function symlinkOnTheWay(
  source: ArchiveSource,
  path: string,
  linkFree: Set<string>,
): Promise<string | null> {
  const parts = path === "" ? [] : path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    if (linkFree.has(dir)) continue;
    const entry = await source.stat(dir);
    if (entry?.kind === "symlink") return dir;
    if (entry === null || entry.kind !== "dir") return null; // nothing below it exists
    linkFree.add(dir);
  }
  return null;
}

/** `path` relative to the project dir, or null when it leads outside. "" is the project dir. */
export function relativeInProject(path: string, projectDir: string): string | null {
  const abs = path.startsWith("/") ? posix.normalize(path) : posix.join(projectDir, path);
  const rel = posix.relative(projectDir, abs);
  if (rel === ".." || rel.startsWith("../") || posix.isAbsolute(rel)) return null;
  return rel;
}
