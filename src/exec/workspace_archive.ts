/**
 * The working tree as a tar archive, for a job that runs where exec cannot
 * copy files (an ssh host, a custom driver's environment): the job's
 * get_sources stage extracts it into the project directory
 * (StartMessage.workspaceArchive). The same files as `copyWorkspace` puts
 * into a local job's directory: those the plan lists, as they are on disk
 * (uncommitted changes included), and `.git`, so git commands work.
 *
 * Entries are owned by uid 0 with the file's mode and modification time: the
 * user extracting them owns them (tar as root keeps the archive's owner, so
 * root it is). Symbolic links are stored as links, never followed.
 */
import { join } from "../path/host_path.ts";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";
// The tar format the container job files use with the Engine archive API.
import { tarEnd, tarHeader, tarPadding } from "../archive/tar.ts";

export interface WorkspaceArchiveSize {
  entries: number;
  bytes: number;
}

/** Writes the archive of `workspace` to `path` (created or replaced). */
export async function writeWorkspaceArchive(
  workspace: WorkspacePlan,
  path: string,
): Promise<WorkspaceArchiveSize> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
  const writer = new TarWriter(file);
  for (const name of workspace.files) await writer.add(workspace.sourceDir, name);
  if (workspace.isGitDirCopied) await writer.addTree(workspace.sourceDir, ".git");
  await writer.write(tarEnd());
  return { entries: writer.entries, bytes: writer.bytes };
}

class TarWriter {
  readonly #file: Deno.FsFile;
  entries = 0;
  bytes = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async write(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.length) offset += await this.#file.write(data.subarray(offset));
    this.bytes += data.length;
  }

  /** Adds `name` (relative to `root`); a file gone since the plan was made is left out. */
  async add(root: string, name: string): Promise<Deno.FileInfo | null> {
    const path = join(root, name);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    const common = {
      name,
      mode: (info.mode ?? 0o644) & 0o7777,
      uid: 0,
      gid: 0,
      mtime: info.mtime ?? new Date(0),
    };
    if (info.isSymlink) {
      await this.write(
        tarHeader({ ...common, kind: "symlink", size: 0, linkTarget: await Deno.readLink(path) }),
      );
    } else if (info.isDirectory) {
      await this.write(tarHeader({ ...common, kind: "dir", size: 0, linkTarget: "" }));
    } else if (info.isFile) {
      const data = await Deno.readFile(path);
      await this.write(
        tarHeader({ ...common, kind: "file", size: data.length, linkTarget: "" }),
      );
      await this.write(data);
      await this.write(tarPadding(data.length));
    } else {
      return null;
    }
    this.entries++;
    return info;
  }

  /** Adds directory `name` and everything below it. */
  async addTree(root: string, name: string): Promise<void> {
    const info = await this.add(root, name);
    if (info === null || !info.isDirectory) return;
    const children: string[] = [];
    for await (const entry of Deno.readDir(join(root, name))) children.push(entry.name);
    children.sort();
    for (const child of children) await this.addTree(root, `${name}/${child}`);
  }
}
