import { join, normalize, relative, SEP } from "../path/host_path.ts";
import { type GitState, ZERO_SHA } from "../pipeline/git_state.ts";
import type { ProjectFiles } from "../pipeline/project_files.ts";
import { decodeCiText } from "../pipeline/utf8_text.ts";

/**
 * The project on disk. Needs `--allow-read` on the project and
 * `--allow-run=git`. Without git, or outside a repository, every file under
 * the directory (except `.git`) is listed.
 */
export class LocalProjectFiles implements ProjectFiles {
  #list: Promise<string[]> | null = null;
  #gitListing: Promise<GitListing | null> | null = null;
  constructor(readonly projectDir: string) {}

  /** A CI file's text; one that is not UTF-8 is a `CiConfigError` naming its line. */
  async readText(path: string): Promise<string | null> {
    const bytes = await this.readBytes(path);
    return bytes === null ? null : decodeCiText(bytes, path);
  }

  async readBytes(path: string): Promise<Uint8Array | null> {
    const clean = normalize(path);
    if (clean.startsWith("..") || clean.startsWith(SEP)) {
      throw new RangeError(`Path "${path}" is outside the project`);
    }
    try {
      return await Deno.readFile(join(this.projectDir, clean));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) {
        return null;
      }
      throw new Error(`Cannot read "${path}" in the project`, { cause: error });
    }
  }

  listFiles(): Promise<string[]> {
    this.#list ??= this.#readList();
    return this.#list;
  }

  /**
   * Untracked files that are not ignored (git's "others"); null outside a
   * repository. Read with the file list, in one walk of the working tree.
   */
  async untrackedFiles(): Promise<string[] | null> {
    return (await this.#readGitListing())?.untracked ?? null;
  }

  /**
   * Tracked and untracked (not ignored) files in the working tree, from one
   * `git ls-files -t`; null without git. Git says which tracked files are
   * deleted locally (`--deleted`), from the stat of each it makes anyway:
   * no stat of ours per file, one asynchronous call each.
   */
  #readGitListing(): Promise<GitListing | null> {
    this.#gitListing ??= git(this.projectDir, [
      "ls-files",
      "-z",
      "-t",
      "--cached",
      "--deleted",
      "--others",
      "--exclude-standard",
    ]).then((out) => {
      if (out === null) return null;
      const all = new Set<string>();
      const absent = new Set<string>();
      const untracked: string[] = [];
      // Each entry is "<tag> <path>": "?" for an untracked file, "R" for a
      // tracked one deleted locally (listed after its "H"), "S" for one a
      // sparse checkout leaves out, another letter for a tracked one.
      for (const entry of out.split("\0")) {
        if (entry.length < 3) continue;
        const path = entry.slice(2);
        if (entry[0] === "R" || entry[0] === "S") absent.add(path);
        else all.add(path);
        if (entry[0] === "?") untracked.push(path);
      }
      return { all: [...all].filter((path) => !absent.has(path)), untracked };
    });
    return this.#gitListing;
  }

  async #readList(): Promise<string[]> {
    const listing = await this.#readGitListing();
    if (listing !== null) return [...listing.all].sort();
    const files: string[] = [];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const full = join(dir, entry.name);
        if (entry.isDirectory) {
          if (entry.name !== ".git") await walk(full);
        } else {
          files.push(relative(this.projectDir, full).split(SEP).join("/"));
        }
      }
    };
    await walk(this.projectDir);
    return files.sort();
  }
}

interface GitListing {
  /** Tracked and untracked (not ignored) paths in the working tree, as git lists them. */
  all: string[];
  untracked: string[];
}

export interface ReadGitStateOptions {
  /**
   * Leave `changedFiles` null (default false): for a pipeline without
   * `changes:`, which need not pay `git diff` (`readChangedFiles` reads them).
   */
  isChangedFilesSkipped?: boolean;
}

/**
 * Reads HEAD, the current branch or tag, the last commit and the files that
 * differ from HEAD. Outside a repository, returns an empty state (zero sha,
 * branch "main", nothing changed). With `files`, its listing of the working
 * tree gives the untracked files (one walk of the tree for both).
 */
export async function readGitState(
  projectDir: string,
  files?: LocalProjectFiles,
  options: ReadGitStateOptions = {},
): Promise<GitState> {
  const run = (args: string[]) => git(projectDir, args);
  // The reads run at once (each is a process start, 7-10 ms of CPU here, and
  // exec's executor process starts up meanwhile), and those that need a
  // commit fail without one, which reads as "none". `log` gives HEAD, its
  // first parent (HEAD~1) and the commit in one process; the two symbolic
  // refs are files (readSymbolicRefFiles) once `log` shows git reads the
  // repository.
  const symbolicFiles = readSymbolicRefFiles(join(projectDir, ".git"));
  // origin's URL from .git/config where git would answer the same; else git.
  const originFile = readOriginUrlFile(join(projectDir, ".git"));
  const remoteOf = (url: string | null) => url ?? run(["remote", "get-url", "origin"]);
  const [log, fileOrGitRemote, changedFiles] = await Promise.all([
    run(["log", "-1", "--format=%H%x00%P%x00%an <%ae>%x00%aI%x00%B", "HEAD"]),
    originFile.then(remoteOf),
    options.isChangedFilesSkipped ? null : readChangedFiles(projectDir, files),
  ]);
  // When git refuses the repository (or there is none) git itself says.
  const remoteOut = log !== null || await originFile === null
    ? fileOrGitRemote
    : await run(["remote", "get-url", "origin"]);
  // Without a commit (or when git refuses the repository) git itself says.
  const symbolic = (log !== null ? await symbolicFiles : null) ??
    await readSymbolicRefsWithGit(run);
  const [head = "", parents = "", author = "", timestamp = "", message = ""] = (log ?? "")
    .split("\0");
  const sha = /^[0-9a-f]{40,64}$/.test(head) ? head : ZERO_SHA;
  const branch = shortRefName(symbolic.head, "refs/heads/");
  const hasCommit = sha !== ZERO_SHA;
  const tagOut = branch || !hasCommit
    ? null
    : await run(["describe", "--tags", "--exact-match", "HEAD"]);
  const tag = tagOut?.trim() ?? "";
  const beforeSha = (hasCommit ? parents.split(" ")[0] : "") || ZERO_SHA;
  const originHead = shortRefName(symbolic.originHead, "refs/remotes/origin/");
  const remote = remoteOut?.trim() ?? "";
  const ref = branch || tag || (sha === ZERO_SHA ? "main" : "");
  return {
    sha,
    beforeSha,
    ref,
    refType: tag ? "tag" : "branch",
    defaultBranch: originHead || branch || "main",
    commitMessage: message.replace(/\n+$/, ""),
    commitAuthor: author,
    commitTimestamp: timestamp,
    changedFiles,
    remotePath: remotePathOf(remote),
  };
}

/**
 * The files that differ from HEAD: staged, unstaged and untracked (not
 * ignored), sorted; only the untracked ones without a commit, none outside
 * a repository. With `files`, its listing gives the untracked files.
 */
export async function readChangedFiles(
  projectDir: string,
  files?: LocalProjectFiles,
): Promise<string[]> {
  const [diff, untracked] = await Promise.all([
    // Fails without a commit: nothing is changed from a HEAD there is not.
    git(projectDir, ["diff", "--name-only", "-z", "HEAD"]),
    files
      ? files.untrackedFiles()
      : git(projectDir, ["ls-files", "-z", "--others", "--exclude-standard"]).then((out) =>
        out === null ? null : out.split("\0")
      ),
  ]);
  const changed = new Set<string>();
  for (const f of (diff ?? "").split("\0")) if (f) changed.add(f);
  for (const f of untracked ?? []) if (f) changed.add(f);
  return [...changed].sort();
}

/** Where HEAD and origin/HEAD point: full ref names, "" when not a symbolic ref. */
interface SymbolicRefs {
  head: string;
  originHead: string;
}

/**
 * A branch's name from its full ref name: `prefix` taken off, else `refs/`.
 * Not `symbolic-ref --short`: that says "heads/main" for a branch "main"
 * when a tag "main" exists too, and GitLab names the branch "main".
 */
function shortRefName(ref: string, prefix: string): string {
  if (ref.startsWith(prefix)) return ref.slice(prefix.length);
  return ref.replace(/^refs\/(heads\/)?/, "");
}

/** A full ref name as git writes one in a symbolic ref's file. */
const REF_NAME = /^refs\/[^\s]+$/;

async function readSymbolicRefsWithGit(
  run: (args: string[]) => Promise<string | null>,
): Promise<SymbolicRefs> {
  const [head, originHead] = await Promise.all([
    run(["symbolic-ref", "-q", "HEAD"]),
    run(["symbolic-ref", "-q", "refs/remotes/origin/HEAD"]),
  ]);
  return { head: head?.trim() ?? "", originHead: originHead?.trim() ?? "" };
}

/**
 * HEAD and refs/remotes/origin/HEAD read as files in `gitDir`: git keeps a
 * symbolic ref in a loose file `ref: <target>` and never packs one, so a
 * missing file is no symbolic ref. Null (ask git) wherever the layout may be
 * another: `.git` not a directory (a worktree or submodule), GIT_DIR or
 * GIT_COMMON_DIR set, a reftable repository (its HEAD points at
 * "refs/heads/.invalid"), or a file that does not read as git writes it.
 */
async function readSymbolicRefFiles(gitDir: string): Promise<SymbolicRefs | null> {
  try {
    if (Deno.env.get("GIT_DIR") !== undefined || Deno.env.get("GIT_COMMON_DIR") !== undefined) {
      return null;
    }
    if (!(await Deno.lstat(gitDir)).isDirectory) return null;
    const read = async (name: string): Promise<string | null> => {
      try {
        return await Deno.readTextFile(join(gitDir, name));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return null;
        throw error;
      }
    };
    const [headFile, originFile, reftable] = await Promise.all([
      read("HEAD"),
      read(join("refs", "remotes", "origin", "HEAD")),
      Deno.lstat(join(gitDir, "reftable")).then(() => true, () => false),
    ]);
    if (headFile === null || reftable) return null;
    const targetOf = (text: string): string | null => {
      const line = text.replace(/\n$/, "");
      if (line.startsWith("ref: ")) {
        const target = line.slice(5).trim();
        return REF_NAME.test(target) && target !== "refs/heads/.invalid" ? target : null;
      }
      // A plain ref holds an object id: not symbolic.
      return /^[0-9a-f]{40,64}$/.test(line) ? "" : null;
    };
    const head = targetOf(headFile);
    const originHead = originFile === null ? "" : targetOf(originFile);
    return head === null || originHead === null ? null : { head, originHead };
  } catch {
    return null;
  }
}

/**
 * Environment variables that point git at other config files or add
 * settings: with any of them set, origin's URL is asked of git.
 */
const GIT_CONFIG_ENV = [
  "GIT_DIR",
  "GIT_COMMON_DIR",
  "GIT_CONFIG",
  "GIT_CONFIG_GLOBAL",
  "GIT_CONFIG_SYSTEM",
  "GIT_CONFIG_NOSYSTEM",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_PARAMETERS",
];

/** A config line that could change what `git remote get-url origin` says other than by `url`. */
const URL_REWRITING = /insteadof|^\s*\[\s*include/im;

/**
 * origin's URL as `git remote get-url origin` prints it, read from the
 * repository's config file: "" when it names none, null (ask git) wherever
 * git might answer otherwise: a config file it also reads (global, system,
 * per worktree) that includes another file, rewrites URLs (`insteadOf`) or
 * names a remote itself; an include or rewrite in the repository's own
 * config; GIT_DIR or GIT_CONFIG* set; `.git` not a directory; any line this
 * reading does not take exactly as git does (quotes, escapes, comments after
 * a value, continued lines, several URLs). Saves exec a process start.
 */
async function readOriginUrlFile(gitDir: string): Promise<string | null> {
  try {
    if (GIT_CONFIG_ENV.some((name) => Deno.env.get(name) !== undefined)) return null;
    if (!(await Deno.lstat(gitDir)).isDirectory) return null;
    const home = Deno.env.get("HOME") ?? "";
    const xdg = Deno.env.get("XDG_CONFIG_HOME") || (home ? join(home, ".config") : "");
    const others = [
      "/etc/gitconfig",
      "/usr/local/etc/gitconfig",
      ...(home ? [join(home, ".gitconfig")] : []),
      ...(xdg ? [join(xdg, "git", "config")] : []),
      join(gitDir, "config.worktree"),
    ];
    const read = async (path: string): Promise<string> => {
      try {
        return await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return "";
        throw error;
      }
    };
    const [config, ...otherTexts] = await Promise.all([
      read(join(gitDir, "config")),
      ...others.map(read),
    ]);
    if (otherTexts.some((text) => URL_REWRITING.test(text) || /^\s*\[\s*remote/im.test(text))) {
      return null;
    }
    if (URL_REWRITING.test(config)) return null;
    return originUrlOf(config);
  } catch {
    return null;
  }
}

/**
 * `remote.origin.url` of a git config text; "" when absent, null when a line
 * is not one this reading takes exactly as git does.
 */
export function originUrlOf(config: string): string | null {
  let section = "";
  const urls: string[] = [];
  for (const raw of config.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      // `[section]` or `[section "subsection"]`, nothing after it.
      const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"([^"\\]*)")?\s*\]$/.exec(line);
      if (header === null) return null;
      const name = header[1]!.toLowerCase();
      // The old `[remote.origin]` form: its subsection is lower-cased.
      section = header[2] !== undefined ? `${name} ${header[2]}` : name.replace(".", " ");
      continue;
    }
    const entry = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (entry === null) return null;
    if (section !== "remote origin" || entry[1]!.toLowerCase() !== "url") continue;
    const value = entry[2];
    if (value === undefined || /["\\#;]/.test(value)) return null;
    urls.push(value.trimEnd());
  }
  if (urls.length > 1) return null;
  return urls[0] ?? "";
}

/** `git@host:group/name.git` or `https://host/group/name.git` → `group/name`. */
export function remotePathOf(url: string): string {
  const m = /^(?:[a-z+]+:\/\/[^/]+\/|[^@/]+@[^:]+:)(.+?)(?:\.git)?\/?$/.exec(url);
  return m ? m[1]! : "";
}

/** Stdout of a git command, or null when git fails or is missing. */
async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["-c", "core.quotepath=off", ...args],
      cwd,
      stdout: "piped",
      stderr: "null",
      env: { "GIT_TERMINAL_PROMPT": "0" },
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
