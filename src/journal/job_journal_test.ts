import assert from "node:assert/strict";
import { MemoryJournalStore, RecordingLogger } from "./_journal_fakes.ts";
import { JobJournal } from "./job_journal.ts";
import { decodeJournal } from "./journal_record.ts";

const RUNNER = { url: "https://gitlab.example.com", token: "glrt-t1_abcdefghijklmnopqrst" };
const now = () => new Date("2026-01-02T03:04:05Z");

Deno.test("JobJournal lists a job taken and started but never reported after a reopen", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 7, token: "glcbt-job7" });
  await journal.started(RUNNER, 7);
  await journal.taken(RUNNER, { id: 8, token: "glcbt-job8" });
  await journal.reported(RUNNER, 8, "success");
  // kill -9 here: nothing but the store survives.
  const reopened = await JobJournal.open(store, { log: new RecordingLogger(), now });
  assert.deepEqual(reopened.inHand(), [{
    jobId: 7,
    url: RUNNER.url,
    runner: "abcdefghi",
    jobToken: "glcbt-job7",
    isStarted: true,
    takenAt: "2026-01-02T03:04:05.000Z",
  }]);
});

Deno.test("JobJournal never writes the runner token, only its short form", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 1, token: "glcbt-one" });
  await journal.compact();
  await journal.taken(RUNNER, { id: 2, token: "glcbt-two" });
  assert.doesNotMatch(store.text, /abcdefghijklmnopqrst/);
  assert.match(store.text, /"runner":"abcdefghi"/);
  assert.match(store.text, /"job_token":"glcbt-two"/);
});

Deno.test("JobJournal skips a line torn by a crash and rewrites the file clean on open", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 3, token: "glcbt-three" });
  store.text += `{"v":1,"type":"finished-reported","job_id":3,"u`; // torn mid-write
  const log = new RecordingLogger();
  const reopened = await JobJournal.open(store, { log, now });
  assert.deepEqual(
    reopened.inHand().map((j) => j.jobId),
    [3],
    "a torn 'reported' line does not count",
  );
  assert.ok(log.records.some((r) => r.level === "warn" && /unreadable lines/.test(r.msg)));
  assert.ok(store.text.endsWith("\n"));
  assert.deepEqual(decodeJournal(store.text).badLines, []);
});

Deno.test("JobJournal groups concurrent records into one write", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  const before = store.appends;
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => journal.taken(RUNNER, { id: i, token: `t${i}` })),
  );
  assert.ok(store.appends - before <= 2, `20 records took ${store.appends - before} appends`);
  assert.equal(journal.inHand().length, 20);
});

Deno.test("JobJournal compacts after many records, keeping only jobs in hand", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, {
    log: new RecordingLogger(),
    now,
    compactAfterRecords: 10,
  });
  for (let i = 0; i < 30; i++) {
    await journal.taken(RUNNER, { id: i, token: `t${i}` });
    if (i !== 29) await journal.reported(RUNNER, i, "success");
  }
  await journal.close();
  const { records } = decodeJournal(store.text);
  assert.ok(records.length < 20, `file holds ${records.length} records`);
  const reopened = await JobJournal.open(store, { log: new RecordingLogger(), now });
  assert.deepEqual(reopened.inHand().map((j) => j.jobId), [29]);
});

Deno.test("JobJournal logs a failing disk once, does not reject, and restores lost records once it works", async () => {
  const store = new MemoryJournalStore();
  const log = new RecordingLogger();
  const journal = await JobJournal.open(store, { log, now });
  store.failWrites = true;
  await journal.taken(RUNNER, { id: 1, token: "t1" });
  await journal.taken(RUNNER, { id: 2, token: "t2" });
  assert.equal(log.records.filter((r) => r.level === "error").length, 1);
  assert.match(log.records.find((r) => r.level === "error")!.msg, /Cannot write the job journal/);
  store.failWrites = false;
  await journal.started(RUNNER, 2);
  await journal.close();
  const reopened = await JobJournal.open(store, { log: new RecordingLogger(), now });
  assert.deepEqual(reopened.inHand().map((j) => [j.jobId, j.isStarted]), [[1, false], [2, true]]);
});

Deno.test("JobJournal: once the disk has room again, the job taken then counts as on disk only with the jobs taken while it was full", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  store.failWrites = true;
  await journal.taken(RUNNER, { id: 1, token: "t1" });
  await journal.taken(RUNNER, { id: 2, token: "t2" });
  store.failWrites = false;
  // A rewrite takes its time on a real disk.
  store.replace = (text) =>
    new Promise((resolve) =>
      setTimeout(() => {
        store.text = text;
        resolve();
      }, 20)
    );
  await journal.taken(RUNNER, { id: 3, token: "t3" });
  // kill -9 right after: its acceptance PUT may have gone out.
  const decoded = decodeJournal(store.text);
  assert.deepEqual(decoded.records.filter((r) => r.type === "taken").map((r) => r.jobId), [
    1,
    2,
    3,
  ]);
});

Deno.test("JobJournal.open rejects when the store cannot be read", async () => {
  const store = new MemoryJournalStore();
  store.read = () => Promise.reject(new Error("Permission denied"));
  await assert.rejects(JobJournal.open(store, { log: new RecordingLogger() }), /Permission denied/);
});

Deno.test("JobJournal fsyncs a job's taken record before it resolves, its started and finished-reported records with the next fsync or at close", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  const before = store.appends;
  for (let id = 1; id <= 3; id++) {
    await journal.taken(RUNNER, { id, token: `glcbt-job${id}` });
    await journal.started(RUNNER, id);
    await journal.reported(RUNNER, id, "success");
  }
  // One fsync per job (its taken record), not one per record.
  assert.equal(store.appends - before, 3);
  assert.equal(decodeJournal(store.text).records.length, 9, "every record is in the file at once");
  await journal.close();
  assert.equal(store.appends - before, 4, "close fsyncs the last job's unsynced records");
});

Deno.test("JobJournal's started and finished-reported records do not wait for an fsync in flight", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 1, token: "glcbt-job1" });
  const disk = Promise.withResolvers<void>();
  store.append = (text) => disk.promise.then(() => void (store.text += text));
  // Job 2's taken waits for the slow disk; job 1's records are written without waiting.
  const taken = journal.taken(RUNNER, { id: 2, token: "glcbt-job2" });
  await journal.started(RUNNER, 1);
  await journal.reported(RUNNER, 1, "success");
  assert.match(store.text, /"type":"finished-reported","job_id":1/);
  let isTakenDone = false;
  void taken.then(() => isTakenDone = true);
  await Promise.resolve();
  assert.equal(isTakenDone, false, "taken still waits for its fsync");
  disk.resolve();
  await taken;
  await journal.close();
});

Deno.test("JobJournal keeps the result of a job that ended before its final update, through a reopen and a compaction", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 7, token: "glcbt-job7" });
  await journal.started(RUNNER, 7);
  // runner_interrupted is not in this GitLab's list: kept as the final update would send it.
  await journal.ended(RUNNER, 7, { state: "failed", failureReason: "runner_interrupted" }, [
    "script_failure",
  ]);
  await journal.taken(RUNNER, { id: 8, token: "glcbt-job8" });
  await journal.ended(RUNNER, 8, { state: "success" }, []);
  const reopened = await JobJournal.open(store, { log: new RecordingLogger(), now });
  const results = () => reopened.inHand().map((job) => [job.jobId, job.result]);
  assert.deepEqual(results(), [
    [7, { state: "failed", failureReason: "unknown_failure" }],
    [8, { state: "success" }],
  ]);
  await reopened.compact();
  assert.deepEqual(results(), [
    [7, { state: "failed", failureReason: "unknown_failure" }],
    [8, { state: "success" }],
  ]);
  const again = await JobJournal.open(store, { log: new RecordingLogger(), now });
  assert.deepEqual(again.inHand().map((job) => job.result), [
    { state: "failed", failureReason: "unknown_failure" },
    { state: "success" },
  ]);
});

Deno.test("JobJournal skips a record whose url is not a GitLab URL, naming the file in its warning", async () => {
  const store = new MemoryJournalStore(
    `{"v":1,"type":"taken","job_id":4,"url":"not a url","runner":"abcdefghi","job_token":"t","at":"x"}\n` +
      `{"v":1,"type":"taken","job_id":5,"url":"file:///etc","runner":"abcdefghi","job_token":"t","at":"x"}\n`,
  );
  const log = new RecordingLogger();
  const journal = await JobJournal.open(store, { log, now });
  assert.deepEqual(journal.inHand(), []);
  const warning = log.records.find((r) => /unreadable lines/.test(r.msg));
  assert.deepEqual(warning?.fields, { file: "/state/journal/jobs.jsonl", lines: "1,2" });
});

Deno.test("JobJournal keeps the unsent end of an ended job's log across a reopen and a compaction", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await journal.taken(RUNNER, { id: 13, token: "t13" });
  const bytes = new Uint8Array([0, 255, 10, 0x1b, 65]);
  const log = { offset: 100, bytes, checksum: "crc32:0badf00d", size: 105 };
  await journal.ended(RUNNER, 13, { state: "success" }, [], log);
  const reopened = await JobJournal.open(store, { log: new RecordingLogger(), now });
  await reopened.compact();
  const again = await JobJournal.open(store, { log: new RecordingLogger(), now });
  assert.deepEqual(again.inHand()[0]?.result, { state: "success", log });
});

Deno.test("JobJournal compacts after compactAfterBytes of records too: kept log ends do not grow the file for 1000 jobs", async () => {
  const store = new MemoryJournalStore();
  const journal = await JobJournal.open(store, {
    log: new RecordingLogger(),
    now,
    compactAfterBytes: 20_000,
  });
  const bytes = new Uint8Array(6000).fill(120);
  for (let id = 1; id <= 4; id++) {
    await journal.taken(RUNNER, { id, token: `t${id}` });
    await journal.ended(RUNNER, id, { state: "success" }, [], {
      offset: 0,
      bytes,
      checksum: "crc32:00000000",
      size: 6000,
    });
    await journal.reported(RUNNER, id, "success");
  }
  await journal.taken(RUNNER, { id: 5, token: "t5" });
  await journal.close();
  assert.ok(store.replaces >= 2, `compacted on open and on size: ${store.replaces} replaces`);
  assert.ok(store.text.length < 20_000, `journal is ${store.text.length} bytes`);
});
