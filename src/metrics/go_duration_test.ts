import assert from "node:assert/strict";
import { formatGoDuration } from "./go_duration.ts";

Deno.test("durations print like Go's time.Duration", () => {
  assert.equal(formatGoDuration(0), "0s");
  assert.equal(formatGoDuration(0.25), "250ms");
  assert.equal(formatGoDuration(3.5), "3.5s");
  assert.equal(formatGoDuration(60), "1m0s");
  assert.equal(formatGoDuration(3723), "1h2m3s");
  assert.equal(formatGoDuration(7200.125), "2h0m0.125s");
  assert.equal(formatGoDuration(Number.NaN), "0s");
});
