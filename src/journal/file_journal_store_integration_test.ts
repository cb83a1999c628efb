import assert from "node:assert/strict";
import { join } from "node:path";
import { RecordingLogger } from "./_journal_fakes.ts";
import { JobJournal } from "./job_journal.ts";
import { FileJournalStore, JOURNAL_FILE } from "./journal_store.ts";

const RUNNER = { url: "https://gitlab.example.com", token: "glrt-t1_abcdefghijklmnopqrst" };

Deno.test("the journal file is 0600 in a 0700 directory and survives a reopen", async () => {
  const root = await Deno.makeTempDir({ prefix: "journal-" });
  const dir = join(root, ".runner", "journal");
  try {
    const journal = await JobJournal.open(await FileJournalStore.open(dir), {
      log: new RecordingLogger(),
    });
    await journal.taken(RUNNER, { id: 11, token: "glcbt-eleven" });
    await journal.started(RUNNER, 11);
    // No close(): a crash does not close files either.
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(join(dir, JOURNAL_FILE))).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    }
    const again = await JobJournal.open(await FileJournalStore.open(dir), {
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
    await journal.close();
  } finally {
    await Deno.remove(root, { recursive: true });
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
