import assert from "node:assert/strict";
import { archiverConcurrency, extractorConcurrencyWarning } from "./archiver_concurrency.ts";

function threads(isFastzip: boolean, variables: Record<string, string>, cpus = 4) {
  const warnings: string[] = [];
  const n = archiverConcurrency(isFastzip, (k) => variables[k], cpus, (m) => warnings.push(m));
  return { n, warnings };
}

Deno.test("FF_USE_FASTZIP compresses on as many threads as CPUs, or FASTZIP_ARCHIVER_CONCURRENCY", () => {
  assert.deepEqual(threads(true, {}), { n: 4, warnings: [] });
  assert.deepEqual(threads(true, { FASTZIP_ARCHIVER_CONCURRENCY: "2" }), { n: 2, warnings: [] });
  assert.deepEqual(threads(true, { FASTZIP_ARCHIVER_CONCURRENCY: "1" }), { n: 1, warnings: [] });
});

Deno.test("without FF_USE_FASTZIP an archive has one thread, and FASTZIP_ARCHIVER_CONCURRENCY says it is unused", () => {
  assert.deepEqual(threads(false, {}), { n: 1, warnings: [] });
  assert.deepEqual(threads(false, { FASTZIP_ARCHIVER_CONCURRENCY: "3" }), {
    n: 1,
    warnings: [
      "FASTZIP_ARCHIVER_CONCURRENCY is used only with FF_USE_FASTZIP: compressing on one thread",
    ],
  });
});

Deno.test("a bad FASTZIP_ARCHIVER_CONCURRENCY is named in a warning and the CPUs are used; more than the CPUs is cut", () => {
  for (const bad of ["two", "0", "-1", "1.5", " 2", "99999999999999999999"]) {
    const { n, warnings } = threads(true, { FASTZIP_ARCHIVER_CONCURRENCY: bad });
    assert.equal(n, 4, bad);
    assert.deepEqual(warnings, [
      `FASTZIP_ARCHIVER_CONCURRENCY "${bad}" is not a whole number of 1 or more: using 4 (the number of CPUs)`,
    ]);
  }
  assert.deepEqual(threads(true, { FASTZIP_ARCHIVER_CONCURRENCY: "16" }), {
    n: 4,
    warnings: ["FASTZIP_ARCHIVER_CONCURRENCY 16 is more than the 4 CPUs here: using 4"],
  });
});

Deno.test("the official fastzip's buffer size and extractor threads are said to be unused", () => {
  const { warnings } = threads(true, { FASTZIP_ARCHIVER_BUFFER_SIZE: "4194304" });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? "", /^FASTZIP_ARCHIVER_BUFFER_SIZE is not used/);
  assert.equal(extractorConcurrencyWarning(() => undefined), null);
  assert.match(
    extractorConcurrencyWarning((k) => k === "FASTZIP_EXTRACTOR_CONCURRENCY" ? "8" : undefined) ??
      "",
    /^FASTZIP_EXTRACTOR_CONCURRENCY is not used: this runner extracts on one thread/,
  );
});
