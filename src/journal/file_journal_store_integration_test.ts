import assert from "node:assert/strict";
import { join } from "node:path";
import { MemoryJournalStore, RecordingLogger } from "./_journal_fakes.ts";
import { JobJournal } from "./job_journal.ts";
import { FileJournalStore, JOURNAL_FILE, type JournalStore } from "./journal_store.ts";

const RUNNER = { url: "https://gitlab.example.com", token: "glrt-t1_abcdefghijklmnopqrst" };

/** `FileJournalStore.open`, tried again for up to 5 s while its lock is held. */
async function openOnceFree(dir: string): Promise<FileJournalStore> {
  const until = Date.now() + 5000;
  for (;;) {
    try {
      return await FileJournalStore.open(dir);
    } catch (err) {
      if (!/is locked/.test((err as Error).message) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test("the journal file is 0600 in a 0700 directory and survives a reopen", async () => {
  const root = await Deno.makeTempDir({ prefix: "journal-" });
  const dir = join(root, ".runner", "journal");
  try {
    const store = await FileJournalStore.open(dir);
    const journal = await JobJournal.open(store, { log: new RecordingLogger() });
    await journal.taken(RUNNER, { id: 11, token: "glcbt-eleven" });
    await journal.started(RUNNER, 11);
    // A crash: no journal.close() (no fsync), the kernel closes the files (and drops the lock).
    store.close();
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(join(dir, JOURNAL_FILE))).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    }
    const again = await JobJournal.open(await openOnceFree(dir), {
      log: new RecordingLogger(),
    });
    assert.deepEqual(again.inHand().map((j) => [j.jobId, j.jobToken, j.isStarted]), [[
      11,
      "glcbt-eleven",
      true,
    ]]);
    await again.reported(RUNNER, 11, "failed");
    await again.compact();
    assert.equal(await Deno.readTextFile(join(dir, JOURNAL_FILE)), "");
    await again.close();
    await again.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a second runner on the same journal is refused, naming the lock, until the first is gone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const first = await FileJournalStore.open(dir);
    await assert.rejects(FileJournalStore.open(dir), (err: Error) => {
      assert.equal(err.name, "JournalStoreError");
      assert.match(err.message, /another runner process uses it \(".*jobs\.lock" is locked\)/);
      return true;
    });
    first.close();
    // The kernel drops the lock once no descriptor of it is left: a process that another test
    // module of this process (deno test --parallel) forks just then holds a copy until it execs.
    const second = await openOnceFree(dir);
    second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an existing journal readable by others is made 0600 on open", async () => {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    await Deno.writeTextFile(join(dir, JOURNAL_FILE), "", { mode: 0o644 });
    await Deno.chmod(join(dir, JOURNAL_FILE), 0o644);
    const store = await FileJournalStore.open(dir);
    store.close();
    assert.equal((await Deno.stat(join(dir, JOURNAL_FILE))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a journal directory that cannot be created gives an error naming the path", async () => {
  const file = await Deno.makeTempFile({ prefix: "journal-" });
  try {
    await assert.rejects(FileJournalStore.open(join(file, "journal")), (err: Error) => {
      assert.equal(err.name, "JournalStoreError");
      assert.match(err.message, /Cannot open the job journal ".*jobs\.jsonl": /);
      return true;
    });
  } finally {
    await Deno.remove(file);
  }
});

/** The real file store whose fsyncs wait while `hold()` is in force: a disk slow to sync. */
class SlowSyncStore implements JournalStore {
  readonly #inner: FileJournalStore;
  #gate: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  constructor(inner: FileJournalStore) {
    this.#inner = inner;
  }
  get path(): string {
    return this.#inner.path;
  }
  hold(): void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#gate = promise;
    this.#release = resolve;
  }
  release(): void {
    this.#release();
  }
  read(): Promise<string> {
    return this.#inner.read();
  }
  write(text: string): void {
    this.#inner.write(text);
  }
  async append(text: string): Promise<void> {
    await this.#gate;
    await this.#inner.append(text);
  }
  async replace(text: string): Promise<void> {
    await this.#gate;
    await this.#inner.replace(text);
  }
  close(): void {
    this.#inner.close();
  }
}

Deno.test("a job taken while the disk is slow to sync is in the file at once: a crash then does not lose it", async () => {
  const root = await Deno.makeTempDir({ prefix: "journal-" });
  const dir = join(root, "journal");
  try {
    const store = new SlowSyncStore(await FileJournalStore.open(dir));
    const journal = await JobJournal.open(store, { log: new RecordingLogger() });
    store.hold();
    const first = journal.taken(RUNNER, { id: 21, token: "glcbt-first" });
    const second = journal.taken(RUNNER, { id: 22, token: "glcbt-second" });
    // Neither fsync has returned; a runner killed now restarts from what the file holds.
    // (Read into memory: the live store holds the journal's lock.)
    const reopened = await JobJournal.open(
      new MemoryJournalStore(await Deno.readTextFile(join(dir, JOURNAL_FILE))),
      { log: new RecordingLogger() },
    );
    assert.deepEqual(reopened.inHand().map((j) => j.jobId), [21, 22]);
    store.release();
    await Promise.all([first, second]);
    await journal.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a journal whose directory is removed while the runner runs is written again before the next job counts as taken", async () => {
  const root = await Deno.makeTempDir({ prefix: "journal-" });
  const dir = join(root, ".runner", "journal");
  try {
    const log = new RecordingLogger();
    const store = await FileJournalStore.open(dir);
    const journal = await JobJournal.open(store, { log });
    await journal.taken(RUNNER, { id: 31, token: "glcbt-31" });
    await Deno.remove(join(root, ".runner"), { recursive: true });
    await journal.started(RUNNER, 31);
    await journal.taken(RUNNER, { id: 32, token: "glcbt-32" });
    // kill -9 here: the next start reads what the file holds.
    const reopened = await JobJournal.open(
      new MemoryJournalStore(await Deno.readTextFile(join(dir, JOURNAL_FILE))),
      { log: new RecordingLogger() },
    );
    assert.deepEqual(reopened.inHand().map((j) => [j.jobId, j.isStarted]), [[31, true], [
      32,
      false,
    ]]);
    const error = log.records.find((r) => r.level === "error");
    assert.match(String(error?.fields["error"]), /The job journal ".*jobs\.jsonl" was removed/);
    assert.ok(log.records.some((r) => r.msg === "Job journal is written again"));
    await assert.rejects(
      FileJournalStore.open(dir),
      /another runner process uses it/,
      "the lock is held again",
    );
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(join(dir, JOURNAL_FILE))).mode! & 0o777, 0o600);
    }
    await journal.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a journal file truncated while the runner runs is written again before the next job counts as taken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const log = new RecordingLogger();
    const journal = await JobJournal.open(await FileJournalStore.open(dir), { log });
    await journal.taken(RUNNER, { id: 41, token: "glcbt-41" });
    await journal.started(RUNNER, 41);
    await Deno.truncate(join(dir, JOURNAL_FILE), 0);
    await journal.taken(RUNNER, { id: 42, token: "glcbt-42" });
    const reopened = await JobJournal.open(
      new MemoryJournalStore(await Deno.readTextFile(join(dir, JOURNAL_FILE))),
      { log: new RecordingLogger() },
    );
    assert.deepEqual(reopened.inHand().map((j) => [j.jobId, j.isStarted]), [[41, true], [
      42,
      false,
    ]]);
    const error = log.records.find((r) => r.level === "error");
    assert.match(String(error?.fields["error"]), /The job journal ".*jobs\.jsonl" was truncated/);
    // Records after the rewrite are not taken for a truncation.
    await journal.taken(RUNNER, { id: 43, token: "glcbt-43" });
    assert.equal(log.records.filter((r) => r.level === "error").length, 1);
    await journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
