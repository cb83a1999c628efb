import assert from "node:assert/strict";
import { isAbortStatus, jobStatusOf, traceRangeEnd, updateIntervalSeconds } from "./job_headers.ts";

Deno.test("Range 0-N yields N; garbage yields undefined", () => {
  assert.equal(traceRangeEnd(new Headers({ "Range": "0-1234" })), 1234);
  assert.equal(traceRangeEnd(new Headers({ "Range": "nope" })), undefined);
  assert.equal(traceRangeEnd(new Headers()), undefined);
});

Deno.test("the update interval ignores <= 0 and junk, and is capped at 15 minutes", () => {
  const h = (v: string) => new Headers({ "X-GitLab-Trace-Update-Interval": v });
  assert.equal(updateIntervalSeconds(h("60")), 60);
  assert.equal(updateIntervalSeconds(h("0")), undefined);
  assert.equal(updateIntervalSeconds(h("-5")), undefined);
  assert.equal(updateIntervalSeconds(h("soon")), undefined);
  assert.equal(updateIntervalSeconds(h("100000")), 900);
});

Deno.test("canceled and failed Job-Status abort; canceling does not", () => {
  assert.equal(isAbortStatus(jobStatusOf(new Headers({ "Job-Status": "Canceled" }))), true);
  assert.equal(isAbortStatus("failed"), true);
  assert.equal(isAbortStatus("canceling"), false);
  assert.equal(isAbortStatus(undefined), false);
});
