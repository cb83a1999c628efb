import assert from "node:assert/strict";
import { parseCiDuration } from "./ci_duration.ts";

Deno.test("GitLab human durations become seconds", () => {
  const cases: Array<[string | number, number | null]> = [
    ["1h 30m", 5400],
    ["1h30m", 5400],
    ["3 hours", 10800],
    ["90 minutes", 5400],
    ["45 mins", 2700],
    ["1 day 2 hours", 93600],
    ["2 weeks", 1209600],
    ["30s", 30],
    ["3600", 3600],
    [600, 600],
    ["1.5h", 5400],
    ["1 hour and 5 minutes", 3900],
    ["soon", null],
    ["", null],
    ["5 parsecs", null],
  ];
  for (const [text, seconds] of cases) assert.equal(parseCiDuration(text), seconds, String(text));
});
