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

Deno.test("the archive bench refuses a bad --files, --runs or --level, naming it, before it measures", async () => {
  for (
    const [flags, message] of [
      [["--files", "abc"], '--files must be a positive integer: got "abc"'],
      [["--runs", "0"], '--runs must be a positive integer: got "0"'],
      [["--level", "quick"], 'must be one of fastest, fast, default, slow, slowest: got "quick"'],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", ARCHIVE, "--files", "50", ...flags],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.equal(out.success, false, `${flags.join(" ")} was taken:\n${report}`);
    assert.ok(new TextDecoder().decode(out.stderr).includes(message), flags.join(" "));
    assert.doesNotMatch(report, /^tree: /m, "no tree made");
  }
});

Deno.test("the archive bench's --tree refuses a directory it did not make, and leaves its files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "precious.txt"), "mine");
    await Deno.mkdir(join(dir, "x-mine"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", ARCHIVE, "--files", "50", "--runs", "1", "--tree", dir],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    assert.equal(out.success, false);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /--tree ".*" holds files this bench did not make/,
    );
    assert.equal(await Deno.readTextFile(join(dir, "precious.txt")), "mine");
    assert.ok((await Deno.stat(join(dir, "x-mine"))).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the archive bench skips, naming zip and unzip and their package, when they are not installed", async () => {
  const emptyPath = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", ARCHIVE, "--files", "50", "--runs", "1"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", PATH: emptyPath },
    }).output();
    const report = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, `${report}\n${new TextDecoder().decode(out.stderr)}`);
    assert.equal(
      report,
      "Skipping archive benchmark: zip, unzip are not installed " +
        "(apt-get install zip unzip; .ci/run installs them)\n",
    );
  } finally {
    await Deno.remove(emptyPath);
  }
});
