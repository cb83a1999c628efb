import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ARCHIVE = join(dirname(fileURLToPath(import.meta.url)), "archive.ts");

Deno.test("the archive bench runs ours as a job does: an executor process's permissions, the job's file selection", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ARCHIVE, "--quick", "--files", "300"],
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  const report = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
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
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ARCHIVE, "--quick", "--files", "300"],
    env: { DENO_NO_UPDATE_CHECK: "1", BENCH_MEMORY: "1" },
  }).output();
  const report = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
  // The last sample, taken as each run ends.
  assert.match(report, /^ {2}archive: \{"rss":\d+,/m);
  assert.match(report, /^ {2}extract: \{"rss":\d+,/m);
  assert.match(report, /^archive ratio ours\/zip: +[\d.]+ +\(goal <= 1\.00\)$/m);
});
