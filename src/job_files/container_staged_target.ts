import { ArchiveError, quoteEntry } from "../archive/archive_error.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import { LocalArchiveTarget } from "../archive/local_archive_target.ts";
import { readTar, tarEnd, type TarHeader, tarHeader, tarPadding } from "../archive/tar.ts";
import {
  type ContainerTarAccess,
  isContainerDir,
  isContainerSymlink,
} from "./container_tar_access.ts";
import type { TargetSession } from "./job_files.ts";

/**
 * Extraction into a container directory. The archive is first extracted on
 * the host into a private staging directory (LocalArchiveTarget: hostile
 * entries never leave it), then `commit` checks the container and sends one
 * tar through `PUT archive`:
 *
 * - every directory the tar passes through is checked in the container: a
 *   symlink or a non-directory there fails the commit naming the path, as
 *   LocalArchiveTarget refuses it on a host (checks stop at the first
 *   directory that does not exist yet: nothing below it can exist);
 * - the tar lists every directory before its content, so the daemon creates
 *   real directories, and one that turned into a symlink after the check is
 *   replaced by a directory, never written through;
 * - files and links at final paths replace what is there (the daemon
 *   removes the old entry first), never write through it;
 * - entries get the owner of the target directory;
 * - the archive's symlinks keep their targets, also those leading out of the
 *   directory (see `putBase`).
 */
export class ContainerStagedTarget implements TargetSession {
  readonly target: ArchiveTarget;
  readonly #files: ContainerTarAccess;
  readonly #dir: string;
  readonly #staging: string;
  /** The archive's symlinks by path: never created in the staging directory. */
  readonly #links = new Map<string, { linkTarget: string; mtime: Date }>();

  private constructor(
    files: ContainerTarAccess,
    dir: string,
    staging: string,
    target: LocalArchiveTarget,
  ) {
    this.#files = files;
    this.#dir = dir.replace(/\/+$/, "") || "/";
    this.#staging = staging;
    // Links are kept here and go into the tar as links: Deno refuses
    // Deno.symlink to a process with path-scoped fs grants (the docker
    // executor process), and the staging directory only feeds the tar.
    const links = this.#links;
    this.target = {
      synchronous: target.synchronous,
      mkdir: (path) => target.mkdir(path),
      writeFile: (path, data, meta) => target.writeFile(path, data, meta),
      createFile: (path, meta) => target.createFile(path, meta),
      symlink: (path, linkTarget) => {
        links.set(path, { linkTarget, mtime: new Date() });
        return Promise.resolve();
      },
      finishDir: (path, meta) => target.finishDir(path, meta),
      remove: (path) => target.remove(path),
    };
  }

  static async open(
    files: ContainerTarAccess,
    dir: string,
    options: { tempDir?: string } = {},
  ): Promise<ContainerStagedTarget> {
    const staging = await Deno.makeTempDir({
      prefix: "container-extract-",
      ...(options.tempDir === undefined ? {} : { dir: options.tempDir }),
    });
    try {
      return new ContainerStagedTarget(files, dir, staging, await LocalArchiveTarget.open(staging));
    } catch (err) {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  async commit(signal: AbortSignal): Promise<void> {
    const entries = await this.#walk();
    if (entries.length === 0) return;
    const root = await this.#files.stat(this.#dir);
    if (root === null || !isContainerDir(root) || isContainerSymlink(root)) {
      throw new ArchiveError(
        "",
        `Cannot extract into "${this.#dir}" in the job container: it is not a directory`,
      );
    }
    await this.#checkDirs(entries.filter((e) => e.kind === "dir").map((e) => e.name), signal);
    const owner = await this.#ownerOf();
    const staging = this.#staging;
    const base = putBase(this.#dir, this.#links);
    const prefix = base === this.#dir ? "" : `${this.#dir.slice(1)}/`;
    async function* tar(): AsyncGenerator<Uint8Array> {
      for (const entry of entries) {
        signal.throwIfAborted();
        yield tarHeader({ ...entry, ...owner, name: prefix + entry.name });
        if (entry.kind !== "file") continue;
        const file = await Deno.open(`${staging}/${entry.name}`, { read: true });
        let sent = 0;
        try {
          for (;;) {
            const buf = new Uint8Array(Math.min(256 * 1024, Math.max(1, entry.size - sent)));
            const n = await file.read(buf);
            if (n === null || sent + n > entry.size) break;
            sent += n;
            yield buf.subarray(0, n);
            if (sent === entry.size) break;
          }
        } finally {
          file.close();
        }
        if (sent !== entry.size) {
          throw new Error(`Staged file "${entry.name}" changed size while being sent`);
        }
        yield tarPadding(entry.size);
      }
      yield tarEnd();
    }
    const body = ReadableStream.from(tar());
    await this.#files.putTar(base, body);
  }

  /** Staged entries, parents before children. */
  async #walk(): Promise<TarHeader[]> {
    const out: TarHeader[] = [];
    const linksIn = new Map<string, string[]>();
    for (const path of this.#links.keys()) {
      const slash = path.lastIndexOf("/");
      const dir = slash < 0 ? "" : path.slice(0, slash);
      linksIn.set(dir, [...(linksIn.get(dir) ?? []), path.slice(slash + 1)]);
    }
    const visit = async (rel: string) => {
      const names: string[] = [];
      for await (const e of Deno.readDir(rel === "" ? this.#staging : `${this.#staging}/${rel}`)) {
        names.push(e.name);
      }
      names.push(...(linksIn.get(rel) ?? []));
      names.sort();
      for (const name of names) {
        const path = rel === "" ? name : `${rel}/${name}`;
        const link = this.#links.get(path);
        if (link) {
          out.push({
            name: path,
            kind: "symlink",
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: link.mtime,
            linkTarget: link.linkTarget,
            size: 0,
          });
          continue;
        }
        const abs = `${this.#staging}/${path}`;
        const info = await Deno.lstat(abs);
        const base = {
          name: path,
          mode: (info.mode ?? 0o644) & 0o7777,
          uid: 0,
          gid: 0,
          mtime: info.mtime ?? new Date(0),
          linkTarget: "",
          size: 0,
        };
        if (info.isSymlink) {
          out.push({ ...base, kind: "symlink", linkTarget: await Deno.readLink(abs) });
        } else if (info.isDirectory) {
          out.push({ ...base, kind: "dir" });
          await visit(path);
        } else if (info.isFile) {
          out.push({ ...base, kind: "file", size: info.size });
        }
      }
    };
    await visit("");
    return out;
  }

  /** Fails when a directory of the tar is a symlink or a non-directory in the container. */
  async #checkDirs(dirs: string[], signal: AbortSignal): Promise<void> {
    const missing: string[] = [];
    for (const dir of dirs) {
      signal.throwIfAborted();
      if (missing.some((m) => dir.startsWith(`${m}/`))) continue;
      const stat = await this.#files.stat(`${this.#dir}/${dir}`);
      if (stat === null) {
        missing.push(dir);
        continue;
      }
      if (isContainerSymlink(stat)) {
        throw new ArchiveError(
          dir,
          `Cannot extract into ${
            quoteEntry(dir)
          }: it is a symlink in the target directory, which is never followed`,
        );
      }
      if (!isContainerDir(stat)) {
        throw new ArchiveError(
          dir,
          `Cannot extract into ${quoteEntry(dir)}: it exists and is not a directory`,
        );
      }
    }
  }

  /** uid and gid of the target directory, read from the first header of its tar. */
  async #ownerOf(): Promise<{ uid: number; gid: number }> {
    let owner = { uid: 0, gid: 0 };
    const tar = await this.#files.getTar(this.#dir);
    const stop = new Error("first header read");
    try {
      await readTar(tar, (header) => {
        owner = { uid: header.uid, gid: header.gid };
        throw stop;
      });
    } catch (err) {
      if (err !== stop) throw err;
    }
    return owner;
  }

  async discard(): Promise<void> {
    await Deno.remove(this.#staging, { recursive: true }).catch(() => {});
  }
}

/**
 * The container directory the tar is put in: `dir`, or `/` (with every name
 * then given from there) when a link's relative target climbs out of `dir`.
 * dockerd joins a link's directory and its target lexically and refuses a
 * link that leaves the directory the tar is put in (pkg/archive
 * createTarFile: `invalid symlink "/builds/p/a/up" -> "../../x"`), and stops
 * the whole tar there; the official helper extracts inside the container and
 * makes such links (a monorepo's `../../shared`). From `/` every target is
 * inside; the daemon still runs the extraction chrooted in the container,
 * and the tar's entries are the same. An absolute target is joined under the
 * directory, so it never needs this.
 */
function putBase(dir: string, links: ReadonlyMap<string, { linkTarget: string }>): string {
  if (dir === "/") return dir;
  for (const [path, { linkTarget }] of links) {
    if (linkTarget.startsWith("/")) continue;
    let depth = path.split("/").length - 1;
    for (const segment of linkTarget.split("/")) {
      if (segment === "..") depth--;
      else if (segment !== "" && segment !== ".") depth++;
      if (depth < 0) return "/";
    }
  }
  return dir;
}
