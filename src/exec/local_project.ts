import { join, normalize, relative, sep } from "node:path";
import { type GitState, ZERO_SHA } from "../pipeline/git_state.ts";
import type { ProjectFiles } from "../pipeline/project_files.ts";

/**
 * The project on disk. Needs `--allow-read` on the project and
 * `--allow-run=git`. Without git, or outside a repository, every file under
 * the directory (except `.git`) is listed.
 */
export class LocalProjectFiles implements ProjectFiles {
  #list: Promise<string[]> | null = null;
  constructor(readonly projectDir: string) {}

  async readText(path: string): Promise<string | null> {
    const clean = normalize(path);
    if (clean.startsWith("..") || clean.startsWith(sep)) {
      throw new RangeError(`Path "${path}" is outside the project`);
    }
    try {
      return await Deno.readTextFile(join(this.projectDir, clean));
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

  async #readList(): Promise<string[]> {
    const out = await git(this.projectDir, [
      "ls-files",
      "-z",
      "--cached",
      "--others",
      "--exclude-standard",
    ]);
    if (out !== null) {
      const present: string[] = [];
      for (const f of new Set(out.split("\0").filter((f) => f !== ""))) {
        // Deleted but still tracked files are not part of the working tree.
        try {
          await Deno.lstat(join(this.projectDir, f));
          present.push(f);
        } catch { /* deleted locally */ }
      }
      return present.sort();
    }
    const files: string[] = [];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const full = join(dir, entry.name);
        if (entry.isDirectory) {
          if (entry.name !== ".git") await walk(full);
        } else {
          files.push(relative(this.projectDir, full).split(sep).join("/"));
        }
      }
    };
    await walk(this.projectDir);
    return files.sort();
  }
}

/**
 * Reads HEAD, the current branch or tag, the last commit and the files that
 * differ from HEAD. Outside a repository, returns an empty state (zero sha,
 * branch "main", nothing changed).
 */
export async function readGitState(projectDir: string): Promise<GitState> {
  const run = (args: string[]) => git(projectDir, args);
  // Independent reads run at once: each is a process start, and one after the
  // other they were a good part of exec's start-up on a busy host.
  const [head, symbolic, originHeadOut, remoteOut, untracked] = await Promise.all([
    run(["rev-parse", "--verify", "-q", "HEAD"]),
    run(["symbolic-ref", "-q", "--short", "HEAD"]),
    run(["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"]),
    run(["remote", "get-url", "origin"]),
    run(["ls-files", "-z", "--others", "--exclude-standard"]),
  ]);
  const sha = head?.trim() || ZERO_SHA;
  const branch = symbolic?.trim() ?? "";
  const hasCommit = sha !== ZERO_SHA;
  const [tagOut, before, log, diff] = await Promise.all([
    branch ? null : run(["describe", "--tags", "--exact-match", "HEAD"]),
    hasCommit ? run(["rev-parse", "--verify", "-q", "HEAD~1"]) : null,
    hasCommit ? run(["log", "-1", "--format=%an <%ae>%x00%aI%x00%B", "HEAD"]) : null,
    hasCommit ? run(["diff", "--name-only", "-z", "HEAD"]) : null,
  ]);
  const tag = tagOut?.trim() ?? "";
  const beforeSha = before?.trim() || ZERO_SHA;
  const [author = "", timestamp = "", message = ""] = (log ?? "").split("\0");
  const originHead = originHeadOut?.trim() ?? "";
  const remote = remoteOut?.trim() ?? "";
  const changed = new Set<string>();
  for (const f of (diff ?? "").split("\0")) if (f) changed.add(f);
  for (const f of (untracked ?? "").split("\0")) if (f) changed.add(f);
  const ref = branch || tag || (sha === ZERO_SHA ? "main" : "");
  return {
    sha,
    beforeSha,
    ref,
    refType: tag ? "tag" : "branch",
    defaultBranch: originHead.replace(/^origin\//, "") || branch || "main",
    commitMessage: message.replace(/\n+$/, ""),
    commitAuthor: author,
    commitTimestamp: timestamp,
    changedFiles: [...changed].sort(),
    remotePath: remotePathOf(remote),
  };
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
