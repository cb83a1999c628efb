import assert from "node:assert/strict";
import type { LogFields, Logger } from "../log/logger.ts";
import { IdleCollector, releaseStartupGarbage } from "./startup_garbage.ts";

class RecordingLogger implements Logger {
  readonly records: { msg: string; fields?: LogFields }[] = [];
  debug(msg: string, fields?: LogFields): void {
    this.records.push({ msg, ...(fields ? { fields } : {}) });
  }
  info = this.debug;
  warn = this.debug;
  error = this.debug;
  child(): Logger {
    return this;
  }
}

Deno.test("without --expose-gc-as=runnerGc the runner keeps its start-up garbage and says nothing", () => {
  assert.equal(
    typeof (globalThis as { runnerGc?: unknown }).runnerGc,
    "undefined",
    "test run with --expose-gc-as=runnerGc",
  );
  const log = new RecordingLogger();
  releaseStartupGarbage(log, "poller");
  assert.deepEqual(log.records, []);
});

Deno.test("once the last job ended, the poller collects after the delay, not while a job runs", async () => {
  let running = 0;
  const collected: number[] = [];
  const started = performance.now();
  const collector = new IdleCollector({
    running: () => running,
    collect: () => collected.push(performance.now() - started),
    delayMs: 50,
  });
  try {
    // A job starts and ends: collected 50 ms after its end, once.
    running = 1;
    collector.jobStarted();
    running = 0;
    collector.jobFinished();
    await sleep(20);
    assert.deepEqual(collected, [], "collected before the delay");
    await sleep(80);
    assert.equal(collected.length, 1);
    await sleep(80);
    assert.equal(collected.length, 1, "collected again with no job in between");

    // The next job starts within the delay: nothing while it runs, however long.
    collector.jobFinished();
    await sleep(20);
    running = 1;
    collector.jobStarted();
    await sleep(150);
    assert.equal(collected.length, 1, "collected while a job ran");

    // Two jobs, one ends: the delay passes while the other runs, then it ends.
    running = 2;
    collector.jobStarted();
    running = 1;
    collector.jobFinished();
    await sleep(100);
    assert.equal(collected.length, 1, "collected while the other job ran");
    running = 0;
    collector.jobFinished();
    await sleep(100);
    assert.equal(collected.length, 2);
  } finally {
    collector.close();
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("after a config reload (arm), the idle poller collects after the delay, once", async () => {
  const collected: number[] = [];
  const collector = new IdleCollector({
    running: () => 0,
    collect: () => collected.push(1),
    delayMs: 40,
  });
  try {
    collector.arm();
    collector.arm();
    await sleep(15);
    assert.deepEqual(collected, [], "collected before the delay");
    await sleep(80);
    assert.deepEqual(collected, [1], "one collection for two reloads in a row");
  } finally {
    collector.close();
  }
});
