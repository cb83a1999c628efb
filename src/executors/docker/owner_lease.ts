/**
 * Tells whether the executor process that created a docker resource is still
 * alive, so the next executor can sweep what a killed one (even `kill -9`)
 * left behind. Each executor process holds an exclusive flock on
 * `<stateDir>/owners/<owner id>.lock` for its lifetime; the kernel drops the
 * lock when the process dies, however it dies. A lock that can be taken
 * therefore belongs to a dead owner. No process spawning and no pid guessing:
 * only the state dir, which the executor process may read and write.
 *
 * Resources carry the host id of the state dir too: a daemon shared by several
 * runner hosts only has its resources swept by the host that can check them.
 */
import { join } from "node:path";

const OWNER_ID_PATTERN = /^[a-z0-9-]{8,64}$/;

async function readOrCreateHostId(stateDir: string): Promise<string> {
  const path = join(stateDir, "host_id");
  try {
    const id = (await Deno.readTextFile(path)).trim();
    if (OWNER_ID_PATTERN.test(id)) return id;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  // Write aside, then link: the link fails if another process won the race,
  // and nobody ever reads a half-written id.
  const tmp = join(stateDir, `host_id.${crypto.randomUUID()}`);
  await Deno.writeTextFile(tmp, crypto.randomUUID());
  try {
    await Deno.link(tmp, path);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  return (await Deno.readTextFile(path)).trim();
}

export class OwnerLease implements AsyncDisposable {
  readonly ownerId: string;
  readonly hostId: string;
  readonly #ownersDir: string;
  #file: Deno.FsFile | null;

  private constructor(ownerId: string, hostId: string, ownersDir: string, file: Deno.FsFile) {
    this.ownerId = ownerId;
    this.hostId = hostId;
    this.#ownersDir = ownersDir;
    this.#file = file;
  }

  /** Takes a fresh owner id and holds its lock until `release` or process exit. */
  static async acquire(stateDir: string): Promise<OwnerLease> {
    const ownersDir = join(stateDir, "owners");
    await Deno.mkdir(ownersDir, { recursive: true });
    const hostId = await readOrCreateHostId(stateDir);
    const ownerId = crypto.randomUUID();
    const file = await Deno.open(join(ownersDir, `${ownerId}.lock`), {
      create: true,
      write: true,
    });
    if (!(await file.tryLock(true))) {
      file.close();
      throw new Error(`Cannot lock the new owner file for "${ownerId}"`);
    }
    return new OwnerLease(ownerId, hostId, ownersDir, file);
  }

  /**
   * Whether the owner may still be running. Unknown ids (no lock file here)
   * are dead: the file is created before the owner creates any resource.
   */
  async isAlive(ownerId: string): Promise<boolean> {
    if (ownerId === this.ownerId) return this.#file !== null;
    if (!OWNER_ID_PATTERN.test(ownerId)) return false;
    const path = join(this.#ownersDir, `${ownerId}.lock`);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
    try {
      return !(await file.tryLock(true));
    } finally {
      file.close();
    }
  }

  /** Forgets a dead owner's lock file. */
  async forget(ownerId: string): Promise<void> {
    if (ownerId === this.ownerId || !OWNER_ID_PATTERN.test(ownerId)) return;
    await Deno.remove(join(this.#ownersDir, `${ownerId}.lock`)).catch(() => {});
  }

  /** Drops the lock and its file; safe to call twice. */
  async release(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    await Deno.remove(join(this.#ownersDir, `${this.ownerId}.lock`)).catch(() => {});
    file.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
