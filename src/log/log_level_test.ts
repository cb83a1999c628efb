import assert from "node:assert/strict";
import { isLevelEnabled, levelName, parseLogFormat, parseLogLevel } from "./log_level.ts";

Deno.test("parseLogLevel accepts the official spellings and rejects others with a clear error", () => {
  assert.equal(parseLogLevel("debug"), "debug");
  assert.equal(parseLogLevel("WARNING"), "warn");
  assert.equal(parseLogLevel(" Error "), "error");
  assert.throws(
    () => parseLogLevel("verbose"),
    /Unknown log level "verbose": expected one of debug/,
  );
  assert.equal(parseLogFormat("JSON"), "json");
  assert.throws(() => parseLogFormat("xml"), /Unknown log format "xml"/);
});

Deno.test("levels are ordered debug < info < warn < error < fatal < panic", () => {
  assert.ok(isLevelEnabled("error", "warn"));
  assert.ok(!isLevelEnabled("info", "warn"));
  assert.ok(isLevelEnabled("panic", "fatal"));
  assert.equal(levelName("warn"), "warning");
});
