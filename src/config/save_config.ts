/**
 * Writes config.toml for register, unregister, verify --delete, reset-token and
 * token rotation: mode 0600 in a 0700 directory (created when missing), atomically
 * (temporary file in the same directory, fsync, rename) so that a crash or a
 * concurrent reader never sees half a file.
 *
 * A config.toml that is a symlink stays one: the file it leads to is replaced,
 * as the official runner's in-place write updates it (a rename over the link
 * would turn it into a file of its own and leave the target stale). A poller
 * whose grants do not reach the link's target (outside the config directory)
 * replaces the link, as before, rather than lose a rotated token. The file
 * replaced keeps its owner: root running `register` on the config.toml of the
 * runner's user must not make it root's (the runner could no longer read it),
 * as the official in-place write keeps it.
 */
import { basename, dirname, isAbsolute, join } from "../path/host_path.ts";
import type { GlobalConfig } from "./runner_config.ts";
import { encodeConfig } from "./encode_config.ts";

export async function saveConfig(path: string, config: GlobalConfig): Promise<void> {
  const text = encodeConfig(config);
  const target = await linkTarget(path);
  await requireRegularFile(path, target);
  const dir = dirname(target);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const suffix = crypto.randomUUID().slice(0, 8);
  const temp = join(dir, `.${basename(target)}.${suffix}.tmp`);
  try {
    const owner = await ownerOf(target);
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      await file.sync();
    } finally {
      file.close();
    }
    // mode at creation is filtered by the umask; make sure it is exactly 0600.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o600);
    const mine = owner ? await Deno.stat(temp) : null;
    if (owner && mine && (owner.uid !== mine.uid || owner.gid !== mine.gid)) {
      // Only root may give a file away; anyone else writes it as their own, as before.
      await Deno.chown(temp, owner.uid, owner.gid).catch(() => {});
    }
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    const where = target === path ? "" : ` (through its link to "${target}")`;
    throw new Error(`Cannot save config file "${path}"${where}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Throws, as saveConfig would, when config.toml cannot be saved at `path`
 * (its directory read-only, not ours, or not a directory): for the commands
 * that change a runner in GitLab and then save it (unregister, reset-token,
 * register), to stop before GitLab is changed rather than after, when the
 * file could no longer say what GitLab holds. Makes the directory as
 * saveConfig does; leaves no file behind.
 */
export async function checkConfigWritable(path: string): Promise<void> {
  const target = await linkTarget(path);
  await requireRegularFile(path, target);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    (await Deno.open(temp, { write: true, createNew: true, mode: 0o600 })).close();
  } catch (error) {
    const where = target === path ? "" : ` (through its link to "${target}")`;
    throw new Error(`Cannot save config file "${path}"${where}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  await Deno.remove(temp).catch(() => {});
}

/**
 * Throws when `target` exists and is not a regular file: the rename would
 * replace it, and `--config /dev/null` run by root would leave the host a
 * /dev/null that is a config.toml.
 */
async function requireRegularFile(path: string, target: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch {
    return; // Missing (created by the save) or not ours to look at (the save says why).
  }
  if (info.isFile) return;
  const kind = info.isDirectory
    ? "a directory"
    : info.isCharDevice
    ? "a character device"
    : info.isBlockDevice
    ? "a block device"
    : info.isFifo
    ? "a named pipe"
    : info.isSocket
    ? "a socket"
    : "not a regular file";
  const where = target === path ? "" : ` (through its link to "${target}")`;
  throw new Error(
    `Cannot save config file "${path}"${where}: it is ${kind}, which saving would replace`,
  );
}

/**
 * The file `path`'s symlinks lead to (it may not exist yet); `path` itself
 * when it is no link, or when this process may not write where the link leads.
 */
async function linkTarget(path: string): Promise<string> {
  let target = path;
  for (let hops = 0; hops < 40; hops++) {
    let link: string;
    try {
      if (!(await Deno.lstat(target)).isSymlink) break;
      link = await Deno.readLink(target);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) break; // a link to a file to create
      return path; // not ours to look at: write where we were told
    }
    target = isAbsolute(link) ? link : join(dirname(target), link);
  }
  if (target === path) return path;
  const state = Deno.permissions.querySync({ name: "write", path: dirname(target) }).state;
  return state === "granted" ? target : path;
}

/** Owner of the file about to be replaced; null when there is none. */
async function ownerOf(path: string): Promise<{ uid: number; gid: number } | null> {
  if (Deno.build.os === "windows") return null;
  try {
    const { uid, gid } = await Deno.stat(path);
    return uid === null || gid === null ? null : { uid, gid };
  } catch {
    return null;
  }
}
