import assert from "node:assert/strict";
import { extractCoverage } from "./coverage.ts";

Deno.test("coverage is the first number of the last match in the last matching line", () => {
  const log =
    "Coverage: 10.5%\nrunning\nLines: 71.42% (5/7)\n\x1b[32mLines: 85.00% (17/20)\x1b[0m\ndone\n";
  assert.equal(extractCoverage(log, "/Lines: \\d+\\.\\d+%/"), "85.00");
  assert.equal(extractCoverage(log, "/Coverage: (\\d+\\.\\d+)%/"), "10.5");
  assert.equal(extractCoverage(log, "/Branches: \\d+/"), null);
  assert.equal(extractCoverage(log, ""), null);
});
