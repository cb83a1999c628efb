import assert from "node:assert/strict";
import type { LogFields, Logger } from "../log/logger.ts";
import { releaseStartupGarbage } from "./startup_garbage.ts";

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
