import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertRefusesFlags,
  assertSkipsWithoutPrograms,
  benchPath,
  runBench,
} from "./_bench_test_run.ts";

const ARCHIVE = benchPath("archive");

Deno.test("the archive bench runs ours as a job does: an executor process's permissions, the job's file selection", async () => {
  const { success, report, errors } = await runBench(ARCHIVE, ["--quick", "--files", "300"]);
  assert.ok(success, `${report}\n${errors}`);
  const runsAs = /^ours runs as: deno run (.*)$/m.exec(report)?.[1] ?? "";
  // Scoped to builds_dir, cache_dir and the temp dir, as the poller scopes a shell job's.
  assert.match(runsAs, / --allow-read=\S*\/builds,\S*\/cache\b/);
  assert.match(runsAs, / --allow-write=\S*\/builds,\S*\/cache\b/);
  assert.doesNotMatch(runsAs, /--allow-all|-A\b/);
  assert.match(
    report,
    /^ours archive in parts: file selection \d+ ms, zip into the cache store \d+ ms$/m,
  );
  assert.match(report, /^round trip of our archive: identical$/m);
  assert.match(report, /^archive ratio ours\/zip: +[\d.]+ +\(goal <= 1\.00\)$/m);
  assert.match(report, /^extract ratio ours\/unzip: +[\d.]+ +\(goal <= 1\.00\)$/m);
});

Deno.test("BENCH_MEMORY=1 shows our runs' memory and still reports", async () => {
  const { success, report, errors } = await runBench(ARCHIVE, ["--quick", "--files", "300"], {
    BENCH_MEMORY: "1",
  });
  assert.ok(success, `${report}\n${errors}`);
  // The last sample, taken as each run ends.
  assert.match(report, /^ {2}archive: \{"rss":\d+,/m);
  assert.match(report, /^ {2}extract: \{"rss":\d+,/m);
  assert.match(report, /^archive ratio ours\/zip: +[\d.]+ +\(goal <= 1\.00\)$/m);
});

Deno.test("the archive bench refuses a bad --files, --runs or --level, naming it, before it measures", async () => {
  await assertRefusesFlags(
    ARCHIVE,
    ["--files", "50"],
    [
      [["--files", "abc"], '--files must be a positive integer: got "abc"'],
      [["--runs", "0"], '--runs must be a positive integer: got "0"'],
      [["--level", "quick"], 'must be one of fastest, fast, default, slow, slowest: got "quick"'],
    ],
    // "ours runs as" comes first; no tree made.
    (report) => /^tree: /m.test(report),
  );
});

Deno.test("the archive bench's --tree refuses a directory it did not make, and leaves its files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "precious.txt"), "mine");
    await Deno.mkdir(join(dir, "x-mine"));
    const run = await runBench(ARCHIVE, ["--files", "50", "--runs", "1", "--tree", dir]);
    assert.equal(run.success, false);
    assert.match(run.errors, /--tree ".*" holds files this bench did not make/);
    assert.equal(await Deno.readTextFile(join(dir, "precious.txt")), "mine");
    assert.ok((await Deno.stat(join(dir, "x-mine"))).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the archive bench skips, naming zip and unzip and their package, when they are not installed", async () => {
  await assertSkipsWithoutPrograms(
    ARCHIVE,
    ["--files", "50", "--runs", "1"],
    "Skipping archive benchmark: zip, unzip are not installed " +
      "(apt-get install zip unzip; .ci/run installs them)",
  );
});
