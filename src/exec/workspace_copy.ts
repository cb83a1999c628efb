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
import { dirname, join } from "node:path";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";

const PARALLEL_COPIES = 16;

export async function copyWorkspace(workspace: WorkspacePlan, targetDir: string): Promise<void> {
  await removeTree(targetDir);
  await removeTree(`${targetDir}.tmp`);
  await Deno.mkdir(targetDir, { recursive: true });
  const made = new Set<string>([targetDir]);
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    await Deno.mkdir(dir, { recursive: true });
    made.add(dir);
  };
  const tasks: Array<() => Promise<void>> = [];
  for (const file of workspace.files) {
    const from = join(workspace.sourceDir, file);
    const to = join(targetDir, file);
    tasks.push(async () => {
      await ensureDir(dirname(to));
      await copyEntry(from, to, false);
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
    await copyEntry(gitDir, join(targetDir, ".git"), false);
  }
}

async function copyEntry(from: string, to: string, isObject: boolean): Promise<void> {
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
    const tasks: Array<() => Promise<void>> = [];
    for await (const entry of Deno.readDir(from)) {
      const isObjects = isObject || (from.endsWith("/.git") && entry.name === "objects");
      tasks.push(() => copyEntry(join(from, entry.name), join(to, entry.name), isObjects));
    }
    await runLimited(tasks);
  } else if (info.isFile) {
    if (isObject) {
      try {
        await Deno.link(from, to);
        return;
      } catch {
        // Another file system or no permission: copy instead.
      }
    }
    await Deno.copyFile(from, to);
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
