import assert from "node:assert/strict";
import { FakeTraceTransport, MemoryJournalStore, RecordingLogger } from "./_journal_fakes.ts";
import { JobJournal } from "./job_journal.ts";
import { reportInterruptedJobs } from "./journal_recovery.ts";

const RUNNER = { url: "https://gitlab.example.com", token: "glrt-t1_abcdefghijklmnopqrst" };

async function journalWith(
  jobs: { id: number; token: string; started?: boolean }[],
): Promise<{ store: MemoryJournalStore; journal: JobJournal }> {
  const store = new MemoryJournalStore();
  const first = await JobJournal.open(store, { log: new RecordingLogger() });
  for (const job of jobs) {
    await first.taken(RUNNER, job);
    if (job.started) await first.started(RUNNER, job.id);
  }
  // The runner dies; a new one opens the same journal.
  return { store, journal: await JobJournal.open(store, { log: new RecordingLogger() }) };
}

const noSleep = () => Promise.resolve();

Deno.test("an interrupted job gets a note appended after its trace and failed/runner_system_failure", async () => {
  const { store, journal } = await journalWith([{ id: 5, token: "glcbt-five", started: true }]);
  const gitlab = new FakeTraceTransport("glcbt-five", "line 1\nline 2\npartial");
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.deepEqual(outcome, { reported: [5], gone: [], kept: [] });
  assert.match(
    gitlab.traceText,
    /^line 1\nline 2\npartial\n.*Runner restarted: the job was interrupted while it was running/,
  );
  assert.deepEqual(gitlab.updates, [{ state: "failed", failureReason: "runner_system_failure" }]);
  const after = await JobJournal.open(store, { log: new RecordingLogger() });
  assert.deepEqual(after.inHand(), [], "reported jobs leave the journal");
});

Deno.test("a job already finished on GitLab is dropped from the journal without an update", async () => {
  const { journal } = await journalWith([{ id: 6, token: "glcbt-six" }]);
  const gitlab = new FakeTraceTransport("glcbt-six", "done\n");
  gitlab.status = "success";
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.deepEqual(outcome, { reported: [], gone: [6], kept: [] });
  assert.equal(gitlab.traceText, "done\n");
  assert.deepEqual(journal.inHand(), []);
});

Deno.test("GitLab unreachable at restart: the job stays in the journal for the next start", async () => {
  const { store, journal } = await journalWith([{ id: 9, token: "glcbt-nine" }]);
  const gitlab = new FakeTraceTransport("glcbt-nine");
  gitlab.patchScript = Array.from(
    { length: 10 },
    () => ({ kind: "failed" as const, error: "connection refused" }),
  );
  const sleeps: number[] = [];
  const log = new RecordingLogger();
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log,
    attempts: 3,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  assert.deepEqual(outcome, { reported: [], gone: [], kept: [9] });
  assert.deepEqual(sleeps, [1000, 2000], "exponential backoff between attempts");
  assert.ok(log.records.some((r) => r.level === "error" && /stays in the journal/.test(r.msg)));
  const next = await JobJournal.open(store, { log: new RecordingLogger() });
  assert.deepEqual(next.inHand().map((j) => j.jobId), [9]);
});

Deno.test("the note is appended once even when the final update needs another attempt", async () => {
  const { journal } = await journalWith([{ id: 4, token: "glcbt-four", started: true }]);
  const gitlab = new FakeTraceTransport("glcbt-four", "x");
  gitlab.updateScript = [
    { kind: "failed", status: 502 },
    { kind: "accepted", updateIntervalSeconds: 1 },
  ];
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.deepEqual(outcome.reported, [4]);
  assert.equal(gitlab.traceText.match(/Runner restarted/g)?.length, 1);
});

Deno.test("nothing in the journal: no request is made", async () => {
  const { journal } = await journalWith([]);
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => {
      throw new Error("no transport expected");
    },
    log: new RecordingLogger(),
  });
  assert.deepEqual(outcome, { reported: [], gone: [], kept: [] });
});

Deno.test("a job that had ended before GitLab took its final update is reported with its own result", async () => {
  const store = new MemoryJournalStore();
  const first = await JobJournal.open(store, { log: new RecordingLogger() });
  await first.taken(RUNNER, { id: 9, token: "glcbt-nine" });
  await first.started(RUNNER, 9);
  await first.ended(RUNNER, 9, { state: "success" }, []);
  await first.taken(RUNNER, { id: 10, token: "glcbt-ten" });
  await first.ended(
    RUNNER,
    10,
    { state: "failed", failureReason: "script_failure", exitCode: 3 },
    [],
  );
  const journal = await JobJournal.open(store, { log: new RecordingLogger() });
  const nine = new FakeTraceTransport("glcbt-nine", "all done\n");
  const ten = new FakeTraceTransport("glcbt-ten", "exit 3\n");
  const log = new RecordingLogger();
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: (job) => job.jobId === 9 ? nine : ten,
    log,
    sleep: noSleep,
  });
  assert.deepEqual(outcome, { reported: [9, 10], gone: [], kept: [] });
  assert.deepEqual(nine.updates, [{ state: "success" }]);
  assert.deepEqual(ten.updates, [{
    state: "failed",
    failureReason: "script_failure",
    exitCode: 3,
  }]);
  assert.match(
    nine.traceText,
    /^all done\n[\s\S]*Runner restarted: the job had succeeded before the runner stopped/,
  );
  assert.doesNotMatch(nine.traceText, /Job failed/);
  assert.match(ten.traceText, /the job had failed \(script_failure\)/);
});

Deno.test("a job whose GitLab client cannot be made stays in the journal; the others are reported", async () => {
  const { journal } = await journalWith([
    { id: 10, token: "glcbt-ten", started: true },
    { id: 11, token: "glcbt-eleven", started: true },
  ]);
  const gitlab = new FakeTraceTransport("glcbt-eleven");
  const log = new RecordingLogger();
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: (job) => {
      if (job.jobId === 10) throw new TypeError(`Invalid GitLab URL "x": not an absolute URL`);
      return gitlab;
    },
    log,
    sleep: noSleep,
  });
  assert.deepEqual(outcome, { reported: [11], gone: [], kept: [10] });
  assert.ok(
    log.records.some((r) =>
      r.level === "error" && r.fields["job_id"] === 10 &&
      /Invalid GitLab URL/.test(String(r.fields["error"]))
    ),
  );
  assert.deepEqual(journal.inHand().map((j) => j.jobId), [10]);
});

Deno.test("a later try with the same notedJobs does not append the note again", async () => {
  const { journal } = await journalWith([{ id: 12, token: "glcbt-twelve", started: true }]);
  const gitlab = new FakeTraceTransport("glcbt-twelve", "out\n");
  // The note goes in; every final update of the first report fails.
  gitlab.updateScript = Array.from(
    { length: 2 },
    () => ({ kind: "failed" as const, error: "503" }),
  );
  const notedJobs = new Set<string>();
  const options = {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
    attempts: 2,
    notedJobs,
  };
  assert.deepEqual((await reportInterruptedJobs(journal, options)).kept, [12]);
  const outcome = await reportInterruptedJobs(journal, { ...options, jobs: journal.inHand() });
  assert.deepEqual(outcome.reported, [12]);
  assert.equal(gitlab.traceText.split("Runner restarted").length - 1, 1);
});

async function endedWithLog(
  id: number,
  token: string,
  log: { offset: number; text: string; checksum: string },
): Promise<JobJournal> {
  const store = new MemoryJournalStore();
  const first = await JobJournal.open(store, { log: new RecordingLogger() });
  await first.taken(RUNNER, { id, token });
  await first.started(RUNNER, id);
  const bytes = new TextEncoder().encode(log.text);
  await first.ended(RUNNER, id, { state: "success" }, [], {
    offset: log.offset,
    bytes,
    checksum: log.checksum,
    size: log.offset + bytes.length,
  });
  return await JobJournal.open(store, { log: new RecordingLogger() });
}

Deno.test("the end of an ended job's log kept in the journal goes from where GitLab's copy ends, then the state with its checksum, no note", async () => {
  // GitLab had "line 1\n" confirmed; a PATCH in flight at the crash brought "li" too.
  const journal = await endedWithLog(14, "glcbt-14", {
    offset: 7,
    text: "line 2\nJob succeeded\n",
    checksum: "crc32:12345678",
  });
  const gitlab = new FakeTraceTransport("glcbt-14", "line 1\nli");
  const outcome = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.deepEqual(outcome.reported, [14]);
  assert.equal(gitlab.traceText, "line 1\nline 2\nJob succeeded\n");
  assert.deepEqual(gitlab.updates, [{
    state: "success",
    checksum: "crc32:12345678",
    bytesize: 28,
  }]);
});

Deno.test("a kept end of a log that does not join GitLab's copy is not sent: the note says the end may be missing", async () => {
  const journal = await endedWithLog(15, "glcbt-15", {
    offset: 50,
    text: "the end\n",
    checksum: "crc32:12345678",
  });
  const gitlab = new FakeTraceTransport("glcbt-15", "only 10 b\n");
  await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.doesNotMatch(gitlab.traceText, /the end\n/);
  assert.match(gitlab.traceText, /^only 10 b\n.*the end of its log may be missing/s);
  assert.deepEqual(gitlab.updates, [{ state: "success" }]);
});

Deno.test("a start that dies after the note and before the final update: the next start does not append the note again", async () => {
  const { store, journal } = await journalWith([{ id: 16, token: "glcbt-16", started: true }]);
  const gitlab = new FakeTraceTransport("glcbt-16", "out\n");
  gitlab.updateScript = [{ kind: "failed", error: "503" }];
  const first = await reportInterruptedJobs(journal, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
    attempts: 1,
  });
  assert.deepEqual(first.kept, [16]);
  // That runner is killed; the next one opens the same journal.
  const next = await JobJournal.open(store, { log: new RecordingLogger() });
  const second = await reportInterruptedJobs(next, {
    transportFor: () => gitlab,
    log: new RecordingLogger(),
    sleep: noSleep,
  });
  assert.deepEqual(second.reported, [16]);
  assert.equal(gitlab.traceText.split("Runner restarted").length - 1, 1, gitlab.traceText);
});
