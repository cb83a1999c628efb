import assert from "node:assert/strict";
import { ArchiveError } from "./archive_error.ts";
import { type CraftedEntry, craftZip } from "./crafted_zip.ts";
import { type ExtractOptions, extractZip } from "./zip_extractor.ts";
import { MemoryTree } from "./memory_tree.ts";
import { BytesReader } from "./random_access_reader.ts";

const NO_RATIO: ExtractOptions = {
  limits: { maxRatio: Infinity, maxArchiveRatio: Infinity },
};

async function rejects(
  entries: CraftedEntry[],
  message: RegExp,
  options: ExtractOptions = {},
  target = new MemoryTree(),
): Promise<MemoryTree> {
  const before = [...target.nodes.keys()].sort();
  await assert.rejects(
    extractZip(new BytesReader(craftZip(entries)), target, options),
    (err: unknown) => {
      assert.ok(err instanceof ArchiveError, `expected an ArchiveError, got ${err}`);
      assert.match(err.message, message);
      return true;
    },
  );
  return Object.assign(target, { before });
}

Deno.test("extraction rejects a ../ entry before writing anything", async () => {
  const target = await rejects(
    [{ name: "ok.txt", content: "fine" }, { name: "../evil.txt", content: "x" }],
    /Entry "\.\.\/evil\.txt" has a "\.\." segment/,
  );
  assert.deepEqual([...target.nodes.keys()], [""]);
});

Deno.test("extraction rejects absolute and drive-letter entries", async () => {
  await rejects(
    [{ name: "/etc/cron.d/evil", content: "x" }],
    /Entry "\/etc\/cron\.d\/evil" has an absolute path/,
  );
  await rejects([{ name: "C:\\evil.txt", content: "x" }], /has a drive letter/);
});

Deno.test("extraction creates symlinks leading out of the target with the target the archive gives, as the official runner's extractors", async () => {
  const target = new MemoryTree();
  const result = await extractZip(
    new BytesReader(craftZip([
      { name: "venv/bin/python", kind: "symlink", content: "/usr/bin/python3" },
      { name: "venv/lib.txt", content: "lib" },
      { name: "a/up", kind: "symlink", content: "../../x" },
      // Lexically inside; on disk d/l1 is the root, so l2 is its parent.
      { name: "d/l1", kind: "symlink", content: ".." },
      { name: "l2", kind: "symlink", content: "d/l1/.." },
    ])),
    target,
  );
  assert.equal(result.symlinks, 4);
  assert.equal(await target.readLink("venv/bin/python"), "/usr/bin/python3");
  assert.equal(await target.readLink("a/up"), "../../x");
  assert.equal(await target.readLink("d/l1"), "..");
  assert.equal(await target.readLink("l2"), "d/l1/..");
  assert.equal(target.text("venv/lib.txt"), "lib");
});

Deno.test("extraction refuses an entry below an outward symlink of the archive, in any order and through a chain of links, and writes nothing", async () => {
  const cases: [CraftedEntry[], RegExp][] = [
    [
      [{ name: "a", kind: "symlink", content: "/etc" }, { name: "a/passwd", content: "x" }],
      /Entry "a\/passwd" is inside "a", which the archive stores as a symlink/,
    ],
    [
      [{ name: "a/passwd", content: "x" }, { name: "a", kind: "symlink", content: "/etc" }],
      /Entry "a\/passwd" is inside "a", which the archive stores as a symlink/,
    ],
    [
      [
        { name: "a", kind: "symlink", content: "../../.." },
        { name: "b", kind: "symlink", content: "a" },
        { name: "b/etc/", kind: "dir" },
        { name: "b/etc/cron.d/job", content: "x" },
      ],
      /Entry "b\/etc\/?(cron\.d\/job)?" is inside "b", which the archive stores as a symlink/,
    ],
  ];
  for (const [entries, message] of cases) {
    const target = await rejects(entries, message);
    assert.deepEqual([...target.nodes.keys()], [""]);
  }
});

Deno.test("extraction rejects an entry written through a symlink of the same archive", async () => {
  // Even a link that stays inside must not be written through.
  const target = await rejects(
    [
      { name: "link", kind: "symlink", content: "real" },
      { name: "real/", kind: "dir" },
      { name: "link/payload", content: "x" },
    ],
    /Entry "link\/payload" is inside "link", which the archive stores as a symlink/,
  );
  assert.deepEqual([...target.nodes.keys()], [""]);
});

Deno.test("extraction never follows a symlink already in the target", async () => {
  const target = new MemoryTree().addSymlink("node_modules", "/elsewhere");
  await rejects(
    [{ name: "node_modules/pkg/index.js", content: "x" }],
    /Cannot extract into "node_modules": it is a symlink in the target directory, which is never followed/,
    {},
    target,
  );
  assert.equal(target.nodes.get("node_modules")?.kind, "symlink");
  assert.equal(target.nodes.has("node_modules/pkg/index.js"), false);
});

Deno.test("extraction rejects duplicate names, also after normalisation", async () => {
  await rejects(
    [{ name: "a.txt", content: "one" }, { name: "a.txt", content: "two" }],
    /Entry "a\.txt" appears more than once in the archive/,
  );
  await rejects(
    [{ name: "dir/a.txt", content: "one" }, { name: "dir//./a.txt", content: "two" }],
    /Entry "dir\/\/\.\/a\.txt" appears more than once/,
  );
  await rejects(
    [{ name: "x", content: "file" }, { name: "x/", kind: "dir" }],
    /Entry "x\/" appears more than once/,
  );
});

Deno.test("extraction rejects an entry below a file of the archive", async () => {
  await rejects(
    [{ name: "a", content: "file" }, { name: "a/b", content: "x" }],
    /Entry "a\/b" is inside "a", which the archive stores as a file/,
  );
});

Deno.test("extraction rejects a zip bomb by expansion ratio", async () => {
  const zeros = new Uint8Array(4 << 20);
  await rejects(
    [{ name: "bomb.bin", content: zeros }],
    /Entry "bomb\.bin" expands \d+ times, more than the limit of 100: refusing a likely zip bomb/,
    { limits: { maxRatio: 100 } },
  );
});

Deno.test("every entry gets the ratio check, however small", async () => {
  await rejects(
    [{ name: "small.bin", content: new Uint8Array(64 << 10) }],
    /Entry "small\.bin" expands \d+ times, more than the limit of 50/,
    { limits: { maxRatio: 50 } },
  );
});

Deno.test("extraction rejects an archive whose entries together expand too much", async () => {
  const target = await rejects(
    Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, content: "x".repeat(4000) })),
    /Archive of \d+ bytes expands to 32000 bytes \(\d+ times\), more than the limit of 20/,
    { limits: { maxArchiveRatio: 20 } },
  );
  assert.deepEqual([...target.nodes.keys()], [""]);
});

Deno.test("extraction rejects archives past the total size bound before writing", async () => {
  const target = await rejects(
    [{ name: "a", content: "x".repeat(600) }, { name: "b", content: "y".repeat(600) }],
    /Archive expands to more than 1000 bytes \(limit reached at entry "b"\)/,
    { limits: { maxTotalSize: 1000 } },
  );
  assert.deepEqual([...target.nodes.keys()], [""]);
});

Deno.test("extraction stops an entry that inflates past its declared size", async () => {
  // Claims 10 bytes, inflates to a megabyte: the header lies.
  await rejects(
    [{ name: "liar.bin", content: new Uint8Array(1 << 20), size: 10 }],
    /Entry "liar\.bin" expands past its declared size of 10 bytes: refusing a likely zip bomb/,
  );
  await rejects(
    [{ name: "big-liar.bin", content: new Uint8Array(3 << 20), size: (1 << 20) + 5 }],
    /Entry "big-liar\.bin" expands past its declared size/,
    NO_RATIO, // reach the streaming path, past the ratio checks
  );
});

Deno.test("extraction rejects overlapping entries (the non-recursive zip bomb)", async () => {
  await rejects(
    [{ name: "a", content: "payload ".repeat(100) }, {
      name: "b",
      content: "payload ".repeat(100),
      sameDataAs: 0,
    }],
    /overlaps another entry: refusing a likely zip bomb/,
  );
});

Deno.test("extraction checks CRC-32 and removes the bad file", async () => {
  const target = await rejects(
    [{ name: "good", content: "fine" }, { name: "bad", content: "corrupted?", crc: 0x12345678 }],
    /Entry "bad" is corrupt: CRC-32 is [0-9a-f]{8}, expected 12345678/,
  );
  assert.equal(target.nodes.has("bad"), false);
  const big = new Uint8Array(2 << 20).map((_, i) => i % 251);
  const target2 = await rejects(
    [{ name: "big", content: big, crc: 1 }],
    /Entry "big" is corrupt: CRC-32/,
  );
  assert.equal(target2.nodes.has("big"), false);
});

Deno.test("extraction names corrupt deflate data", async () => {
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
  await rejects(
    [{ name: "junk", rawData: garbage, method: 8, size: 100, crc: 0 }],
    /Entry "junk" is corrupt: invalid block type/,
  );
  await rejects(
    [{ name: "big-junk", rawData: garbage, method: 8, size: 2 << 20, crc: 0 }],
    /Entry "big-junk" is corrupt/,
    NO_RATIO,
  );
});

Deno.test("extraction rejects encrypted entries and unknown methods", async () => {
  await rejects([{ name: "secret", content: "x", flags: 0x0801 }], /Entry "secret" is encrypted/);
  await rejects(
    [{ name: "bzip", content: "x", method: 12 }],
    /Entry "bzip" uses compression method 12/,
  );
});

Deno.test("extraction of something that is not a zip says so", async () => {
  await assert.rejects(
    extractZip(
      new BytesReader(new TextEncoder().encode("<html>not found</html>")),
      new MemoryTree(),
    ),
    /Not a zip archive: end of central directory not found/,
  );
  await assert.rejects(
    extractZip(new BytesReader(new Uint8Array(3)), new MemoryTree()),
    /Not a zip archive/,
  );
});

Deno.test("extraction replaces existing files and symlinks instead of writing through them", async () => {
  const target = new MemoryTree().addFile("keep/old.txt", "old").addSymlink(
    "keep/link.txt",
    "/etc/passwd",
  );
  await extractZip(
    new BytesReader(
      craftZip([{ name: "keep/old.txt", content: "new" }, {
        name: "keep/link.txt",
        content: "data",
      }]),
    ),
    target,
  );
  assert.equal(target.text("keep/old.txt"), "new");
  assert.equal(target.text("keep/link.txt"), "data");
});

Deno.test("extraction lanes reuse their buffers without mixing entries up", async () => {
  // One lane: every entry goes through the same inflate state and buffers,
  // small after large, stored after deflated, streamed (over 128 KiB) between.
  const entries: CraftedEntry[] = [
    { name: "a.txt", content: "x".repeat(50_000) },
    { name: "b.bin", content: new Uint8Array(3 << 20).map((_, i) => (i * 31) % 253) },
    { name: "c.txt", content: "short" },
    { name: "d.raw", content: new Uint8Array(70_000).map((_, i) => i % 7), method: 0 },
    { name: "e.txt", content: "y".repeat(10) },
  ];
  for (const concurrency of [1, 3]) {
    const target = new MemoryTree();
    await extractZip(new BytesReader(craftZip(entries)), target, { ...NO_RATIO, concurrency });
    for (const e of entries) {
      const expected = typeof e.content === "string"
        ? new TextEncoder().encode(e.content)
        : e.content;
      const node = target.nodes.get(e.name);
      assert.ok(node?.kind === "file", e.name);
      assert.deepEqual(node.data, expected, `${e.name} with ${concurrency} lanes`);
    }
  }
});

Deno.test("a synchronous target gets one entry at a time; another gets several at once", async () => {
  const entries: CraftedEntry[] = Array.from({ length: 20 }, (_, i) => ({
    name: `f${i}.txt`,
    content: `file ${i} `.repeat(100),
  }));
  for (const synchronous of [true, false]) {
    const tree = new MemoryTree();
    let inFlight = 0;
    let most = 0;
    // Says whether it is synchronous; takes its time either way, so overlap shows.
    const target = Object.assign(Object.create(tree) as MemoryTree, {
      synchronous,
      async writeFile(...args: Parameters<MemoryTree["writeFile"]>) {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        await tree.writeFile(...args);
        inFlight--;
      },
    });
    await extractZip(new BytesReader(craftZip(entries)), target);
    assert.equal(tree.text("f19.txt"), "file 19 ".repeat(100));
    if (synchronous) assert.equal(most, 1);
    else assert.ok(most > 1, `${most} entries at once`);
  }
});

Deno.test("extraction finishes when several lanes wait for the same turn of the event loop", async () => {
  // Each write keeps the thread 60 ms and settles at once, so every lane
  // finds a turn due on its next entry and waits for the same one: a turn
  // that woke only the last lane to ask left the others waiting forever.
  const entries: CraftedEntry[] = Array.from({ length: 6 }, (_, i) => ({
    name: `f${i}.txt`,
    content: `file ${i} `.repeat(100),
  }));
  const tree = new MemoryTree();
  const target = Object.assign(Object.create(tree) as MemoryTree, {
    synchronous: false,
    writeFile(...args: Parameters<MemoryTree["writeFile"]>) {
      const until = performance.now() + 60;
      while (performance.now() < until) { /* work that holds the thread */ }
      return tree.writeFile(...args);
    },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("still running after 5 s"), 5000);
  });
  const outcome = await Promise.race([
    extractZip(new BytesReader(craftZip(entries)), target, { concurrency: 3 }).then(() => "done"),
    deadline,
  ]);
  clearTimeout(timer);
  assert.equal(outcome, "done");
  assert.equal(tree.text("f5.txt"), "file 5 ".repeat(100));
});

Deno.test("extraction finds each entry's data after a local extra field of any length", async () => {
  // A small entry's header and data come in one read with room for the name
  // and extra field; longer ones than that room take a second read. The
  // extra fields' bytes look like data, so data read from a wrong offset shows.
  const entries: CraftedEntry[] = [0, 100, 497, 498, 499, 500, 501, 600, 4000].flatMap((
    extra,
    i,
  ) => [
    {
      name: `deflated-${i}.txt`,
      content: `deflated ${i} `.repeat(40),
      localExtra: new Uint8Array(extra).fill(0x41),
    },
    {
      name: `stored-${i}.txt`,
      content: `stored ${i} `.repeat(3),
      method: 0,
      localExtra: new Uint8Array(extra).fill(0x42),
    },
  ]);
  const target = new MemoryTree();
  await extractZip(new BytesReader(craftZip(entries)), target);
  for (const e of entries) assert.equal(target.text(e.name), e.content, e.name);
});

/** A MemoryTree that says it completes each call at once, as the local disk does. */
class SyncMemoryTree extends MemoryTree {
  readonly synchronous = true;
}

/** Enough good entries (2.4 MB) for several units of threads' work, then `last`. */
function manyThen(last: CraftedEntry[]): CraftedEntry[] {
  const good = Array.from({ length: 40 }, (_, i) => ({
    name: `pkg/f${String(i).padStart(2, "0")}.js`,
    content: `export const v${i} = ${i};\n`.repeat(3000).slice(0, 60_000 + i),
    method: i % 7 === 0 ? 0 : 8,
  }));
  return [...good, ...last];
}

Deno.test("with threads, extraction writes what one thread writes", async () => {
  const entries = manyThen([
    { name: "empty", content: "" },
    { name: "big.bin", content: new Uint8Array(3 << 20).map((_, i) => (i * 7) % 251) },
    { name: "link", kind: "symlink", content: "big.bin" },
    { name: "z.txt", content: "after the big one\n" },
  ]);
  const zip = craftZip(entries);
  const one = new SyncMemoryTree();
  const two = new SyncMemoryTree();
  const r1 = await extractZip(new BytesReader(zip), one);
  const r2 = await extractZip(new BytesReader(zip), two, { threads: 2 });
  assert.deepEqual(r2, r1);
  assert.deepEqual([...two.nodes.keys()].sort(), [...one.nodes.keys()].sort());
  // Directories the archive does not list and links get the time of their making.
  const timeless = (node: unknown) =>
    (node as { kind?: string }).kind === "file" ? node : { ...node as object, mtime: null };
  for (const [path, node] of one.nodes) {
    assert.deepEqual(timeless(two.nodes.get(path)), timeless(node), path);
  }
});

Deno.test("with threads, a lying size, a bad CRC and corrupt data are refused as by one thread", async () => {
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
  const cases: [CraftedEntry, RegExp][] = [
    [
      { name: "liar.bin", content: new Uint8Array(100_000), size: 10 },
      /Entry "liar\.bin" expands past its declared size of 10 bytes: refusing a likely zip bomb/,
    ],
    [
      { name: "short.txt", content: "four", size: 9, method: 8 },
      /Entry "short\.txt" is corrupt: 4 bytes instead of 9/,
    ],
    [
      { name: "bad", content: "corrupted?", crc: 0x12345678 },
      /Entry "bad" is corrupt: CRC-32 is [0-9a-f]{8}, expected 12345678/,
    ],
    [
      { name: "stored-bad", content: "stored?", method: 0, crc: 7 },
      /Entry "stored-bad" is corrupt: CRC-32 is [0-9a-f]{8}, expected 00000007/,
    ],
    [
      { name: "junk", rawData: garbage, method: 8, size: 100, crc: 0 },
      /Entry "junk" is corrupt: invalid block type/,
    ],
  ];
  for (const [bad, message] of cases) {
    for (const threads of [1, 2]) {
      const target = await rejects(
        manyThen([bad]),
        message,
        { ...NO_RATIO, threads },
        new SyncMemoryTree(),
      );
      assert.equal(target.nodes.has(bad.name), false, `${bad.name} with ${threads} threads`);
      assert.ok(target.nodes.has("pkg/f39.js"), `${bad.name}: the entries before it are written`);
    }
  }
});
