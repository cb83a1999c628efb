import assert from "node:assert/strict";
import { ExecOutput, formatDuration, renderLogLine, renderSummary } from "./exec_output.ts";

const encoder = new TextEncoder();

function capture(options: { isColored: boolean; isPrefixed: boolean }) {
  const lines: string[] = [];
  const output = new ExecOutput({ line: (t) => lines.push(t) }, options);
  return { lines, output };
}

Deno.test("renderLogLine drops section markers and keeps the stage header after them", () => {
  const raw =
    "section_start:1700000000:step_script\r\x1b[0K\x1b[0K\x1b[36;1mExecuting step\x1b[0;m";
  assert.equal(renderLogLine(raw, false), "Executing step");
  assert.equal(renderLogLine(raw, true), "\x1b[0K\x1b[36;1mExecuting step\x1b[0;m");
});

Deno.test("renderLogLine hides lines holding only section_end markers", () => {
  assert.equal(renderLogLine("section_end:1700000001:step_script\r\x1b[0K", true), null);
  assert.equal(
    renderLogLine(
      "section_end:1700000001:a\r\x1b[0Ksection_start:1700000001:b[collapsed=true]\r\x1b[0K",
      false,
    ),
    null,
  );
});

Deno.test("renderLogLine keeps text that follows a section_end on the same line", () => {
  const raw = "section_end:1700000001:prepare\r\x1b[0K\x1b[32;1mJob succeeded\x1b[0;m";
  assert.equal(renderLogLine(raw, false), "Job succeeded");
});

Deno.test("renderLogLine keeps what a terminal shows after the last carriage return", () => {
  assert.equal(renderLogLine("10%\r50%\r100% done", false), "100% done");
  assert.equal(renderLogLine("windows line\r", false), "windows line");
  assert.equal(renderLogLine("", false), "");
});

Deno.test("ExecOutput joins lines split across chunks and UTF-8 characters split across writes", () => {
  const { lines, output } = capture({ isColored: false, isPrefixed: false });
  const bytes = encoder.encode("héllo wörld\nsecond");
  output.write("build", bytes.subarray(0, 2));
  output.write("build", bytes.subarray(2, 9));
  assert.deepEqual(lines, []);
  output.write("build", bytes.subarray(9));
  assert.deepEqual(lines, ["héllo wörld"]);
  output.flush("build");
  assert.deepEqual(lines, ["héllo wörld", "second"]);
});

Deno.test("ExecOutput prefixes each job's lines and never mixes half lines of two jobs", () => {
  const { lines, output } = capture({ isColored: false, isPrefixed: true });
  output.write("build", encoder.encode("build li"));
  output.write("test 1/2", encoder.encode("test line\n"));
  output.write("build", encoder.encode("ne\n"));
  output.note("test 1/2", "Job started");
  assert.deepEqual(lines, ["[test 1/2] test line", "[build] build line", "[test 1/2] Job started"]);
});

Deno.test("ExecOutput colours prefixes only when colours are on", () => {
  const { lines, output } = capture({ isColored: true, isPrefixed: true });
  output.write("build", encoder.encode("\x1b[31mred\x1b[0m\n"));
  assert.equal(lines[0], "\x1b[36m[build]\x1b[0m \x1b[31mred\x1b[0m");
});

Deno.test("formatDuration prints seconds, minutes and hours", () => {
  assert.equal(formatDuration(0.04), "0.0s");
  assert.equal(formatDuration(12.345), "12.3s");
  assert.equal(formatDuration(123), "2m 03s");
  assert.equal(formatDuration(3725), "1h 02m");
});

Deno.test("renderSummary aligns job, stage, status and duration", () => {
  const lines = renderSummary([
    { name: "build", stage: "build", status: "passed", durationSeconds: 1.25, detail: "" },
    {
      name: "lint",
      stage: "test",
      status: "failed (allowed)",
      durationSeconds: 0.5,
      detail: "script failure, exit code 3",
    },
    { name: "deploy", stage: "deploy", status: "skipped", durationSeconds: null, detail: "manual" },
  ], { isColored: false });
  assert.deepEqual(lines, [
    "JOB     STAGE   STATUS                                         DURATION",
    "build   build   passed                                         1.3s",
    "lint    test    failed (allowed): script failure, exit code 3  0.5s",
    "deploy  deploy  skipped: manual                                -",
  ]);
});

Deno.test("renderSummary colours only the status cell", () => {
  const [, row] = renderSummary(
    [{ name: "b", stage: "build", status: "failed", durationSeconds: 2, detail: "" }],
    { isColored: true },
  );
  assert.equal(row, "b    build  \x1b[31;1mfailed\x1b[0m  2.0s");
});
