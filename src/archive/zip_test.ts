import assert from "node:assert/strict";
import { extractZip } from "./zip_extractor.ts";
import { readZipDirectory } from "./zip_reader.ts";
import { zipStream } from "./zip_writer.ts";
import { MemoryTree } from "./memory_tree.ts";
import { BytesReader } from "./random_access_reader.ts";
import { craftZip } from "./crafted_zip.ts";
import { crc32 } from "./_deflate.ts";
import type { CompressionLevel } from "./compression_level.ts";
import zlib from "node:zlib";

async function zipOf(
  tree: MemoryTree,
  paths: string[],
  level: CompressionLevel = "default",
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(zipStream(tree, paths, { level })).arrayBuffer());
}

function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

Deno.test("zip round trip keeps content, modes, mtimes, directories and symlinks", async () => {
  const mtime = new Date("2021-05-06T07:08:10Z");
  const big = pseudoRandom(3 * 1024 * 1024 + 17);
  const src = new MemoryTree()
    .addDir("bin", 0o750, mtime)
    .addFile("bin/run.sh", "#!/bin/sh\necho hi\n", 0o755, mtime)
    .addFile("empty", "", 0o600, mtime)
    .addFile("data/big.bin", big, 0o644, mtime)
    .addFile("data/text.txt", "hello ".repeat(10000), 0o644, mtime)
    .addFile("ünïcode.txt", "utf-8 name")
    .addSymlink("bin/latest", "run.sh");
  const paths = [
    "bin",
    "bin/latest",
    "bin/run.sh",
    "data",
    "data/big.bin",
    "data/text.txt",
    "empty",
    "ünïcode.txt",
  ];
  for (const level of ["fastest", "fast", "default", "slowest"] as const) {
    const bytes = await zipOf(src, paths, level);
    const out = new MemoryTree();
    const result = await extractZip(new BytesReader(bytes), out);
    assert.deepEqual(result, {
      files: 5,
      dirs: 2,
      symlinks: 1,
      bytes: big.length + 18 + 60000 + 10,
    });
    const run = out.nodes.get("bin/run.sh");
    assert.equal(run?.kind, "file");
    assert.equal(run?.kind === "file" && run.mode, 0o755);
    assert.equal(run?.mtime.toISOString(), mtime.toISOString());
    assert.equal(out.text("bin/run.sh"), "#!/bin/sh\necho hi\n");
    const empty = out.nodes.get("empty");
    assert.equal(empty?.kind === "file" && empty.mode, 0o600);
    const bigOut = out.nodes.get("data/big.bin");
    assert.ok(bigOut?.kind === "file" && bigOut.data.length === big.length, level);
    assert.deepEqual(bigOut.data, big);
    assert.equal(out.text("data/text.txt"), "hello ".repeat(10000));
    assert.equal(out.text("ünïcode.txt"), "utf-8 name");
    assert.deepEqual(out.nodes.get("bin/latest"), {
      kind: "symlink",
      target: "run.sh",
      mtime: out.nodes.get("bin/latest")?.mtime,
    });
    const bin = out.nodes.get("bin");
    assert.equal(bin?.kind === "dir" && bin.mode, 0o750);
  }
});

Deno.test("zip writer compresses text and stores what does not compress", async () => {
  const src = new MemoryTree().addFile("text", "abc".repeat(100000)).addFile(
    "noise",
    pseudoRandom(50000),
  );
  const entries = await readZipDirectory(new BytesReader(await zipOf(src, ["noise", "text"])));
  const byName = Object.fromEntries(entries.map((e) => [e.rawName, e]));
  assert.equal(byName["text"]?.method, 8);
  assert.ok((byName["text"]?.compressedSize ?? 0) < 5000);
  assert.equal(byName["noise"]?.method, 0);
  assert.equal(byName["noise"]?.compressedSize, 50000);
});

Deno.test("a file streamed from the source is one deflate stream, not blocks flushed apart", async () => {
  // MemoryTree streams a large file in 64 KiB chunks (no readFileAt).
  const text = new TextEncoder().encode("const value = options.length;\n".repeat(120_000));
  const mixed = pseudoRandom(3 << 20).map((b, i) => (i & 4096 ? b : i % 61));
  const src = new MemoryTree().addFile("big.txt", text).addFile("mixed.bin", mixed)
    .addFile("medium.txt", text.subarray(0, 600_000));
  const dataOf = (zip: Uint8Array, e: { localHeaderOffset: number; compressedSize: number }) => {
    const view = new DataView(zip.buffer, zip.byteOffset + e.localHeaderOffset);
    const start = e.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
    return zip.subarray(start, start + e.compressedSize);
  };
  for (const [level, zlibLevel] of [["fast", 1], ["slowest", 9]] as const) {
    const zip = await zipOf(src, ["big.txt", "medium.txt", "mixed.bin"], level);
    const entries = await readZipDirectory(new BytesReader(zip));
    const byName = Object.fromEntries(entries.map((e) => [e.rawName, dataOf(zip, e)]));
    for (const [name, content] of [["big.txt", text], ["mixed.bin", mixed]] as const) {
      const data = byName[name]!;
      assert.deepEqual(new Uint8Array(zlib.inflateRawSync(data)), content, `${name} at ${level}`);
      // A sync flush ends a block with an empty stored one: 00 00 ff ff.
      const flushes = data.findIndex((b, i) =>
        b === 0 && data[i + 1] === 0 && data[i + 2] === 0xff && data[i + 3] === 0xff
      );
      assert.equal(flushes, -1, `${name} at ${level} has a sync flush at ${flushes}`);
    }
    // A medium file is deflated whole, as zlib's one-shot call does it.
    assert.deepEqual(
      byName["medium.txt"],
      new Uint8Array(zlib.deflateRawSync(text.subarray(0, 600_000), { level: zlibLevel })),
    );
  }
});

Deno.test("zip writer stores everything with level fastest", async () => {
  const src = new MemoryTree().addFile("text", "abc".repeat(100000)).addFile(
    "big",
    "x".repeat(2 << 20),
  );
  const entries = await readZipDirectory(
    new BytesReader(await zipOf(src, ["big", "text"], "fastest")),
  );
  assert.deepEqual(entries.map((e) => e.method), [0, 0]);
});

Deno.test("zip writer skips vanished paths with a warning", async () => {
  const src = new MemoryTree().addFile("here", "x");
  const warnings: string[] = [];
  const stream = zipStream(src, ["gone", "here"], {
    level: "default",
    warn: (m) => warnings.push(m),
  });
  const entries = await readZipDirectory(
    new BytesReader(new Uint8Array(await new Response(stream).arrayBuffer())),
  );
  assert.deepEqual(entries.map((e) => e.rawName), ["here"]);
  assert.deepEqual(warnings, ["gone: no such file or directory"]);
});

Deno.test("zip writer switches to ZIP64 above 65535 entries and the reader follows", async () => {
  const src = new MemoryTree();
  const paths: string[] = [];
  for (let i = 0; i < 65600; i++) {
    const p = `d${i % 100}/f${i}`;
    src.addFile(p, "");
    paths.push(p);
  }
  const bytes = await zipOf(src, paths);
  // The classic end record saturates; the ZIP64 record carries the count.
  const eocd = new DataView(bytes.buffer, bytes.length - 22);
  assert.equal(eocd.getUint16(10, true), 0xffff);
  const entries = await readZipDirectory(new BytesReader(bytes));
  assert.equal(entries.length, 65600);
  assert.equal(entries[65599]?.rawName, "d99/f65599");
});

Deno.test("zip writer keeps every name whole, short or long, ASCII or not, entry after entry", async () => {
  const names = [
    "a",
    `${"d".repeat(300)}/x.txt`,
    `${"ü".repeat(400)}.txt`,
    `${"long/".repeat(400)}end.txt`,
    "b",
    "ünï/cödé.txt",
    `${"é".repeat(100)}/${"z".repeat(200)}`,
    `${"é".repeat(150)}/${"z".repeat(200)}`,
    "c",
  ];
  const src = new MemoryTree();
  names.forEach((name, i) => src.addFile(name, `content ${i} `.repeat(i + 1)));
  for (const level of ["fastest", "fast"] as const) {
    const bytes = await zipOf(src, names, level);
    const entries = await readZipDirectory(new BytesReader(bytes));
    assert.deepEqual(entries.map((e) => e.rawName), names);
    const out = new MemoryTree();
    await extractZip(new BytesReader(bytes), out);
    names.forEach((name, i) => {
      const node = out.nodes.get(name);
      assert.equal(
        new TextDecoder().decode(node?.kind === "file" ? node.data : undefined),
        `content ${i} `.repeat(i + 1),
        name.slice(0, 20),
      );
    });
  }
});

Deno.test("a central directory larger than one read piece is read whole, with or without readInto", async () => {
  // ~1 KB names: records straddle the 256 KiB pieces the directory is read in.
  const src = new MemoryTree();
  const names: string[] = [];
  for (let i = 0; i < 700; i++) {
    const name = `${String(i).padStart(4, "0")}-${"n".repeat(900 + (i % 37))}`;
    src.addFile(name, `${i}`);
    names.push(name);
  }
  const bytes = await zipOf(src, names, "fast");
  const full = new BytesReader(bytes);
  const readOnly = { size: bytes.length, read: full.read.bind(full), close: () => full.close() };
  for (const reader of [full, readOnly]) {
    const entries = await readZipDirectory(reader);
    assert.deepEqual(entries.map((e) => e.rawName), names);
    assert.deepEqual(entries.map((e) => e.size), names.map((_, i) => String(i).length));
  }
  // A damaged record in a later piece is still found.
  const damaged = bytes.slice();
  const last = (await readZipDirectory(full)).length;
  assert.equal(last, 700);
  const eocd = new DataView(damaged.buffer, damaged.length - 22);
  const cdOffset = eocd.getUint32(16, true);
  const cdSize = eocd.getUint32(12, true);
  // The signature of a record in the directory's last quarter.
  const text = new DataView(damaged.buffer);
  let at = cdOffset;
  while (at < cdOffset + (cdSize * 3) / 4) {
    at += 46 + text.getUint16(at + 28, true) + text.getUint16(at + 30, true) +
      text.getUint16(at + 32, true);
  }
  damaged[at] = 0;
  await assert.rejects(
    readZipDirectory(new BytesReader(damaged)),
    /central directory entry \d+ is damaged/,
  );
});

Deno.test("directory entries report CRCs past 2^31 unsigned and mtimes from DOS fields or extended timestamps", async () => {
  // A content whose CRC-32 has its top bit set.
  let content = "";
  for (let i = 0; crc32(new TextEncoder().encode(content)) < 2 ** 31; i++) content = `x${i}`;
  const crafted = await readZipDirectory(
    new BytesReader(craftZip([{ name: "dos.txt", content }, { name: "b.txt", content: "b" }])),
  );
  // craftZip writes only the DOS date: 2024-01-01 00:00:00.
  assert.equal(crafted[0]?.mtime.toISOString(), "2024-01-01T00:00:00.000Z");
  assert.equal(crafted[0]?.crc, crc32(new TextEncoder().encode(content)));
  assert.ok((crafted[0]?.crc ?? 0) >= 2 ** 31);
  assert.equal(crafted[1]?.crc, crc32(new TextEncoder().encode("b")));
  const mtime = new Date("2031-07-08T09:10:11Z");
  const ours = await readZipDirectory(
    new BytesReader(
      await zipOf(new MemoryTree().addFile("t.txt", content, 0o644, mtime), ["t.txt"]),
    ),
  );
  assert.equal(ours[0]?.mtime.toISOString(), mtime.toISOString());
  assert.equal(ours[0]?.crc, crc32(new TextEncoder().encode(content)));
});

Deno.test(".git paths are archived and extracted with the official runner's warning; other paths are not warned about", async () => {
  const src = new MemoryTree().addFile(".git/config", "[core]").addFile(".gitignore", "x");
  const archived: string[] = [];
  const bytes = new Uint8Array(
    await new Response(
      zipStream(src, [".git", ".git/config", ".gitignore"], {
        level: "default",
        warn: (m) => archived.push(m),
      }),
    ).arrayBuffer(),
  );
  const expected = (operation: string) => [
    `Part of .git directory is on the list of files to ${operation}`,
    "This may introduce unexpected problems",
  ];
  assert.deepEqual(archived, expected("archive"));
  const extracted: string[] = [];
  const target = new MemoryTree();
  await extractZip(new BytesReader(bytes), target, { warn: (m) => extracted.push(m) });
  assert.deepEqual(extracted, expected("extract"));
  assert.deepEqual(await target.readFile(".git/config"), new TextEncoder().encode("[core]"));

  const quiet: string[] = [];
  await new Response(
    zipStream(src, [".gitignore"], { level: "default", warn: (m) => quiet.push(m) }),
  )
    .arrayBuffer();
  await extractZip(new BytesReader(await zipOf(src, [".gitignore"])), new MemoryTree(), {
    warn: (m) => quiet.push(m),
  });
  assert.deepEqual(quiet, []);
});
