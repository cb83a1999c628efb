import { isUtf8 } from "node:buffer";
import assert from "node:assert/strict";
import type { Clock } from "./clock.ts";
import { crc32, formatChecksum } from "./crc32.ts";
import { JobTrace } from "./job_trace.ts";
import { TraceStore } from "./trace_store.ts";
import {
  type FinalUpdateResult,
  TraceUploader,
  type TraceUploaderOptions,
} from "./trace_uploader.ts";
import type { JobRef, JobUpdate, PatchResult, TraceTransport, UpdateResult } from "./transport.ts";

const MiB = 1024 * 1024;
const JOB: JobRef = { id: 42, token: "glcbt-job-token" };

/** Time that moves only when the uploader sleeps; each sleep yields to other tasks once. */
class SteppedClock implements Clock {
  time = 0;
  readonly sleeps: number[] = [];
  now(): number {
    return this.time;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.sleeps.push(ms);
    this.time += ms;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Seeded PRNG so "random" failures are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Trace side of GitLab as spec §4.1/§4.2/§5.2 and §11 describe it: appends a
 * PATCH only at its current size (else 416 with its size), answers scripted
 * results first, and can lose requests or responses at random.
 */
class FakeGitLab implements TraceTransport {
  stored = new Uint8Array(0);
  readonly patches: { start: number; length: number }[] = [];
  readonly updates: { update: JobUpdate; at: number }[] = [];
  readonly patchAnswers: PatchResult[] = [];
  readonly updateAnswers: UpdateResult[] = [];
  /** Answered to every PATCH once the scripted answers ran out, when set. */
  patchAnswerAlways: PatchResult | null = null;
  /** Answered to every PUT once the scripted answers ran out, when set. */
  updateAnswerAlways: UpdateResult | null = null;
  failureRate = 0;
  constructor(readonly clock: SteppedClock, readonly random: () => number = seeded(1)) {}

  patchTrace(job: JobRef, chunk: Uint8Array, start: number): Promise<PatchResult> {
    assert.equal(job, JOB);
    assert.ok(chunk.length > 0, "empty chunks are never sent");
    this.patches.push({ start, length: chunk.length });
    const scripted = this.patchAnswers.shift();
    if (scripted) return Promise.resolve(scripted);
    if (this.patchAnswerAlways) return Promise.resolve(this.patchAnswerAlways);
    if (this.random() < this.failureRate / 2) {
      return Promise.resolve({ kind: "failed", error: "connection reset by peer" });
    }
    if (start !== this.stored.length) {
      return Promise.resolve({ kind: "range-mismatch", serverSize: this.stored.length });
    }
    const grown = new Uint8Array(this.stored.length + chunk.length);
    grown.set(this.stored);
    grown.set(chunk, this.stored.length);
    this.stored = grown;
    if (this.random() < this.failureRate / 2) {
      return Promise.resolve({ kind: "failed", error: "response lost" });
    }
    return Promise.resolve({ kind: "accepted", jobStatus: "running" });
  }

  updateJob(job: JobRef, update: JobUpdate): Promise<UpdateResult> {
    assert.equal(job, JOB);
    this.updates.push({ update, at: this.clock.time });
    const scripted = this.updateAnswers.shift();
    if (scripted) {
      if (scripted.kind === "trace-invalid") this.stored = new Uint8Array(0);
      return Promise.resolve(scripted);
    }
    if (this.updateAnswerAlways) return Promise.resolve(this.updateAnswerAlways);
    if (this.random() < this.failureRate) {
      return Promise.resolve({ kind: "failed", error: "connection refused" });
    }
    return Promise.resolve({ kind: "ok" });
  }
}

function newTrace(): JobTrace {
  return new JobTrace({
    mask: { phrases: [], tokenPrefixes: [] },
    outputLimitKiB: 64 * 1024,
    store: new TraceStore(),
    crc32,
    isUtf8,
  });
}

function output(bytes: number, seed: number): Uint8Array {
  const line = new TextEncoder().encode(`line ${seed} of the job log — ünïcode ok\n`);
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = line[i % line.length]!;
  return out;
}

function setup(options: Partial<TraceUploaderOptions> = {}) {
  const clock = new SteppedClock();
  const gitlab = new FakeGitLab(clock);
  const trace = newTrace();
  const events: string[] = [];
  const uploader = new TraceUploader({
    transport: gitlab,
    job: JOB,
    trace,
    clock,
    onAbort: (status) => events.push(`abort:${status}`),
    onCancelRequested: () => events.push("cancel"),
    ...options,
  });
  return { clock, gitlab, trace, uploader, events };
}

/** Lets the uploader run until `condition` holds; fails instead of hanging. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.fail(`Gave up waiting until ${what}`);
}

function storedTrace(trace: JobTrace): Uint8Array {
  return trace.read(0, trace.size).slice();
}

Deno.test("TraceUploader sends one chunk of at most 1 MiB per tick with following Content-Range starts", async () => {
  const { gitlab, trace, uploader, clock } = setup();
  trace.write(output(3 * MiB + 512 * 1024, 1));
  uploader.start();
  await until(() => gitlab.stored.length === trace.size, "GitLab has the whole trace");
  await uploader.stop();
  assert.deepEqual(gitlab.patches, [
    { start: 0, length: MiB },
    { start: MiB, length: MiB },
    { start: 2 * MiB, length: MiB },
    { start: 3 * MiB, length: 512 * 1024 },
  ]);
  assert.deepEqual(clock.sleeps.slice(0, 4), [3000, 3000, 3000, 3000], "one chunk per 3 s tick");
  assert.deepEqual(gitlab.stored, storedTrace(trace));
});

Deno.test("TraceUploader resends from GitLab's size after a 416", async () => {
  const { gitlab, trace, uploader } = setup();
  const bytes = output(5000, 2);
  trace.write(bytes);
  gitlab.stored = bytes.slice(0, 1200); // an earlier PATCH landed but its answer was lost
  uploader.start();
  await until(() => gitlab.stored.length === trace.size, "GitLab has the whole trace");
  await uploader.stop();
  assert.deepEqual(gitlab.patches.map((p) => p.start), [0, 1200]);
  assert.deepEqual(gitlab.stored, storedTrace(trace));
});

Deno.test("TraceUploader delivers identical bytes and checksum despite 20% random failures", async () => {
  const clock = new SteppedClock();
  const gitlab = new FakeGitLab(clock, seeded(2024));
  gitlab.failureRate = 0.2;
  const trace = newTrace();
  const uploader = new TraceUploader({
    transport: gitlab,
    job: JOB,
    trace,
    clock,
    maxChunkBytes: 64 * 1024,
  });
  uploader.start();
  for (let i = 0; i < 40; i++) {
    trace.write(output(10_000 + i * 997, i));
    await until(() => clock.sleeps.length > i * 3, "a few ticks pass");
  }
  trace.close();
  const result = await uploader.finish({
    state: "failed",
    failureReason: "script_failure",
    exitCode: 2,
  });
  assert.equal(result.isDelivered, true, JSON.stringify(result));
  const starts = gitlab.patches.map((p) => p.start);
  assert.ok(new Set(starts).size < starts.length, "failures made the uploader resend chunks");
  assert.deepEqual(gitlab.stored, storedTrace(trace));
  const final = gitlab.updates.at(-1)!.update;
  assert.deepEqual(final, {
    state: "failed",
    checksum: formatChecksum(crc32(gitlab.stored)),
    bytesize: gitlab.stored.length,
    failureReason: "script_failure",
    exitCode: 2,
  });
});

Deno.test("TraceUploader repeats the final update after 202 without using up attempts", async () => {
  const { gitlab, trace, uploader, clock } = setup({ finalUpdateRetryLimit: 1 });
  trace.write(output(100, 3));
  trace.close();
  gitlab.updateAnswers.push(
    { kind: "accepted", updateIntervalSeconds: 7 },
    { kind: "accepted" },
    { kind: "accepted", updateIntervalSeconds: 2 },
  );
  const result = await uploader.finish({ state: "success" });
  assert.deepEqual(result, {
    isDelivered: true,
    outcome: "delivered",
    attempts: 1,
    sentBytes: 100,
  });
  assert.equal(gitlab.updates.length, 4);
  assert.deepEqual(
    clock.sleeps,
    [7000, 7000, 2000],
    "waits as long as GitLab's interval header says",
  );
  assert.equal(gitlab.patches.length, 1, "the trace is sent only once");
});

Deno.test("TraceUploader resends the whole trace from byte 0 after a 412", async () => {
  const { gitlab, trace, uploader } = setup();
  trace.write(output(2500, 4));
  trace.close();
  gitlab.updateAnswers.push({ kind: "trace-invalid" });
  const result = await uploader.finish({ state: "success" });
  assert.equal(result.outcome, "delivered");
  assert.equal(result.attempts, 1);
  assert.deepEqual(gitlab.patches.map((p) => p.start), [0, 0]);
  assert.deepEqual(gitlab.stored, storedTrace(trace));
});

Deno.test("TraceUploader retries a failing final update with doubling backoff up to the retry limit", async () => {
  const { gitlab, trace, uploader, clock } = setup({ finalUpdateRetryLimit: 4 });
  trace.close();
  for (let i = 0; i < 10; i++) gitlab.updateAnswers.push({ kind: "failed", status: 500 });
  const result = await uploader.finish({ state: "success" });
  assert.deepEqual(result, {
    isDelivered: false,
    outcome: "retry-limit",
    attempts: 4,
    sentBytes: 0,
    lastError: "Final job update failed: GitLab answered 500",
  });
  assert.deepEqual(clock.sleeps, [3000, 1000, 3000, 2000, 3000, 4000, 3000]);
});

Deno.test("TraceUploader says each failed final attempt, its error and when the next follows", async () => {
  const retries: [number, string, number][] = [];
  const { gitlab, trace, uploader } = setup({
    finalUpdateRetryLimit: 3,
    onFinalRetry: (attempt, error, delayMs) => retries.push([attempt, error, delayMs]),
  });
  trace.close();
  for (let i = 0; i < 3; i++) gitlab.updateAnswers.push({ kind: "failed", status: 500 });
  await uploader.finish({ state: "success" });
  const error = "Final job update failed: GitLab answered 500";
  // Nothing after the last attempt: no retry follows it.
  assert.deepEqual(retries, [[1, error, 1000], [2, error, 2000]]);
});

Deno.test("TraceUploader caps the final backoff at 60 minutes by default", async () => {
  const { gitlab, trace, uploader, clock } = setup({ finalUpdateRetryLimit: 15 });
  trace.close();
  for (let i = 0; i < 15; i++) gitlab.updateAnswers.push({ kind: "failed", error: "timeout" });
  const result = await uploader.finish({ state: "success" });
  assert.equal(result.attempts, 15);
  const backoffs = clock.sleeps.filter((_, i) => i % 2 === 1);
  assert.deepEqual(backoffs.slice(-3), [2_048_000, 3_600_000, 3_600_000]);
});

Deno.test("TraceUploader retries the final update after a network error", async () => {
  const { gitlab, trace, uploader } = setup();
  trace.write(output(10, 5));
  trace.close();
  gitlab.patchAnswers.push({ kind: "failed", error: "ECONNRESET" });
  gitlab.updateAnswers.push({ kind: "failed", error: "ECONNRESET" });
  const result = await uploader.finish({ state: "success" });
  assert.equal(result.outcome, "delivered");
  assert.equal(result.attempts, 3);
  assert.deepEqual(gitlab.stored, storedTrace(trace));
});

Deno.test("TraceUploader reports a final 403 as aborted, not delivered", async () => {
  const { gitlab, trace, uploader, events } = setup();
  trace.close();
  gitlab.updateAnswers.push({ kind: "abort", jobStatus: "canceled" });
  const result = await uploader.finish({ state: "success" });
  assert.equal(result.isDelivered, false);
  assert.equal(result.outcome, "aborted");
  assert.deepEqual(events, [], "the build is over; nothing to abort");
});

Deno.test("TraceUploader asks for a graceful cancel once on Job-Status: canceling and keeps sending", async () => {
  const { gitlab, trace, uploader, events } = setup();
  trace.write(output(3 * MiB, 6));
  // Not a 202: the header counts whatever the status.
  gitlab.patchAnswers.push({ kind: "range-mismatch", serverSize: 0, jobStatus: "canceling" });
  uploader.start();
  await until(() => gitlab.stored.length === trace.size, "GitLab has the whole trace");
  await uploader.stop();
  assert.deepEqual(events, ["cancel"]);
});

Deno.test("TraceUploader aborts the build on 403 or Job-Status: canceled and stops sending", async () => {
  for (
    const answer of [
      { kind: "abort" } as const,
      { kind: "accepted", jobStatus: "canceled" } as const,
    ]
  ) {
    const { gitlab, trace, uploader, events } = setup();
    trace.write(output(3 * MiB, 7));
    gitlab.patchAnswers.push(answer);
    uploader.start();
    await until(() => events.length > 0, "the abort callback runs");
    await uploader.stop();
    assert.deepEqual(events, [answer.kind === "abort" ? "abort:undefined" : "abort:canceled"]);
    assert.equal(gitlab.patches.length, 1);
  }
});

Deno.test("TraceUploader touches the job with checksum and size when nothing was sent for 30 s", async () => {
  const { gitlab, trace, uploader, clock } = setup();
  trace.write(output(300, 8));
  uploader.start();
  await until(() => gitlab.updates.length === 3, "three touches");
  await uploader.stop();
  // The PATCH at 3 s counts as sent; touches follow once more than 30 s passed.
  assert.deepEqual(gitlab.updates.map((u) => u.at), [36_000, 69_000, 102_000]);
  assert.deepEqual(gitlab.updates[0]!.update, {
    state: "running",
    checksum: trace.checksum(),
    bytesize: trace.size,
  });
  assert.ok(trace.size > 290);
  assert.ok(clock.time >= 102_000);
});

Deno.test("TraceUploader aborts the build when a touch answers 403", async () => {
  const { gitlab, uploader, events } = setup();
  gitlab.updateAnswers.push({ kind: "abort", jobStatus: "failed" });
  uploader.start();
  await until(() => events.length > 0, "the abort callback runs");
  await uploader.stop();
  assert.deepEqual(events, ["abort:failed"]);
});

Deno.test("TraceUploader follows X-GitLab-Trace-Update-Interval, capped at 15 minutes", async () => {
  const { gitlab, trace, uploader, clock } = setup();
  trace.write(output(4 * MiB, 9));
  gitlab.patchAnswers.push(
    { kind: "accepted", updateIntervalSeconds: 60 },
    { kind: "accepted", updateIntervalSeconds: 0 },
    { kind: "accepted", updateIntervalSeconds: 100_000 },
  );
  uploader.start();
  await until(() => gitlab.patches.length === 4, "four PATCHes");
  await uploader.stop();
  assert.deepEqual(clock.sleeps.slice(0, 4), [3000, 60_000, 60_000, 900_000]);
});

Deno.test("TraceUploader stops sending the trace after 404 but still sends the final state", async () => {
  const { gitlab, trace, uploader } = setup();
  trace.write(output(2 * MiB, 10));
  gitlab.patchAnswers.push({ kind: "not-found" });
  uploader.start();
  await until(() => gitlab.updates.length > 0, "a touch");
  await uploader.stop();
  assert.equal(gitlab.patches.length, 1);
  trace.close();
  const result = await uploader.finish({ state: "success" });
  assert.equal(result.outcome, "delivered");
  assert.equal(gitlab.patches.length, 1, "no PATCH in the final update either");
});

Deno.test("TraceUploader's final update waits for the PATCH in flight instead of resending it into a 416", async () => {
  const { gitlab, trace, uploader, clock } = setup();
  // GitLab stores the tick's PATCH when it arrives; its answer comes later.
  let answer = (_: PatchResult) => {};
  let wasAborted = false;
  const patchTrace = gitlab.patchTrace.bind(gitlab);
  gitlab.patchTrace = (job, chunk, start, signal?: AbortSignal) => {
    const stored = patchTrace(job, chunk, start);
    if (gitlab.patches.length > 1) return stored;
    signal?.addEventListener("abort", () => wasAborted = true);
    return stored.then((result) =>
      new Promise<PatchResult>((resolve) => answer = () => resolve(result))
    );
  };
  trace.write(output(1500, 3));
  uploader.start();
  await until(() => gitlab.patches.length === 1, "the tick's PATCH is in flight");
  trace.write(output(700, 4));
  trace.close();
  const finished = uploader.finish({ state: "success" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  answer({ kind: "accepted" });
  const result = await finished;
  assert.equal(result.outcome, "delivered");
  assert.equal(wasAborted, false, "the PATCH in flight was not aborted");
  assert.deepEqual(gitlab.patches, [{ start: 0, length: 1500 }, { start: 1500, length: 700 }]);
  assert.deepEqual(clock.sleeps, [3000], "no interval slept after a 416 before the final PUT");
  assert.deepEqual(gitlab.stored, storedTrace(trace));
});

Deno.test("TraceUploader's stop aborts the PATCH in flight", async () => {
  const { gitlab, trace, uploader } = setup();
  let wasAborted = false;
  let isSent = false;
  gitlab.patchTrace = (_job, _chunk, _start, signal?: AbortSignal) =>
    new Promise<PatchResult>((_, reject) => {
      isSent = true;
      signal?.addEventListener("abort", () => {
        wasAborted = true;
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  trace.write(output(1500, 5));
  uploader.start();
  await until(() => isSent, "the tick's PATCH is in flight");
  await uploader.stop();
  assert.equal(wasAborted, true);
});

Deno.test("TraceUploader stops when the final update is interrupted", async () => {
  const { gitlab, trace, uploader } = setup();
  trace.close();
  const controller = new AbortController();
  gitlab.updateAnswers.push({ kind: "failed", status: 502 });
  const pending = uploader.finish({ state: "success" }, controller.signal);
  controller.abort();
  const result = await pending;
  assert.equal(result.isDelivered, false);
  assert.equal(result.outcome, "interrupted");
});

Deno.test("TraceUploader rejects options that are not positive", () => {
  const { gitlab, trace, clock } = setup();
  assert.throws(
    () =>
      new TraceUploader({ transport: gitlab, job: JOB, trace, clock, finalUpdateRetryLimit: 0 }),
    /"finalUpdateRetryLimit" must be a positive number: got 0/,
  );
});

Deno.test("FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL: the touch waits 4 × GitLab's update interval instead of 30 s", async () => {
  const firstTouch = async (isDynamicForceSendInterval: boolean) => {
    const { gitlab, trace, uploader } = setup({ isDynamicForceSendInterval });
    trace.write(output(300, 10));
    gitlab.patchAnswers.push({ kind: "accepted", updateIntervalSeconds: 20 });
    uploader.start();
    await until(() => gitlab.updates.length === 1, "a touch");
    await uploader.stop();
    return gitlab.updates[0]!.at;
  };
  // PATCH at 3 s, then ticks every 20 s: idle for more than 30 s at 43 s, more than 80 s at 103 s.
  assert.equal(await firstTouch(false), 43_000);
  assert.equal(await firstTouch(true), 103_000);
});

/** Runs `finish`, or gives up once GitLab got more than `maxPatches` PATCHes (a flush without end). */
async function finishOrHang(
  uploader: TraceUploader,
  gitlab: FakeGitLab,
  maxPatches: number,
): Promise<FinalUpdateResult | "hung"> {
  let isDone = false;
  const finished = uploader.finish({ state: "failed", failureReason: "script_failure" });
  finished.finally(() => isDone = true);
  for (let i = 0; i < 20_000 && !isDone; i++) {
    if (gitlab.patches.length > maxPatches) return "hung";
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return await finished;
}

Deno.test("TraceUploader's final update ends, delivering the state, when GitLab answers every PATCH with 416 at the same Range", async () => {
  const { gitlab, trace, uploader } = setup({ finalUpdateRetryLimit: 3 });
  trace.write(output(4000, 7));
  trace.close();
  gitlab.patchAnswerAlways = { kind: "range-mismatch", serverSize: 0 };
  const result = await finishOrHang(uploader, gitlab, 100);
  assert.ok(result !== "hung", "the flush never ended: the job stays running in GitLab");
  assert.equal(result.outcome, "delivered");
  assert.equal(result.attempts, 3);
  assert.equal(result.sentBytes, 0);
  assert.equal(gitlab.patches.length, 15, "5 PATCHes per attempt");
  assert.deepEqual(gitlab.updates.map((u) => u.update.state), ["failed"]);
  assert.equal(gitlab.updates[0]!.update.failureReason, "script_failure");
});

Deno.test("TraceUploader's last final attempt sends the state even though every trace PATCH fails", async () => {
  const { gitlab, trace, uploader } = setup({ finalUpdateRetryLimit: 3 });
  trace.write(output(4000, 8));
  trace.close();
  gitlab.patchAnswerAlways = { kind: "failed", status: 416, error: "unusable Range header" };
  const result = await finishOrHang(uploader, gitlab, 100);
  assert.ok(result !== "hung", "the flush never ended");
  assert.equal(result.outcome, "delivered", "GitLab got the final state");
  assert.equal(result.attempts, 3);
  assert.equal(gitlab.patches.length, 3, "one PATCH per attempt, then the PUT on the last one");
  assert.deepEqual(gitlab.updates.map((u) => u.update.state), ["failed"]);
  assert.equal(
    gitlab.updates[0]!.update.checksum,
    trace.checksum(),
    "the checksum of the whole log",
  );
});

Deno.test("TraceUploader's final update ends when GitLab answers nothing but 202: 30 in a row fail an attempt", async () => {
  const { gitlab, trace, uploader } = setup({ finalUpdateRetryLimit: 2 });
  trace.write(output(100, 9));
  trace.close();
  gitlab.updateAnswerAlways = { kind: "accepted" };
  let isDone = false;
  const finished = uploader.finish({ state: "success" });
  finished.finally(() => isDone = true);
  for (let i = 0; i < 20_000 && !isDone && gitlab.updates.length <= 500; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.ok(
    isDone,
    `still updating after ${gitlab.updates.length} PUTs: the job's slot is held for ever`,
  );
  const result = await finished;
  assert.equal(result.outcome, "retry-limit");
  assert.equal(result.attempts, 2);
  assert.equal(
    result.lastError,
    "Final job update failed: GitLab answered 202 to 30 final updates in a row",
  );
  assert.equal(gitlab.updates.length, 60);
});
