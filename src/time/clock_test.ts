import assert from "node:assert/strict";
import { MAX_TIMER_MS, setLongTimeout, systemClock } from "./clock.ts";

Deno.test("systemClock sleeps for the time asked, keeping the process alive meanwhile", async () => {
  // Nothing else is pending here: a timer that did not keep the event loop
  // alive would end the test with "Promise resolution is still pending".
  const started = performance.now();
  await systemClock().sleep(30);
  assert.ok(performance.now() - started >= 29, `slept ${performance.now() - started} ms`);
});

Deno.test("systemClock's sleep rejects with the signal's reason when aborted first", async () => {
  const abort = new AbortController();
  const sleep = systemClock().sleep(60_000, abort.signal);
  abort.abort(new Error("stopped"));
  await assert.rejects(sleep, /stopped/);
  await assert.rejects(systemClock().sleep(10, abort.signal), /stopped/);
});

Deno.test("systemClock waits longer than a single timer can: a month-long job timeout does not fire at once", async () => {
  // A timer given more than 2^31-1 ms fires after 1 ms; a project's job
  // timeout may be a month (2.6e9 ms).
  const abort = new AbortController();
  let isDone = false;
  const sleep = systemClock().sleep(MAX_TIMER_MS + 60_000, abort.signal).then(() => isDone = true);
  await systemClock().sleep(50);
  assert.equal(isDone, false, "the month-long sleep ended within 50 ms");
  abort.abort(new Error("stopped"));
  await assert.rejects(sleep, /stopped/);
});

Deno.test("setLongTimeout fires after its delay, and a longer delay than one timer holds does not fire at once", async () => {
  let fired = 0;
  setLongTimeout(() => fired++, 20);
  const long = setLongTimeout(() => fired += 100, MAX_TIMER_MS + 60_000);
  const never = setLongTimeout(() => fired += 1000, Infinity);
  await systemClock().sleep(80);
  assert.equal(fired, 1, "the 20 ms timer fired once, the month-long and endless ones not at all");
  long.clear();
  never.clear();
});

Deno.test("setLongTimeout's clear stops a timer before it fires", async () => {
  let fired = false;
  setLongTimeout(() => fired = true, 20).clear();
  await systemClock().sleep(60);
  assert.equal(fired, false);
});
