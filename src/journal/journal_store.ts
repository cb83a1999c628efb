/**
 * Where the job journal's bytes live. `FileJournalStore` is the only part of
 * journal/ that touches the file system; the logic in job_journal.ts sees it
 * through `JournalStore`, so unit tests pass an in-memory store.
 */
import { join } from "../path/host_path.ts";

/**
 * Durable text storage for the journal. Calls are never concurrent (the
 * journal serialises them). `close` may run twice.
 */
export interface JournalStore {
  /** Where the journal is, for messages (the file's path). */
  readonly path: string;
  /** Whole journal text; "" when there is none yet. */
  read(): Promise<string>;
  /**
   * Appends `text` at once, without waiting for the disk: from here it
   * survives a crash of this process (not a power cut). Throws when it cannot.
   */
  write(text: string): void;
  /**
   * Appends `text` (may be ""); resolves once it and every earlier write are
   * on stable storage (fsync). Rejects also when the file was removed
   * meanwhile: only `replace` then puts the journal back.
   */
  append(text: string): Promise<void>;
  /** Replaces the whole journal atomically: readers see the old or the new text, never a mix. */
  replace(text: string): Promise<void>;
  close(): void;
}

/** The journal's file name inside its directory. */
export const JOURNAL_FILE = "jobs.jsonl";
/**
 * Held locked (flock, exclusive) by the process that has the journal open. A
 * file of its own: the journal itself is replaced by rename at compaction.
 */
export const LOCK_FILE = "jobs.lock";

const encoder = new TextEncoder();

/** Thrown when the journal file cannot be used, naming the path and why. */
export class JournalStoreError extends Error {
  override readonly name = "JournalStoreError";
}

/**
 * `<dir>/jobs.jsonl`, mode 0600 in a 0700 directory: it holds job tokens.
 * Appends go through one handle opened with O_APPEND and are fsynced;
 * `replace` writes a temp file, fsyncs it, renames it over the journal and
 * fsyncs the directory, so a crash leaves either version whole.
 *
 * One process at a time: a second `runner run` on the same config directory
 * would read the first one's running jobs as interrupted and fail them on
 * GitLab. `open` takes an exclusive lock on `jobs.lock`, which the kernel
 * drops when the process ends, `kill -9` included.
 */
export class FileJournalStore implements JournalStore {
  readonly path: string;
  readonly #dir: string;
  #file: Deno.FsFile | null = null;
  #lock: Deno.FsFile | null = null;
  /** What the file holds by our writes: less on disk means someone truncated it. */
  #size = 0;

  private constructor(dir: string) {
    this.#dir = dir;
    this.path = join(dir, JOURNAL_FILE);
  }

  /** Creates the directory (0700) and the file (0600) when missing. */
  static async open(dir: string): Promise<FileJournalStore> {
    const store = new FileJournalStore(dir);
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      await Deno.chmod(dir, 0o700);
      store.#file = await store.#openAppend();
    } catch (cause) {
      store.close();
      if (cause instanceof JournalStoreError) throw cause;
      throw new JournalStoreError(
        `Cannot open the job journal "${store.path}": ${(cause as Error).message}`,
        { cause },
      );
    }
    return store;
  }

  /**
   * Takes the lock, again when its file was removed with the directory
   * (a lock on a removed file keeps no other runner out).
   */
  async #holdLock(): Promise<void> {
    const held = this.#lock;
    if (held !== null && (await held.stat()).nlink !== 0) return;
    held?.close();
    this.#lock = null;
    const lockPath = join(this.#dir, LOCK_FILE);
    const lock = await Deno.open(lockPath, { write: true, create: true, mode: 0o600 });
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new JournalStoreError(
        `Cannot open the job journal "${this.path}": another runner process uses it ` +
          `("${lockPath}" is locked): each "runner run" needs a config directory of its own`,
      );
    }
    this.#lock = lock;
  }

  async #openAppend(): Promise<Deno.FsFile> {
    // Again after the directory was removed while the runner ran (see `append`).
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await this.#holdLock();
    const file = await Deno.open(this.path, { append: true, create: true, mode: 0o600 });
    // An older file (or a umask-created one) must not stay readable by others.
    await Deno.chmod(this.path, 0o600);
    this.#size = (await file.stat()).size;
    return file;
  }

  async read(): Promise<string> {
    try {
      return await Deno.readTextFile(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return "";
      throw err;
    }
  }

  write(text: string): void {
    const file = this.#file;
    if (file === null) throw new JournalStoreError(`The job journal "${this.path}" is not open`);
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.byteLength) {
      const n = file.writeSync(bytes.subarray(written));
      written += n;
      this.#size += n;
    }
  }

  async append(text: string): Promise<void> {
    const file = this.#file ?? (this.#file = await this.#openAppend());
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.byteLength) {
      const n = await file.write(bytes.subarray(written));
      written += n;
      this.#size += n;
    }
    await file.sync();
    // Writes to a file whose name was removed (the state directory deleted by
    // a cleaner or an operator) succeed, into an inode nobody will read after
    // a crash; a file truncated meanwhile (`: > jobs.jsonl`) lost the records
    // before. Checked here, where `taken` waits: the caller rewrites the file.
    // (Taken before the stat: a write meanwhile only makes the file larger.)
    const expected = this.#size;
    const info = await file.stat();
    if (info.size < expected && info.nlink !== 0) {
      throw new JournalStoreError(
        `The job journal "${this.path}" was truncated while the runner used it ` +
          `(${info.size} bytes, ${expected} written)`,
      );
    }
    if (info.nlink === 0) {
      this.#file = null;
      file.close();
      throw new JournalStoreError(
        `The job journal "${this.path}" was removed while the runner used it`,
      );
    }
  }

  async replace(text: string): Promise<void> {
    const temp = `${this.path}.tmp`;
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await this.#holdLock();
    const file = await Deno.open(temp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, this.path);
    await this.#syncDir();
    // The old handle points at the replaced inode.
    this.#file?.close();
    this.#file = await this.#openAppend();
  }

  async #syncDir(): Promise<void> {
    try {
      using dir = await Deno.open(this.#dir, { read: true });
      await dir.sync();
    } catch {
      // Not every platform can fsync a directory (Windows); the rename itself is still atomic.
    }
  }

  close(): void {
    for (const file of [this.#file, this.#lock]) {
      try {
        file?.close();
      } catch {
        // Already closed.
      }
    }
    this.#file = null;
    this.#lock = null;
  }
}
