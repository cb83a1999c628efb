import { isUtf8 } from "node:buffer";
import assert from "node:assert/strict";
import { crc32, formatChecksum } from "./crc32.ts";
import { JobTrace } from "./job_trace.ts";
import { maskOptionsForJob } from "./mask_options.ts";
import { outputLimitNotice } from "./output_limiter.ts";
import { tokenMaskPrefixes } from "./token_prefixes.ts";
import { TraceStore } from "./trace_store.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function newTrace(outputLimitKiB = 0, phrases: string[] = ["hunter2-secret"]): JobTrace {
  return new JobTrace({
    mask: { phrases, tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }) },
    outputLimitKiB,
    store: new TraceStore(),
    crc32,
    isUtf8,
  });
}

function stored(trace: JobTrace): Uint8Array {
  return trace.read(0, trace.size).slice();
}

Deno.test("JobTrace stores masked, valid UTF-8 output with checksum and size over the stored bytes", () => {
  using trace = newTrace();
  const raw = [
    enc.encode("pass=hunter2-"),
    enc.encode("secret tok=glpat-abc\n"),
    new Uint8Array([0xe2, 0x82]),
  ];
  for (const chunk of raw) trace.write(chunk);
  trace.write(new Uint8Array([0xac, 0xff, 0x0a]));
  trace.close();
  const bytes = stored(trace);
  assert.equal(dec.decode(bytes), "pass=[MASKED] tok=glpat-[MASKED]\n€\ufffd\n");
  assert.equal(trace.size, bytes.length);
  assert.equal(trace.checksum(), formatChecksum(crc32(bytes)));
});

Deno.test("JobTrace without crc32 stores the same bytes and refuses checksum()", () => {
  using checked = newTrace();
  using unchecked = new JobTrace({
    mask: {
      phrases: ["hunter2-secret"],
      tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }),
    },
    outputLimitKiB: 0,
    store: new TraceStore(),
    crc32: null,
    isUtf8: null,
  });
  for (const trace of [checked, unchecked]) {
    trace.write(enc.encode("pass=hunter2-secret\n\xff"));
    trace.close();
  }
  assert.deepEqual(stored(unchecked), stored(checked));
  assert.throws(() => unchecked.checksum(), TypeError);
});

Deno.test("JobTrace cuts output at output_limit KiB with the official notice and keeps the checksum exact", () => {
  using trace = newTrace(1);
  const line = enc.encode("ünïcödé line of output\n"); // multi-byte characters near the cut
  for (let i = 0; i < 200; i++) trace.write(line);
  trace.close();
  const text = dec.decode(stored(trace));
  const notice = outputLimitNotice(1024);
  assert.ok(text.endsWith(notice));
  const kept = enc.encode(text.slice(0, text.length - notice.length));
  assert.ok(kept.length <= 1024 && kept.length > 1020, `kept ${kept.length} bytes`);
  assert.equal(trace.isOutputLimitExceeded, true);
  assert.equal(trace.checksum(), formatChecksum(crc32(stored(trace))));
});

Deno.test("JobTrace uses 4096 KiB when output_limit is 0", () => {
  using trace = newTrace(0);
  trace.write(new Uint8Array(4 * 1024 * 1024 - 1).fill(0x61));
  assert.equal(trace.isOutputLimitExceeded, false);
  trace.write(enc.encode("bc"));
  assert.equal(trace.isOutputLimitExceeded, true);
  assert.ok(
    dec.decode(trace.read(4 * 1024 * 1024 - 1, 200)).startsWith(
      "b\n\x1b[33;1mJob's log exceeded limit of 4194304 bytes.",
    ),
  );
});

Deno.test("JobTrace drops writes after close instead of failing the job", () => {
  using trace = newTrace();
  trace.write(enc.encode("a"));
  trace.close();
  trace.write(enc.encode("late"));
  trace.close();
  assert.equal(dec.decode(stored(trace)), "a");
});

Deno.test("JobTrace rejects a negative output limit", () => {
  assert.throws(
    () => newTrace(-1),
    /Output limit must be a whole number of KiB, 0 or more: got -1/,
  );
});

Deno.test("JobTrace takes the largest output_limit config.toml holds", () => {
  // 9007199254740991 KiB is more bytes than a number holds exactly: the limiter
  // refused it, and every job failed at its start with an empty log.
  using trace = newTrace(Number.MAX_SAFE_INTEGER);
  trace.write(enc.encode("a\n"));
  trace.close();
  assert.equal(dec.decode(stored(trace)), "a\n");
});

Deno.test("maskOptionsForJob masks masked variables and the job's token prefixes", () => {
  const job = {
    variables: [
      { key: "A", value: "visible", public: true, file: false, masked: false, raw: false },
      { key: "B", value: "hidden-value", public: false, file: false, masked: true, raw: false },
    ],
    features: { traceSections: false, tokenMaskPrefixes: ["corp-"], failureReasons: [] },
  };
  const options = maskOptionsForJob(job, { isMaskAllDefaultTokens: false });
  assert.deepEqual(options.phrases, ["hidden-value"]);
  assert.deepEqual(options.tokenPrefixes, ["glpat-", "corp-"]);
  using trace = new JobTrace({
    mask: options,
    outputLimitKiB: 0,
    store: new TraceStore(),
    crc32,
    isUtf8,
  });
  trace.write(enc.encode("visible hidden-value corp-x1 glrt-y"));
  trace.close();
  assert.equal(dec.decode(stored(trace)), "visible [MASKED] corp-[MASKED] glrt-y");
});

/** A stamped trace whose clock starts at 2026-12-02T08:00:00Z and ticks 1.5 ms per line. */
function stampedTrace(outputLimitKiB = 0): JobTrace {
  let ms = Date.parse("2026-12-02T08:00:00Z");
  return new JobTrace({
    mask: {
      phrases: ["hunter2-secret"],
      tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }),
    },
    outputLimitKiB,
    store: new TraceStore(),
    crc32,
    isUtf8,
    isTimestamped: true,
    now: () => (ms += 1.5),
  });
}

Deno.test("JobTrace with FF_TIMESTAMPS prefixes each line with its time and stream: runner 00O, stdout 01O, stderr 01E", () => {
  using trace = stampedTrace();
  trace.write(enc.encode("\x1b[0KRunning with runner\n"), "runner");
  trace.write(enc.encode("out 1\nout 2\n"), "stdout");
  trace.write(enc.encode("err 1\n"), "stderr");
  trace.write(enc.encode("section_end:1:step_script\r\x1b[0K"), "runner");
  trace.close();
  assert.equal(
    dec.decode(stored(trace)),
    [
      "2026-12-02T08:00:00.001500Z 00O \x1b[0KRunning with runner\n",
      "2026-12-02T08:00:00.003000Z 01O out 1\n",
      "2026-12-02T08:00:00.003000Z 01O out 2\n",
      "2026-12-02T08:00:00.004500Z 01E err 1\n",
      "2026-12-02T08:00:00.006000Z 00O section_end:1:step_script\r\x1b[0K\n",
    ].join(""),
  );
});

Deno.test("JobTrace with FF_TIMESTAMPS masks a secret split across writes and across a forced + split", () => {
  using trace = stampedTrace();
  trace.write(enc.encode("pass=hunter2-"), "stdout");
  trace.write(enc.encode("secret ok\n"), "stdout");
  // A line longer than 8 KiB is split into + entries; the secret at the split is still masked.
  trace.write(enc.encode("x".repeat(8180) + "hunter2-"), "stdout");
  trace.write(enc.encode("secret" + "y".repeat(8200)), "stdout");
  trace.write(enc.encode(" tok=glpat-abc\n"), "stdout");
  trace.close();
  const text = dec.decode(stored(trace));
  assert.ok(!text.includes("hunter2") && !text.includes("glpat-abc"), "a secret leaked");
  const entries = text.split("\n").slice(0, -1);
  assert.equal(entries[0], "2026-12-02T08:00:00.001500Z 01O pass=[MASKED] ok");
  assert.match(entries[1]!, /^2026-12-02T08:00:00\.\d{6}Z 01O x{8180}/);
  assert.ok(entries.slice(2).every((e) => / 01O\+/.test(e.slice(27, 32))), "continuations are +");
  const joined = entries.slice(1).map((e) => e.slice(32)).join("");
  assert.ok(
    joined === "x".repeat(8180) + "[MASKED]" + "y".repeat(8200) + " tok=glpat-[MASKED]",
    "the + entries join back into the masked line",
  );
});

Deno.test("JobTrace with FF_TIMESTAMPS keeps a script's partial line apart from the runner's next line", () => {
  using trace = stampedTrace();
  trace.write(enc.encode("no newline at the end"), "stdout");
  trace.write(enc.encode("warn"), "stderr");
  trace.write(enc.encode("\x1b[32;1mJob succeeded\x1b[0;m\n"), "runner");
  trace.close();
  assert.equal(
    dec.decode(stored(trace)),
    [
      "2026-12-02T08:00:00.001500Z 01O no newline at the end\n",
      "2026-12-02T08:00:00.003000Z 01E warn\n",
      "2026-12-02T08:00:00.004500Z 00O \x1b[32;1mJob succeeded\x1b[0;m\n",
    ].join(""),
  );
});

Deno.test("JobTrace with FF_TIMESTAMPS gives services' lines stream 0fO, apart from a script's partial line", () => {
  using trace = stampedTrace();
  trace.write(enc.encode("progress "), "stdout");
  trace.write(enc.encode("[service:db] ready\n"), "service");
  trace.write(enc.encode("done\n"), "stdout");
  trace.close();
  assert.equal(
    dec.decode(stored(trace)),
    [
      "2026-12-02T08:00:00.001500Z 01O progress \n",
      "2026-12-02T08:00:00.003000Z 0fO [service:db] ready\n",
      "2026-12-02T08:00:00.004500Z 01O done\n",
    ].join(""),
  );
});

Deno.test("JobTrace with FF_TIMESTAMPS counts the prefixes against output_limit and adds the notice unprefixed", () => {
  using trace = stampedTrace(1);
  for (let i = 0; i < 100; i++) trace.write(enc.encode("line of output\n"), "stdout");
  trace.close();
  const text = dec.decode(stored(trace));
  assert.ok(text.endsWith(outputLimitNotice(1024)));
  assert.equal(trace.size, enc.encode(text).length);
  assert.ok(text.startsWith("2026-12-02T08:00:00.001500Z 01O line of output\n"));
  assert.equal(trace.checksum(), formatChecksum(crc32(stored(trace))));
});

Deno.test("JobTrace without FF_TIMESTAMPS writes every stream unstamped, in arrival order", () => {
  using trace = newTrace();
  trace.write(enc.encode("a"), "stdout");
  trace.write(enc.encode("b\n"), "stderr");
  trace.write(enc.encode("c\n"), "runner");
  trace.close();
  assert.equal(dec.decode(stored(trace)), "ab\nc\n");
});

Deno.test("JobTrace with FF_TIMESTAMPS keeps a secret masked when a runner line comes in its middle", () => {
  using trace = stampedTrace();
  trace.write(enc.encode("pass=hunter2-"), "stdout");
  trace.write(enc.encode("WARNING: something\n"), "runner");
  trace.write(enc.encode("secret\n"), "stdout");
  trace.close();
  const text = dec.decode(stored(trace));
  assert.ok(!text.includes("hunter2") && !text.includes("secret"), text);
  assert.equal(
    text,
    [
      "2026-12-02T08:00:00.001500Z 01O pass=\n",
      "2026-12-02T08:00:00.003000Z 00O WARNING: something\n",
      "2026-12-02T08:00:00.004500Z 01O [MASKED]\n",
    ].join(""),
  );
});

Deno.test("JobTrace with FF_TIMESTAMPS stores the same bytes however the output is split, secrets and multi-byte characters included", () => {
  let seed = 3;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const secret = "hunter2-secret";
  const words = [secret, "glpat-abcDEF123", "€uro ", "plain text ", "x", "\n", "\n\n", "ab"];
  const stamp = "2026-12-02T08:30:00.000000Z 01O ";
  for (let round = 0; round < 40; round++) {
    // No `\r` and no line near 8 KiB: there the entries depend on the writes by design.
    let text = "";
    while (text.length < 3000) text += words[rand(words.length)];
    text += "\n";
    const expected = text.slice(0, -1).split("\n").map((line) =>
      stamp + line.replaceAll(secret, "[MASKED]").replace(/glpat-[\w.=-]+/g, "glpat-[MASKED]") +
      "\n"
    ).join("");
    const bytes = enc.encode(text);
    using trace = new JobTrace({
      mask: {
        phrases: [secret],
        tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }),
      },
      outputLimitKiB: 0,
      store: new TraceStore(),
      crc32,
      isUtf8,
      isTimestamped: true,
      now: () => Date.parse("2026-12-02T08:30:00Z"),
    });
    for (let at = 0; at < bytes.length;) {
      const n = [0, 1, 2, 5, 17, 64, 300][rand(7)]!; // empty writes, and splits inside characters and prefixes
      trace.write(bytes.subarray(at, at + n));
      at += n;
    }
    trace.close();
    assert.equal(dec.decode(stored(trace)), expected, `round ${round}`);
  }
});

Deno.test("JobTrace with FF_TIMESTAMPS stores what a stage's maskers held back in that stage, before the runner's next lines", () => {
  using trace = stampedTrace();
  // "…running" may begin "glpat-" (its g), "hunter2-" the masked value, 0xe2 0x82 a character.
  trace.write(enc.encode("running"), "stdout");
  trace.write(enc.encode("pass=hunter2-"), "stderr");
  trace.write(enc.encode("section_end:1:step_script\r\x1b[0K"), "runner");
  trace.write(new Uint8Array([...enc.encode("after "), 0xe2, 0x82]), "stdout");
  trace.write(enc.encode("section_end:2:after_script\r\x1b[0K"), "runner");
  trace.write(enc.encode("Job succeeded\n"), "runner");
  trace.write(enc.encode("next\n"), "stdout");
  trace.close();
  assert.equal(
    dec.decode(stored(trace)),
    [
      "2026-12-02T08:00:00.001500Z 01O running\n",
      "2026-12-02T08:00:00.003000Z 01E pass=hunter2-\n",
      "2026-12-02T08:00:00.004500Z 00O section_end:1:step_script\r\x1b[0K\n",
      "2026-12-02T08:00:00.006000Z 01O after \ufffd\ufffd\n",
      "2026-12-02T08:00:00.007500Z 00O+section_end:2:after_script\r\x1b[0K\n",
      "2026-12-02T08:00:00.009000Z 00O+Job succeeded\n",
      "2026-12-02T08:00:00.010500Z 01O next\n",
    ].join(""),
  );
});

Deno.test("JobTrace without FF_TIMESTAMPS keeps a secret masked when the other stream writes in its middle", () => {
  using trace = newTrace();
  trace.write(enc.encode("pass=hunter2-"), "stdout");
  trace.write(enc.encode("progress\n"), "stderr");
  trace.write(enc.encode("secret\n"), "stdout");
  trace.write(new Uint8Array([0xe2, 0x82]), "stdout");
  trace.write(enc.encode("warn\n"), "stderr");
  trace.write(new Uint8Array([0xac, 0x0a]), "stdout");
  trace.close();
  assert.equal(dec.decode(stored(trace)), "pass=progress\n[MASKED]\nwarn\n€\n");
});

Deno.test("a stage's end ends a token or query value its output ended in: the next stage's output is kept", () => {
  for (const trace of [newTrace(), stampedTrace()]) {
    using t = trace;
    t.write(enc.encode("tok=glpat-abc"), "stdout");
    t.write(enc.encode("see ?private_token=xyz"), "stderr");
    t.write(enc.encode("section_end:1:step_script\r\x1b[0K"), "runner");
    t.write(enc.encode("Running after_script\n"), "stdout");
    t.write(enc.encode("next-stage\n"), "stderr");
    t.close();
    const text = dec.decode(stored(t));
    assert.match(text, /tok=glpat-\[MASKED\]\n?[^]*Running after_script\n/);
    assert.match(text, /see \?private_token=\[MASKED\]\n?[^]*next-stage\n/);
  }
});

Deno.test("JobTrace stamps lines with the wall clock as it is when the job starts, not when the process started", () => {
  // The wall clock was set 3 hours forward after this process started (NTP at boot, a host that slept).
  const stepMs = 3 * 3600 * 1000;
  const realNow = Date.now;
  Date.now = () => realNow() + stepMs;
  try {
    using trace = new JobTrace({
      mask: { phrases: [], tokenPrefixes: [] },
      outputLimitKiB: 0,
      store: new TraceStore(),
      crc32,
      isUtf8,
      isTimestamped: true,
    });
    trace.write(enc.encode("line\n"));
    trace.close();
    const stamp = Date.parse(dec.decode(stored(trace)).slice(0, 27));
    const wall = realNow() + stepMs;
    assert.ok(Math.abs(stamp - wall) < 60_000, `stamped ${new Date(stamp).toISOString()}`);
  } finally {
    Date.now = realNow;
  }
});
