/**
 * Puts the working tree into a job's project directory before the job runs
 * (`WorkspacePlan`, mode `copy`): the listed files as they are on disk,
 * committed or not, and `.git`. The target and its `.tmp` sibling (the job's
 * temporary files) are emptied first, so every job starts from a fresh copy,
 * as from a fresh checkout in GitLab.
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
  const copier = new TreeCopier(options.worldWritableFrom === undefined ? null : WORLD_WRITABLE);
  // Each removal is one call however large the tree, so these stay asynchronous.
  await removeTree(targetDir);
  await removeTree(`${targetDir}.tmp`);
  Deno.mkdirSync(targetDir, { recursive: true });
  const open = options.worldWritableFrom;
  if (open !== undefined) {
    // Every directory from the root down to the target, so the `.tmp` sibling can be made.
    const parts = relative(open, targetDir).split("/").filter((p) => p !== "" && p !== "..");
    let dir = open;
    Deno.chmodSync(dir, 0o777);
    for (const part of parts) {
      dir = join(dir, part);
      Deno.chmodSync(dir, 0o777);
    }
  }
  // The job's temporary directory beside it, empty: the prepare stage finds
  // both directories and starts no `mkdir` (a process on the way to the script).
  Deno.mkdirSync(`${targetDir}.tmp`);
  if (open !== undefined) Deno.chmodSync(`${targetDir}.tmp`, 0o777);
  copier.made.add(targetDir);
  for (const file of workspace.files) {
    const to = join(targetDir, file);
    copier.ensureDir(dirname(to), targetDir);
    await copier.copy(join(workspace.sourceDir, file), to, false);
  }
  if (workspace.isGitDirCopied) {
    const gitDir = join(workspace.sourceDir, ".git");
    try {
      Deno.lstatSync(gitDir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await copier.copy(gitDir, join(targetDir, ".git"), false);
  }
}

const WORLD_WRITABLE = { dir: 0o777, file: 0o666 };

/**
 * After this many file operations the copy lets the event loop run (other
 * jobs' logs keep flowing while a large tree is copied).
 */
const OPERATIONS_PER_TURN = 256;

/**
 * Copies with synchronous calls: a working tree is mostly small files in the
 * page cache, and each asynchronous call is a hop to a thread-pool thread
 * and back, which on a busy host costs more than the copy itself (the first
 * job of `runner exec` waits for it).
 */
class TreeCopier {
  readonly made = new Set<string>();
  #operations = 0;

  constructor(readonly mode: { dir: number; file: number } | null) {}

  async #turn(): Promise<void> {
    if (++this.#operations % OPERATIONS_PER_TURN === 0) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  ensureDir(dir: string, targetDir: string): void {
    if (this.made.has(dir)) return;
    Deno.mkdirSync(dir, { recursive: true });
    if (this.mode) {
      for (let d = dir; d !== targetDir && !this.made.has(d); d = dirname(d)) {
        Deno.chmodSync(d, this.mode.dir);
        this.made.add(d);
      }
    }
    this.made.add(dir);
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
    if (info.isSymlink) {
      Deno.symlinkSync(Deno.readLinkSync(from), to);
    } else if (info.isDirectory) {
      Deno.mkdirSync(to, { recursive: true });
      if (mode) Deno.chmodSync(to, mode.dir);
      for (const entry of Deno.readDirSync(from)) {
        const isObjects = isObject || (from.endsWith("/.git") && entry.name === "objects");
        await this.copy(join(from, entry.name), join(to, entry.name), isObjects);
      }
    } else if (info.isFile) {
      // Git objects are read-only by design: linking them keeps them so, writable or not.
      if (isObject) {
        try {
          Deno.linkSync(from, to);
          return;
        } catch {
          // Another file system or no permission: copy instead.
        }
      }
      Deno.copyFileSync(from, to);
      if (mode) Deno.chmodSync(to, (info.mode ?? 0o644) & 0o7777 | mode.file);
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
