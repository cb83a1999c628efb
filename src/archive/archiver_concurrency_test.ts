import assert from "node:assert/strict";
import { bufferSizeWarning, fastzipThreads, type ThreadsVariable } from "./archiver_concurrency.ts";

const VARIABLES: ThreadsVariable[] = [
  "FASTZIP_ARCHIVER_CONCURRENCY",
  "FASTZIP_EXTRACTOR_CONCURRENCY",
];

function threads(
  variable: ThreadsVariable,
  isFastzip: boolean,
  variables: Record<string, string>,
  cpus = 4,
) {
  const warnings: string[] = [];
  const n = fastzipThreads(variable, isFastzip, (k) => variables[k], cpus, (m) => warnings.push(m));
  return { n, warnings };
}

Deno.test("FF_USE_FASTZIP works on as many threads as CPUs, or the FASTZIP_*_CONCURRENCY variable's number", () => {
  for (const v of VARIABLES) {
    assert.deepEqual(threads(v, true, {}), { n: 4, warnings: [] });
    assert.deepEqual(threads(v, true, { [v]: "2" }), { n: 2, warnings: [] });
    assert.deepEqual(threads(v, true, { [v]: "1" }), { n: 1, warnings: [] });
  }
});

Deno.test("without FF_USE_FASTZIP an archive has one thread, and a FASTZIP_*_CONCURRENCY variable says it is unused", () => {
  for (const v of VARIABLES) {
    assert.deepEqual(threads(v, false, {}), { n: 1, warnings: [] });
    assert.deepEqual(threads(v, false, { [v]: "3" }), {
      n: 1,
      warnings: [`${v} is used only with FF_USE_FASTZIP: using one thread`],
    });
  }
});

Deno.test("a bad FASTZIP_*_CONCURRENCY is named in a warning and the CPUs are used; more than the CPUs is cut", () => {
  for (const v of VARIABLES) {
    for (const bad of ["two", "0", "-1", "1.5", " 2", "99999999999999999999"]) {
      const { n, warnings } = threads(v, true, { [v]: bad });
      assert.equal(n, 4, bad);
      assert.deepEqual(warnings, [
        `${v} "${bad}" is not a whole number of 1 or more: using 4 (the number of CPUs)`,
      ]);
    }
    assert.deepEqual(threads(v, true, { [v]: "16" }), {
      n: 4,
      warnings: [`${v} 16 is more than the 4 CPUs here: using 4`],
    });
  }
});

Deno.test("the official fastzip's buffer size is said to be unused", () => {
  assert.equal(bufferSizeWarning(() => undefined), null);
  assert.match(
    bufferSizeWarning((k) => k === "FASTZIP_ARCHIVER_BUFFER_SIZE" ? "4194304" : undefined) ?? "",
    /^FASTZIP_ARCHIVER_BUFFER_SIZE is not used: this runner compresses in units of 256 KiB/,
  );
});
