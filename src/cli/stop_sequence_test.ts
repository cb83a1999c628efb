import assert from "node:assert/strict";
import { StopSequence } from "./stop_sequence.ts";

/** Which of the sequence's promises resolved so far. */
async function settled(stop: StopSequence): Promise<string[]> {
  const out: string[] = [];
  void stop.started.then((how) => out.push(`started:${how}`));
  void stop.aborting.then(() => out.push("aborting"));
  void stop.exiting.then(() => out.push("exiting"));
  await new Promise((r) => setTimeout(r, 0));
  return out.sort();
}

Deno.test("SIGQUIT drains; another SIGQUIT keeps draining, SIGTERM then aborts, a further signal exits", async () => {
  const stop = new StopSequence();
  assert.equal(stop.signal("SIGQUIT"), null);
  assert.equal(stop.drainedBy, "SIGQUIT");
  assert.deepEqual(await settled(stop), ["started:graceful"]);
  assert.match(stop.signal("SIGQUIT")!, /still waiting/);
  assert.equal(stop.phase, "draining");
  assert.deepEqual(await settled(stop), ["started:graceful"]);
  assert.match(stop.signal("SIGTERM")!, /aborting them/);
  assert.equal(stop.abortedBy, "SIGTERM");
  assert.deepEqual(await settled(stop), ["aborting", "started:graceful"]);
  assert.match(stop.signal("SIGQUIT")!, /exiting now/);
  assert.deepEqual(await settled(stop), ["aborting", "exiting", "started:graceful"]);
});

Deno.test("SIGINT aborts at once; the next signal exits", async () => {
  const stop = new StopSequence();
  assert.equal(stop.signal("SIGINT"), null);
  assert.equal(stop.abortedBy, "SIGINT");
  assert.deepEqual(await settled(stop), ["aborting", "started:forceful"]);
  assert.match(stop.signal("SIGTERM")!, /exiting now/);
  assert.equal(stop.phase, "exiting");
});

Deno.test("with isFirstGraceful (Windows: no SIGQUIT) the first SIGINT drains, the second aborts, the third exits", async () => {
  const stop = new StopSequence({ isFirstGraceful: true });
  assert.equal(stop.signal("SIGINT"), null);
  assert.equal(stop.phase, "draining");
  assert.equal(stop.drainedBy, "SIGINT");
  assert.match(stop.signal("SIGINT")!, /aborting them/);
  assert.equal(stop.abortedBy, "SIGINT");
  assert.match(stop.signal("SIGINT")!, /exiting now/);
  assert.deepEqual(await settled(stop), ["aborting", "exiting", "started:graceful"]);
});

Deno.test("a drain the runner starts itself (max builds, re-scope) is aborted by SIGTERM", async () => {
  const stop = new StopSequence();
  stop.drain();
  stop.drain();
  assert.equal(stop.phase, "draining");
  assert.equal(stop.drainedBy, null);
  assert.match(stop.signal("SIGTERM")!, /aborting them/);
  assert.deepEqual(await settled(stop), ["aborting", "started:graceful"]);
});
