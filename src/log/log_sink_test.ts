import assert from "node:assert/strict";
import { F } from "./fields.ts";
import { type LogOutput, LogSink, type LogSinkOptions } from "./log_sink.ts";
import type { LogLevel } from "./log_level.ts";

class MemoryOutput implements LogOutput {
  text = "";
  readonly #decoder = new TextDecoder();
  constructor(readonly isTty = false, readonly chunk = Infinity) {}
  writeSync(data: Uint8Array): number {
    const n = Math.min(data.length, this.chunk);
    this.text += this.#decoder.decode(data.subarray(0, n), { stream: true });
    return n;
  }
  isTerminal(): boolean {
    return this.isTty;
  }
  get lines(): string[] {
    return this.text.split("\n").filter((line) => line !== "");
  }
}

const FIXED_TIME = new Date("2024-05-06T07:08:09.123Z");

function setup(options: Partial<LogSinkOptions> = {}, output = new MemoryOutput()) {
  const sink = new LogSink({ output, now: () => FIXED_TIME, ...options });
  return { sink, output, log: sink.logger() };
}

Deno.test("runner format pads the message to a column and sorts the fields", () => {
  const { log, output } = setup();
  log.info("Checking for jobs... received", {
    [F.JOB]: 42,
    [F.REPO_URL]: "https://gitlab.example.com/group/project",
    [F.RUNNER]: "abc123",
  });
  assert.equal(
    output.text,
    "Checking for jobs... received                     " +
      "  job=42 repo_url=https://gitlab.example.com/group/project runner=abc123\n",
  );
});

Deno.test("runner format prefixes warnings and errors and prints a bare message without padding", () => {
  const { log, output } = setup({ level: "debug" });
  log.debug("Feeding runners to channel");
  log.warn("Job failed", { [F.FAILURE_REASON]: "script_failure" });
  log.error("Runner is not healthy");
  const warn = output.lines[1] ?? "";
  assert.deepEqual(output.lines[0], "Feeding runners to channel");
  assert.ok(warn.startsWith("WARNING: Job failed" + " ".repeat(50 - 19) + "  failure_reason="));
  assert.equal(output.lines[2], "ERROR: Runner is not healthy");
});

Deno.test("runner format colours level and keys only on a terminal", () => {
  const { log, output } = setup({}, new MemoryOutput(true));
  log.error("Boom", { [F.JOB_ID]: 1 });
  assert.ok(output.text.startsWith("\x1b[31;1mERROR: Boom"));
  assert.ok(output.text.includes(" \x1b[31;1mjob_id\x1b[0;m=1"));

  const plain = setup({}, new MemoryOutput(false));
  plain.log.error("Boom", { [F.JOB_ID]: 1 });
  assert.ok(!plain.output.text.includes("\x1b["));

  const forced = setup({ isColored: false }, new MemoryOutput(true));
  forced.log.error("Boom");
  assert.ok(!forced.output.text.includes("\x1b["));
});

Deno.test("text format is logfmt with time, level and msg first and values quoted when needed", () => {
  const { log, output } = setup({ format: "text" });
  log.warn("Job failed", { [F.JOB_ID]: 42, [F.ERROR]: 'exit "1"', [F.URL]: "https://x/y" });
  assert.equal(
    output.text,
    'time="2024-05-06T07:08:09Z" level=warning msg="Job failed" error="exit \\"1\\"" job_id=42 url="https://x/y"\n',
  );
});

Deno.test("json format writes one object per line with level, msg, time and the fields", () => {
  const { log, output } = setup({ format: "json" });
  const jobLog = log.child({ [F.JOB_ID]: 42, [F.EXECUTOR]: "docker" });
  jobLog.warn("Job failed", { [F.FAILURE_REASON]: "script_failure", flag: true, gone: undefined });
  jobLog.info("multi\nline", { level: "clash" });
  const [first, second] = output.lines.map((line) => JSON.parse(line));
  assert.deepEqual(first, {
    level: "warning",
    msg: "Job failed",
    time: "2024-05-06T07:08:09Z",
    executor: "docker",
    "failure_reason": "script_failure",
    flag: true,
    "job_id": 42,
  });
  assert.equal(second.msg, "multi\nline");
  assert.equal(second["fields.level"], "clash");
  assert.equal(output.lines.length, 2);
});

Deno.test("child fields are inherited and call fields override them", () => {
  const { log, output } = setup({ format: "json" });
  log.child({ a: 1, b: 1 }).child({ b: 2 }).info("x", { c: 3 });
  const record = JSON.parse(output.lines[0] ?? "");
  assert.equal(record.a, 1);
  assert.equal(record.b, 2);
  assert.equal(record.c, 3);
});

Deno.test("levels below the threshold are dropped and the level can change at runtime", () => {
  const { sink, log, output } = setup({ level: "warn" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  sink.configure({ level: "debug" });
  log.debug("d2");
  sink.configure({ level: "panic" });
  log.fatal("f");
  log.panic("p");
  assert.deepEqual(output.lines, ["WARNING: w", "d2", "PANIC: p"]);
});

Deno.test("a level or format pinned by the command line survives config reloads", () => {
  const { sink, log, output } = setup();
  sink.pin({ level: "error" });
  sink.configure({ level: "debug", format: "json" });
  assert.equal(sink.level, "error");
  assert.equal(sink.format, "json");
  log.info("hidden");
  log.error("shown");
  sink.pin({ format: "text" });
  sink.configure({ format: "runner" });
  log.error("as text");
  assert.equal(output.lines.length, 2);
  assert.equal(JSON.parse(output.lines[0] ?? "").msg, "shown");
  assert.ok(output.lines[1]?.startsWith('time="'));
});

Deno.test("a registered secret never appears in messages or field values, in any format", () => {
  const token = "glrt-SuperSecretToken123";
  for (const format of ["runner", "text", "json"] as const) {
    const { sink, log, output } = setup({ format });
    sink.addSecret(token);
    const child = log.child({ [F.URL]: `https://gitlab.example.com/api?x=${token}` });
    child.error(`Request with ${token} failed`, { detail: `header: Bearer ${token}`, n: 1 });
    assert.ok(!output.text.includes(token), `${format}: ${output.text}`);
    assert.ok(!output.text.includes("SuperSecret"), format);
    assert.ok(output.text.includes("[MASKED]"), format);
  }
});

Deno.test("fields named token or password are masked whatever their value", () => {
  const { log, output } = setup({ format: "json" });
  log.info("Registering", {
    token: "plain-value-1",
    "job_token": "plain-value-2",
    password: "hunter2",
    "registration_token": "plain-value-3",
    "tokens_seen": 3,
    empty: "",
  });
  const record = JSON.parse(output.lines[0] ?? "");
  assert.equal(record.token, "[MASKED]");
  assert.equal(record["job_token"], "[MASKED]");
  assert.equal(record.password, "[MASKED]");
  assert.equal(record["registration_token"], "[MASKED]");
  assert.equal(record["tokens_seen"], 3);
  assert.ok(!output.text.includes("plain-value") && !output.text.includes("hunter2"));
});

Deno.test("credentials in URLs are scrubbed even when not registered", () => {
  const { log, output } = setup({ format: "text" });
  log.info("Fetching https://user:s3cr3t@example.com/repo.git?private_token=abc123&page=2");
  assert.ok(!output.text.includes("s3cr3t"));
  assert.ok(!output.text.includes("abc123"));
  assert.ok(output.text.includes("page=2"));
  assert.ok(output.text.includes("user:[MASKED]@example.com"));
});

Deno.test("a longer secret containing a shorter one is masked whole", () => {
  const { sink, log, output } = setup();
  sink.addSecret("abcd");
  sink.addSecret("abcdefgh");
  sink.addSecret("");
  log.info("value abcdefgh and abcd");
  assert.equal(output.text, "value [MASKED] and [MASKED]\n");
});

Deno.test("the record hook sees the level of every written record only", () => {
  const seen: LogLevel[] = [];
  const { log } = setup({ level: "info", onRecord: (level) => seen.push(level) });
  log.debug("no");
  log.info("a");
  log.warn("b");
  log.error("c");
  log.fatal("d");
  assert.deepEqual(seen, ["info", "warn", "error", "fatal"]);
});

Deno.test("short writes are completed and a failing output does not throw", () => {
  const { log, output } = setup({}, new MemoryOutput(false, 3));
  log.info("hello world");
  assert.equal(output.text, "hello world\n");

  const broken: LogOutput = {
    writeSync(): number {
      throw new Deno.errors.BrokenPipe("closed");
    },
  };
  const sink = new LogSink({ output: broken });
  sink.logger().error("ignored");
});
