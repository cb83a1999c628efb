/**
 * Puts the working tree into a job's project directory before the job runs
 * (`WorkspacePlan`, mode `copy`): the listed files as they are on disk,
 * committed or not, and `.git`. The target is emptied first, so every job
 * starts from a fresh copy, as from a fresh checkout in GitLab.
 *
 * Files are copied, never linked: a job that appends to a file must not
 * change the user's working tree. Only git's object files are hard-linked
 * (git writes a new object file and never rewrites one, and they are
 * read-only), which keeps copying a large history cheap; where linking is
 * impossible (another file system) they are copied.
 */
import { dirname, join, relative } from "../path/host_path.ts";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";

const PARALLEL_COPIES = 16;

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
  await removeTree(targetDir);
  await removeTree(`${targetDir}.tmp`);
  await Deno.mkdir(targetDir, { recursive: true });
  const open = options.worldWritableFrom;
  if (open !== undefined) {
    // Every directory from the root down to the target, so the `.tmp` sibling can be made.
    const parts = relative(open, targetDir).split("/").filter((p) => p !== "" && p !== "..");
    let dir = open;
    await Deno.chmod(dir, 0o777);
    for (const part of parts) {
      dir = join(dir, part);
      await Deno.chmod(dir, 0o777);
    }
  }
  const mode = open === undefined ? null : { dir: 0o777, file: 0o666 };
  const made = new Set<string>([targetDir]);
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    await Deno.mkdir(dir, { recursive: true });
    if (mode) {
      for (let d = dir; d !== targetDir && !made.has(d); d = dirname(d)) {
        await Deno.chmod(d, mode.dir);
        made.add(d);
      }
    }
    made.add(dir);
  };
  const tasks: Array<() => Promise<void>> = [];
  for (const file of workspace.files) {
    const from = join(workspace.sourceDir, file);
    const to = join(targetDir, file);
    tasks.push(async () => {
      await ensureDir(dirname(to));
      await copyEntry(from, to, false, mode);
    });
  }
  await runLimited(tasks);
  if (workspace.isGitDirCopied) {
    const gitDir = join(workspace.sourceDir, ".git");
    try {
      await Deno.lstat(gitDir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await copyEntry(gitDir, join(targetDir, ".git"), false, mode);
  }
}

async function copyEntry(
  from: string,
  to: string,
  isObject: boolean,
  mode: { dir: number; file: number } | null,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(from);
  } catch (error) {
    // Deleted since the file list was read: the job sees it deleted too.
    if (error instanceof Deno.errors.NotFound) return;
    throw new Error(`Cannot copy "${from}" into the job's directory`, { cause: error });
  }
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
  } else if (info.isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    if (mode) await Deno.chmod(to, mode.dir);
    const tasks: Array<() => Promise<void>> = [];
    for await (const entry of Deno.readDir(from)) {
      const isObjects = isObject || (from.endsWith("/.git") && entry.name === "objects");
      tasks.push(() => copyEntry(join(from, entry.name), join(to, entry.name), isObjects, mode));
    }
    await runLimited(tasks);
  } else if (info.isFile) {
    // Git objects are read-only by design: linking them keeps them so, writable or not.
    if (isObject) {
      try {
        await Deno.link(from, to);
        return;
      } catch {
        // Another file system or no permission: copy instead.
      }
    }
    await Deno.copyFile(from, to);
    if (mode) await Deno.chmod(to, (info.mode ?? 0o644) & 0o7777 | mode.file);
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

async function runLimited(tasks: Array<() => Promise<void>>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_COPIES, tasks.length) }, worker));
}
