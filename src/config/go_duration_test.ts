import assert from "node:assert/strict";
import { formatGoDuration, parseGoDuration } from "./go_duration.ts";

Deno.test("parseGoDuration reads Go duration strings as seconds", () => {
  assert.equal(parseGoDuration("90s"), 90);
  assert.equal(parseGoDuration("1h30m"), 5400);
  assert.equal(parseGoDuration("15m"), 900);
  assert.equal(parseGoDuration("500ms"), 0.5);
  assert.equal(parseGoDuration("1.5h"), 5400);
  assert.equal(parseGoDuration("2h45m30s250ms"), 9930.25);
  assert.equal(parseGoDuration("100us"), 0.0001);
  assert.equal(parseGoDuration("0"), 0);
  assert.equal(parseGoDuration("-5s"), -5);
});

Deno.test("parseGoDuration rejects text that is not a duration, saying where", () => {
  assert.throws(() => parseGoDuration("90"), /Invalid duration "90": expected a Go duration/);
  assert.throws(() => parseGoDuration("1 hour"), /Invalid duration/);
  assert.throws(() => parseGoDuration(""), /Invalid duration ""/);
  assert.throws(() => parseGoDuration("5d"), /Invalid duration "5d"/);
});

Deno.test("parseGoDuration refuses a duration longer than Go's longest, as Go does", () => {
  // Loaded, "99999999999999999999999h" was written back as "1e+23h0m0s" by
  // any command that saves the file, which then no longer loaded.
  assert.throws(
    () => parseGoDuration("99999999999999999999999h"),
    /Invalid duration "99999999999999999999999h": longer than Go's longest, 2562047h47m16.854775807s/,
  );
  assert.throws(() => parseGoDuration("2562048h"), /longer than Go's longest/);
  assert.throws(() => parseGoDuration("-2562048h"), /longer than Go's longest/);
  assert.throws(() => parseGoDuration(`${"9".repeat(400)}h`), /longer than Go's longest/);
  const longest = parseGoDuration("2562047h");
  assert.equal(formatGoDuration(longest), "2562047h0m0s");
  assert.equal(parseGoDuration(formatGoDuration(longest)), longest);
});

Deno.test("formatGoDuration writes Go's spelling, which parses back", () => {
  assert.equal(formatGoDuration(5400), "1h30m0s");
  assert.equal(formatGoDuration(3600), "1h0m0s");
  assert.equal(formatGoDuration(90), "1m30s");
  assert.equal(formatGoDuration(0.5), "500ms");
  assert.equal(formatGoDuration(0), "0s");
  for (const s of [1, 59.75, 86400, 3723.004]) {
    assert.equal(parseGoDuration(formatGoDuration(s)), s);
  }
});
