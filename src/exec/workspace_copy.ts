/**
 * Puts the working tree into a job's project directory before the job runs
 * (`WorkspacePlan`, mode `copy`): the listed files as they are on disk,
 * committed or not, and `.git`. Every job starts from a fresh copy, as from a
 * fresh checkout in GitLab: the target ends up holding exactly those, and the
 * `.tmp` sibling (the job's temporary files) is emptied. What an earlier job
 * left there is brought back to that, not removed and copied again: a file
 * whose type, size, modification time and mode match the source's (the copy
 * sets its modification time to the source's, and a job that writes a file
 * changes it) is kept, anything else is copied again, and what the source
 * does not have is removed. In a working tree of ~600 files that costs two
 * stat calls per unchanged file instead of a removal and a copy each, as git
 * refreshes a working tree from its index.
 *
 * Files are copied, never linked: a job that appends to a file must not
 * change the user's working tree. Only git's object files are hard-linked
 * (git writes a new object file and never rewrites one, and they are
 * read-only), which keeps copying a large history cheap; where linking is
 * impossible (another file system) they are copied.
 */
import { dirname, join, relative } from "../path/host_path.ts";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";

export interface CopyOptions {
  /**
   * Make the copy writable for any user, from this ancestor of the target
   * down: directories 0777, files gain 0666. A container job running as a
   * non-root user then writes its project directory and its `.tmp` sibling,
   * as after the official runner's clone under `umask 0000`.
   */
  worldWritableFrom?: string;
}

export async function copyWorkspace(
  workspace: WorkspacePlan,
  targetDir: string,
  options: CopyOptions = {},
): Promise<void> {
  // Synchronously, as the copy below: a job's temporary files are few and
  // small, and an asynchronous removal is a hop to a pool thread and back,
  // which a busy host is slow to schedule.
  removeTreeSync(`${targetDir}.tmp`);
  // The job's temporary directory beside it, empty: the prepare stage finds
  // both directories and starts no `mkdir` (a process on the way to the script).
  Deno.mkdirSync(dirname(targetDir), { recursive: true });
  Deno.mkdirSync(`${targetDir}.tmp`);
  const open = options.worldWritableFrom;
  const copier = new TreeCopier(targetDir, {
    // A new directory's mode (the umask's), which a job may have changed on one it kept.
    dir: open === undefined ? modeOf(Deno.lstatSync(`${targetDir}.tmp`)) : WORLD_WRITABLE.dir,
    file: open === undefined ? 0 : WORLD_WRITABLE.file,
  });
  copier.ensureDir(targetDir);
  if (open !== undefined) {
    // Every directory from the root down to the target and its `.tmp` sibling.
    const parts = relative(open, targetDir).split("/").filter((p) => p !== "" && p !== "..");
    let dir = open;
    Deno.chmodSync(dir, 0o777);
    for (const part of parts) {
      dir = join(dir, part);
      Deno.chmodSync(dir, 0o777);
    }
    Deno.chmodSync(`${targetDir}.tmp`, 0o777);
  }
  for (const file of workspace.files) {
    const to = join(targetDir, file);
    copier.ensureDir(dirname(to));
    await copier.copy(join(workspace.sourceDir, file), to, false);
  }
  if (workspace.isGitDirCopied) {
    await copier.copy(join(workspace.sourceDir, ".git"), join(targetDir, ".git"), false);
  }
  await copier.prune(targetDir);
}

const WORLD_WRITABLE = { dir: 0o777, file: 0o666 };

/**
 * After this long without one the copy lets the event loop turn (other jobs'
 * logs keep flowing while a large tree is copied). By time, not by count: a
 * turn waits ~2 ms for its timer, which a copy of a few hundred files took
 * several times over.
 */
const TURN_EVERY_MS = 50;

/**
 * Copies with synchronous calls: a working tree is mostly small files in the
 * page cache, and each asynchronous call is a hop to a thread-pool thread
 * and back, which on a busy host costs more than the copy itself (the first
 * job of `runner exec` waits for it).
 */
class TreeCopier {
  /** Every path of the copy (directories too): what `prune` keeps. */
  readonly #kept = new Set<string>();
  #lastTurn = performance.now();

  /**
   * `mode.dir`: every directory's mode; `mode.file`: bits added to each
   * file's mode (the source's).
   */
  constructor(readonly targetDir: string, readonly mode: { dir: number; file: number }) {}

  async #turn(): Promise<void> {
    if (performance.now() - this.#lastTurn < TURN_EVERY_MS) return;
    // A timer, not setTimeout: a process's first setTimeout loads Deno's Node
    // timers (~20 ms of CPU, time/clock.ts), which exec otherwise never needs.
    await new Promise<void>((resolve) => {
      AbortSignal.timeout(0).addEventListener("abort", () => resolve(), { once: true });
    });
    this.#lastTurn = performance.now();
  }

  /** `dir` and its ancestors up to the target, as directories. */
  ensureDir(dir: string): void {
    if (this.#kept.has(dir)) return;
    const isTarget = dir === this.targetDir || dirname(dir) === dir;
    if (!isTarget) this.ensureDir(dirname(dir));
    this.#makeDir(dir, lstatOrNull(dir), isTarget);
  }

  #makeDir(dir: string, existing: Deno.FileInfo | null, isRecursive = false): void {
    if (existing?.isDirectory !== true) {
      // Not a directory: one file to remove.
      if (existing !== null) removeFile(dir);
      Deno.mkdirSync(dir, { recursive: isRecursive });
    }
    if (modeOf(existing?.isDirectory ? existing : Deno.lstatSync(dir)) !== this.mode.dir) {
      Deno.chmodSync(dir, this.mode.dir);
    }
    this.#kept.add(dir);
  }

  async copy(from: string, to: string, isObject: boolean): Promise<void> {
    await this.#turn();
    const mode = this.mode;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(from);
    } catch (error) {
      // Deleted since the file list was read: the job sees it deleted too.
      if (error instanceof Deno.errors.NotFound) return;
      throw new Error(`Cannot copy "${from}" into the job's directory`, { cause: error });
    }
    const existing = lstatOrNull(to);
    this.#kept.add(to);
    if (info.isSymlink) {
      const target = Deno.readLinkSync(from);
      if (existing?.isSymlink && Deno.readLinkSync(to) === target) return;
      if (existing !== null) await remove(to, existing);
      Deno.symlinkSync(target, to);
    } else if (info.isDirectory) {
      if (existing !== null && !existing.isDirectory) await remove(to, existing);
      this.#makeDir(to, existing?.isDirectory ? existing : null);
      for (const entry of Deno.readDirSync(from)) {
        const isObjects = isObject || (from.endsWith("/.git") && entry.name === "objects");
        await this.copy(join(from, entry.name), join(to, entry.name), isObjects);
      }
    } else if (info.isFile) {
      // Git objects are read-only by design: linking them keeps them so, writable or not.
      if (isObject) {
        if (existing?.isFile && existing.ino === info.ino && existing.dev === info.dev) return;
        if (existing !== null) await remove(to, existing);
        try {
          Deno.linkSync(from, to);
          return;
        } catch {
          // Another file system or no permission: copy instead.
        }
      }
      const fileMode = modeOf(info) | mode.file;
      if (
        existing?.isFile && existing.size === info.size && modeOf(existing) === fileMode &&
        existing.mtime !== null && existing.mtime.getTime() === info.mtime?.getTime()
      ) return;
      if (existing !== null) await remove(to, existing);
      Deno.copyFileSync(from, to);
      if (mode.file !== 0) Deno.chmodSync(to, fileMode);
      // What tells the next copy that the job did not change it.
      if (info.mtime !== null) Deno.utimeSync(to, info.atime ?? info.mtime, info.mtime);
    }
  }

  /** Removes what the target holds beyond the copy (what a job made, what the source lost). */
  async prune(dir: string): Promise<void> {
    for (const entry of Deno.readDirSync(dir)) {
      await this.#turn();
      const path = join(dir, entry.name);
      if (!this.#kept.has(path)) await removeTree(path);
      else if (entry.isDirectory) await this.prune(path);
    }
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function modeOf(info: Deno.FileInfo): number {
  return (info.mode ?? 0o644) & 0o7777;
}

/** Removes `path`, whose lstat is `info`: a directory with all it holds. */
async function remove(path: string, info: Deno.FileInfo): Promise<void> {
  if (info.isDirectory) await removeTree(path);
  else removeFile(path);
}

function removeFile(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    throw new Error(`Cannot empty the job's directory "${path}"`, { cause: error });
  }
}

/** Each removal of a tree is one call however large it is, so it stays asynchronous. */
function removeTreeSync(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot empty the job's directory "${path}"`, { cause: error });
    }
  }
}

async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot empty the job's directory "${path}"`, { cause: error });
    }
  }
}
