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
  using trace = new JobTrace({ mask: options, outputLimitKiB: 0, store: new TraceStore() });
  trace.write(enc.encode("visible hidden-value corp-x1 glrt-y"));
  trace.close();
  assert.equal(dec.decode(stored(trace)), "visible [MASKED] corp-[MASKED] glrt-y");
});
