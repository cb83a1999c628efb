import type { ArchiveTarget, FileMeta, SymlinkEntry, TargetFile } from "./archive_target.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";

/**
 * `ArchiveTarget` over a directory of this host. Every parent directory is
 * checked with lstat (once; results are remembered) and files are created
 * with O_CREAT|O_EXCL after removing whatever was there, so neither a symlink
 * from the archive nor one already on disk is ever followed.
 *
 * The remembered checks assume nothing else swaps directories for symlinks
 * during the extraction; the runner extracts between job stages, when no job
 * process runs.
 *
 * Operations use Deno's synchronous calls: writing 20k small files took
 * 0.8 s that way against 3.5-7.8 s with the async ones (thread-pool round
 * trips per call), and large files are written the same way, a piece per
 * call (the pool's threads kept megabytes of native memory). Each call
 * blocks the event loop for one syscall-sized step.
 */
export class LocalArchiveTarget implements ArchiveTarget {
  readonly #root: string;
  readonly #umask: number;
  readonly #dirs = new Set<string>([""]);
  /** The directories this target's mkdir made (a subset of `#dirs`). */
  readonly #created = new Set<string>();
  readonly synchronous = true;
  /** Set once Deno refused a symlink to this process: see `#toolSymlinks`. */
  #isSymlinkViaTool = false;
  #hasNoPerl = false;

  private constructor(root: string, umask: number) {
    this.#root = root;
    this.#umask = umask;
  }

  /** `root` must exist; it is resolved once, so a symlinked project dir is fine. */
  static async open(root: string): Promise<LocalArchiveTarget> {
    const real = await Deno.realPath(root);
    const info = await Deno.stat(real);
    if (!info.isDirectory) throw new TypeError(`Extraction target "${root}" is not a directory`);
    return new LocalArchiveTarget(real, Deno.umask());
  }

  #abs(path: string): string {
    return path === "" ? this.#root : `${this.#root}/${path}`;
  }

  mkdir(path: string): Promise<void> {
    return attempt(() => this.#mkdir(path));
  }

  #mkdir(path: string): void {
    if (this.#dirs.has(path)) return;
    const slash = path.lastIndexOf("/");
    this.#mkdir(slash > 0 ? path.slice(0, slash) : "");
    const abs = this.#abs(path);
    try {
      Deno.mkdirSync(abs);
      this.#created.add(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      const info = Deno.lstatSync(abs);
      if (info.isSymlink) {
        throw new ArchiveError(
          path,
          `Cannot extract into ${
            quoteEntry(path)
          }: it is a symlink in the target directory, which is never followed`,
        );
      }
      if (!info.isDirectory) {
        throw new ArchiveError(
          path,
          `Cannot extract into ${quoteEntry(path)}: it exists and is not a directory`,
        );
      }
    }
    this.#dirs.add(path);
  }

  #parent(path: string): void {
    const slash = path.lastIndexOf("/");
    this.#mkdir(slash > 0 ? path.slice(0, slash) : "");
  }

  /** Removes what stands at `path` so an exclusive create can succeed; never a directory. */
  #clear(path: string): void {
    const info = Deno.lstatSync(this.#abs(path));
    if (info.isDirectory) {
      throw new ArchiveError(path, `Cannot extract ${quoteEntry(path)}: a directory is in the way`);
    }
    Deno.removeSync(this.#abs(path));
  }

  writeFile(path: string, data: Uint8Array, meta: FileMeta): Promise<void> {
    return attempt(() => {
      this.#parent(path);
      const abs = this.#abs(path);
      const mode = meta.mode & 0o777;
      // With `mode`, Deno adds an fchmod; the umask already yields the usual
      // 0644, so only other modes pay for it.
      const options = mode === (0o666 & ~this.#umask)
        ? { createNew: true }
        : { createNew: true, mode };
      try {
        Deno.writeFileSync(abs, data, options);
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        this.#clear(path);
        Deno.writeFileSync(abs, data, options);
      }
      Deno.utimeSync(abs, meta.mtime, meta.mtime);
    });
  }

  createFile(path: string, meta: FileMeta): Promise<TargetFile> {
    try {
      return Promise.resolve(this.#createFile(path, meta));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #createFile(path: string, meta: FileMeta): TargetFile {
    this.#parent(path);
    const abs = this.#abs(path);
    const options = { write: true, createNew: true, mode: meta.mode & 0o777 };
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(abs, options);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      this.#clear(path);
      file = Deno.openSync(abs, options);
    }
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        file.close();
      }
    };
    return {
      write: (chunk) =>
        attempt(() => {
          for (let o = 0; o < chunk.length;) o += file.writeSync(chunk.subarray(o));
        }),
      close: () =>
        attempt(() => {
          close();
          // open(2) applied the umask to the mode.
          if ((meta.mode & 0o777 & this.#umask) !== 0) Deno.chmodSync(abs, meta.mode & 0o777);
          Deno.utimeSync(abs, meta.mtime, meta.mtime);
        }),
      abort: () =>
        attempt(() => {
          close();
          try {
            Deno.removeSync(abs);
          } catch { /* already gone */ }
        }),
    };
  }

  symlink(path: string, linkTarget: string): Promise<void> {
    return this.symlinks([{ path, linkTarget }]);
  }

  symlinks(links: readonly SymlinkEntry[]): Promise<void> {
    return attempt(() => {
      const rest: SymlinkEntry[] = [];
      for (const link of links) {
        if (this.#isSymlinkViaTool || !this.#denoSymlink(link)) rest.push(link);
      }
      if (rest.length > 0) this.#toolSymlinks(rest);
    });
  }

  /** Creates a link with Deno; false, creating nothing, when Deno refuses this process links. */
  #denoSymlink({ path, linkTarget }: SymlinkEntry): boolean {
    this.#parent(path);
    const abs = this.#abs(path);
    try {
      Deno.symlinkSync(linkTarget, abs);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) {
        this.#isSymlinkViaTool = true;
        return false;
      }
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      this.#clear(path);
      Deno.symlinkSync(linkTarget, abs);
    }
    return true;
  }

  /**
   * Deno 2.9 refuses `Deno.symlink` to a process whose read or write grant
   * is path-scoped (an executor process's), whatever the paths: a symlink's
   * target is resolved only when it is traversed. Such a process creates
   * links with perl's symlink(), one process for them all (2000 links in
   * ~50 ms), or without perl with ln(1), one process per link (1.5-3 ms
   * each), when it may run them: a shell runner's may run anything, as its
   * job does; a custom runner's may run ln. What Deno guards against is kept here by other means:
   * nothing is ever written through a link (the extractor refuses entries
   * below the archive's links and creates links last, and this target never
   * follows a link it finds on disk).
   * Whatever stands at a link's path is removed first (never a directory),
   * so exactly that path is created, never a link inside a directory there.
   */
  #toolSymlinks(links: readonly SymlinkEntry[]): void {
    const pairs: string[][] = [];
    for (const { path, linkTarget } of links) {
      this.#parent(path);
      const abs = this.#abs(path);
      try {
        Deno.lstatSync(abs);
        this.#clear(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      pairs.push([linkTarget, abs]);
    }
    // Batches well under any ARG_MAX.
    for (let at = 0; at < pairs.length;) {
      const batch: string[] = [];
      for (let bytes = 0; at < pairs.length && bytes < TOOL_ARGS_BYTES; at++) {
        const [linkTarget, abs] = pairs[at] as [string, string];
        batch.push(linkTarget, abs);
        bytes += linkTarget.length + abs.length + 2;
      }
      if (!this.#hasNoPerl) {
        try {
          // PERL5OPT could make perl load modules before our one line.
          runTool("perl", ["-e", PERL_SYMLINKS, ...batch], { PERL5OPT: "" });
          continue;
        } catch (err) {
          if (!cannotStart(err)) throw err;
          this.#hasNoPerl = true;
        }
      }
      for (let i = 0; i < batch.length; i += 2) {
        try {
          runTool("ln", ["-s", "--", batch[i] as string, batch[i + 1] as string]);
        } catch (err) {
          if (!cannotStart(err)) throw err;
          throw new ArchiveError(
            "",
            "Cannot create symlinks: this process may not create them (Deno requires unscoped " +
              "--allow-read and --allow-write) nor run perl or ln",
            { cause: err },
          );
        }
      }
    }
  }

  finishDir(path: string, meta: FileMeta): Promise<void> {
    return attempt(() => {
      const abs = this.#abs(path);
      // Keep the directory writable for the owner: the runner must be able to
      // clean it up and extract into it again.
      const mode = (meta.mode & 0o777) | 0o700;
      if (this.#created.has(path)) {
        // Made by this extraction, so still a directory (the assumption the
        // remembered checks make), and mkdir gave it 0777 minus the umask:
        // the usual 0755 needs neither an lstat nor a chmod, two of the four
        // calls per directory (a node_modules tree has one per few files).
        if (mode !== (0o777 & ~this.#umask)) Deno.chmodSync(abs, mode);
        Deno.utimeSync(abs, meta.mtime, meta.mtime);
        return;
      }
      if (!Deno.lstatSync(abs).isDirectory) return;
      Deno.chmodSync(abs, mode);
      Deno.utimeSync(abs, meta.mtime, meta.mtime);
    });
  }

  remove(path: string): Promise<void> {
    return attempt(() => {
      try {
        Deno.removeSync(this.#abs(path));
      } catch { /* already gone */ }
    });
  }
}

/** Arguments per perl process; Linux allows 128 KiB for one and 2 MiB in all. */
const TOOL_ARGS_BYTES = 64 << 10;

/** Pairs of (link target, path) in @ARGV; the first failure stops it, naming the path. */
const PERL_SYMLINKS = "for (my $i = 0; $i < @ARGV; $i += 2) " +
  '{ symlink($ARGV[$i], $ARGV[$i + 1]) or die "$ARGV[$i + 1]: $!\\n" }';

/** Whether `err` says the program cannot start here: absent, or outside this process's run grant. */
function cannotStart(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable;
}

/**
 * Runs `program` to its end; throws Deno's error when it cannot start (see
 * `cannotStart`), an ArchiveError when it fails.
 */
function runTool(program: string, args: string[], env: Record<string, string> = {}): void {
  const out = new Deno.Command(program, {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  })
    .outputSync();
  if (!out.success) {
    throw new ArchiveError(
      "",
      `Cannot create symlinks: ${program} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Runs synchronous work, turning a throw into a rejection. */
function attempt(work: () => void): Promise<void> {
  try {
    work();
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err);
  }
}
