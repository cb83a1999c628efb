/**
 * Our zip against the real filesystem and Info-ZIP: hostile archives leave
 * nothing outside the target, symlinks on disk are not followed, and our
 * archives and zip(1)'s are interchangeable.
 */
import assert from "node:assert/strict";
import { ArchiveError } from "./archive_error.ts";
import { type CraftedEntry, craftZip } from "./crafted_zip.ts";
import { extractZip } from "./zip_extractor.ts";
import { writeZip, zipStream } from "./zip_writer.ts";
import { fileSink } from "./file_sink.ts";
import { readZipDirectory } from "./zip_reader.ts";
import { LocalArchiveSource } from "./local_archive_source.ts";
import { LocalArchiveTarget } from "./local_archive_target.ts";
import { LocalFileReader } from "./local_file_reader.ts";
import { BytesReader } from "./random_access_reader.ts";
import { MemoryTree } from "./memory_tree.ts";

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for await (const e of Deno.readDir(d)) {
      out.push(`${prefix}${e.name}${e.isSymlink ? "@" : e.isDirectory ? "/" : ""}`);
      if (e.isDirectory && !e.isSymlink) await walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** A sandbox: `outside` holds a canary file; `target` is where archives go. */
async function sandbox(): Promise<{ root: string; target: string; outside: string }> {
  const root = await Deno.makeTempDir({ prefix: "zip-it-" });
  await Deno.mkdir(`${root}/target`);
  await Deno.mkdir(`${root}/outside`);
  await Deno.writeTextFile(`${root}/outside/canary`, "untouched");
  return { root, target: `${root}/target`, outside: `${root}/outside` };
}

const ZEROS_16M = new Uint8Array(16 * 1024 ** 2 - 1);

/** 1 KiB of noise then 1 MiB of zeros: deflates about 500 times, below the entry limit. */
function halfRandom(): Uint8Array {
  const data = new Uint8Array(1024 + (1 << 20));
  crypto.getRandomValues(data.subarray(0, 1024));
  return data;
}

const hostile: [string, CraftedEntry[], RegExp][] = [
  ["../ entry", [{ name: "../outside/canary", content: "pwned" }], /has a "\.\." segment/],
  ["absolute entry", [{ name: "/tmp/zip-it-absolute", content: "pwned" }], /has an absolute path/],
  [
    "symlink out then file through it",
    [{ name: "link", kind: "symlink", content: "../outside" }, {
      name: "link/canary",
      content: "pwned",
    }],
    /Entry "link\/canary" is inside "link", which the archive stores as a symlink/,
  ],
  [
    // "b" leads through "a" out of the target: b/canary would land in outside/.
    "file through a chain of symlinks out",
    [
      { name: "a", kind: "symlink", content: "../outside" },
      { name: "b", kind: "symlink", content: "a" },
      { name: "b/canary", content: "pwned" },
    ],
    /Entry "b\/canary" is inside "b", which the archive stores as a symlink/,
  ],
  [
    "duplicate names",
    [{ name: "a", content: "1" }, { name: "a", content: "2" }],
    /appears more than once/,
  ],
  [
    "ratio bomb",
    [{ name: "bomb", content: new Uint8Array(32 << 20) }],
    /expands \d+ times, more than the limit of 1024/,
  ],
  [
    // 330 KB that used to expand to 320 MiB: each entry was below the old 16 MiB floor.
    "twenty entries of 16 MiB - 1 zeros",
    Array.from({ length: 20 }, (_, i) => ({ name: `z${i}`, content: ZEROS_16M })),
    /Entry "z0" expands 10\d\d times, more than the limit of 1024/,
  ],
  [
    "many entries each below the entry ratio",
    Array.from({ length: 40 }, (_, i) => ({ name: `m${i}`, content: halfRandom() })),
    /Archive of \d+ bytes expands to 4198\d+ bytes \(\d+ times\), more than the limit of 256/,
  ],
  [
    "lying size",
    [{ name: "liar", content: new Uint8Array(2 << 20), size: 100 }],
    /expands past its declared size of 100 bytes/,
  ],
  [
    "CRC mismatch",
    [{ name: "bad", content: "data", crc: 7 }],
    /CRC-32 is [0-9a-f]+, expected 00000007/,
  ],
];

for (const [name, entries, message] of hostile) {
  Deno.test(`hostile archive (${name}) is rejected and nothing lands outside the target`, async () => {
    const { root, target, outside } = await sandbox();
    try {
      const reader = new BytesReader(craftZip(entries));
      await assert.rejects(
        extractZip(reader, await LocalArchiveTarget.open(target)),
        (err: unknown) => {
          assert.ok(err instanceof ArchiveError);
          assert.match(err.message, message);
          return true;
        },
      );
      assert.equal(await Deno.readTextFile(`${outside}/canary`), "untouched");
      assert.deepEqual(await listTree(outside), ["canary"]);
      assert.deepEqual(await listTree(target), []);
      await assert.rejects(Deno.lstat("/tmp/zip-it-absolute"), Deno.errors.NotFound);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("extraction refuses to write through a symlink already on disk", async () => {
  const { root, target, outside } = await sandbox();
  try {
    await Deno.symlink("../outside", `${target}/cache`);
    const reader = new BytesReader(craftZip([{ name: "cache/canary", content: "pwned" }]));
    await assert.rejects(
      extractZip(reader, await LocalArchiveTarget.open(target)),
      /Cannot extract into "cache": it is a symlink in the target directory, which is never followed/,
    );
    assert.equal(await Deno.readTextFile(`${outside}/canary`), "untouched");
    // A symlink at a file's own path is replaced, not written through.
    await Deno.symlink("../outside/canary", `${target}/file`);
    await extractZip(
      new BytesReader(craftZip([{ name: "file", content: "new" }])),
      await LocalArchiveTarget.open(target),
    );
    assert.equal(await Deno.readTextFile(`${outside}/canary`), "untouched");
    assert.equal((await Deno.lstat(`${target}/file`)).isFile, true);
    assert.equal(await Deno.readTextFile(`${target}/file`), "new");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("symlinks leading out of the target are created as links, and nothing is written through them", async () => {
  const { root, target, outside } = await sandbox();
  try {
    await extractZip(
      new BytesReader(craftZip([
        { name: "venv/bin/python", kind: "symlink", content: "/usr/bin/python3" },
        { name: "venv/up", kind: "symlink", content: "../../outside" },
        { name: "venv/canary", kind: "symlink", content: "../../outside/canary" },
        // Lexically "l2" ends at "d"; on disk d/l1 is the root, so d/l1/.. is its parent.
        { name: "d/l1", kind: "symlink", content: ".." },
        { name: "l2", kind: "symlink", content: "d/l1/.." },
      ])),
      await LocalArchiveTarget.open(target),
    );
    assert.equal(await Deno.readLink(`${target}/venv/bin/python`), "/usr/bin/python3");
    assert.equal(await Deno.readLink(`${target}/venv/up`), "../../outside");
    assert.equal(await Deno.readLink(`${target}/l2`), "d/l1/..");
    assert.deepEqual(await listTree(target), [
      "d/",
      "d/l1@",
      "l2@",
      "venv/",
      "venv/bin/",
      "venv/bin/python@",
      "venv/canary@",
      "venv/up@",
    ]);
    // Extracting again onto those links: one at a file's path is replaced,
    // one on the way to a file is refused; outside stays as it was.
    await extractZip(
      new BytesReader(craftZip([{ name: "venv/canary", content: "new" }])),
      await LocalArchiveTarget.open(target),
    );
    assert.equal(await Deno.readTextFile(`${target}/venv/canary`), "new");
    for (const name of ["venv/up/canary", "l2/outside/canary"]) {
      await assert.rejects(
        extractZip(
          new BytesReader(craftZip([{ name, content: "pwned" }])),
          await LocalArchiveTarget.open(target),
        ),
        /it is a symlink in the target directory, which is never followed/,
      );
    }
    assert.equal(await Deno.readTextFile(`${outside}/canary`), "untouched");
    assert.deepEqual(await listTree(outside), ["canary"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function run(cmd: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd[0] as string, {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd.join(" ")} failed: ${text}`);
  return text;
}

Deno.test("our archives pass unzip -t and extract with unzip; zip(1) archives extract with ours", async () => {
  const { root } = await sandbox();
  try {
    const src = `${root}/src`;
    await Deno.mkdir(`${src}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${src}/tree/a.txt`, "alpha\n".repeat(1000));
    await Deno.writeFile(
      `${src}/tree/sub/big.bin`,
      new Uint8Array(3 << 20).map((_, i) => (i * 7) % 256),
    );
    await Deno.writeTextFile(`${src}/tree/sub/run.sh`, "#!/bin/sh\n");
    await Deno.chmod(`${src}/tree/sub/run.sh`, 0o755);
    await Deno.symlink("a.txt", `${src}/tree/link`);
    await Deno.utime(
      `${src}/tree/a.txt`,
      new Date("2020-02-03T04:05:06Z"),
      new Date("2020-02-03T04:05:06Z"),
    );

    const paths = [
      "tree",
      "tree/a.txt",
      "tree/link",
      "tree/sub",
      "tree/sub/big.bin",
      "tree/sub/run.sh",
    ];
    const file = await Deno.open(`${root}/ours.zip`, { write: true, create: true });
    await zipStream(new LocalArchiveSource(src), paths, { level: "default" }).pipeTo(file.writable);
    assert.match(await run(["unzip", "-t", `${root}/ours.zip`], root), /No errors detected/);
    await Deno.mkdir(`${root}/by-unzip`);
    await run(["unzip", "-q", `${root}/ours.zip`, "-d", `${root}/by-unzip`], root);
    await run(["diff", "-r", "--no-dereference", `${src}/tree`, `${root}/by-unzip/tree`], root);

    await run(["zip", "-qry", `${root}/theirs.zip`, "tree"], src);
    await Deno.mkdir(`${root}/by-ours`);
    const reader = await LocalFileReader.open(`${root}/theirs.zip`);
    await extractZip(reader, await LocalArchiveTarget.open(`${root}/by-ours`));
    await reader.close();
    await run(["diff", "-r", "--no-dereference", `${src}/tree`, `${root}/by-ours/tree`], root);
    const info = await Deno.lstat(`${root}/by-ours/tree/sub/run.sh`);
    assert.equal((info.mode ?? 0) & 0o777, 0o755);
    assert.equal((await Deno.lstat(`${root}/by-ours/tree/link`)).isSymlink, true);
    assert.equal(
      (await Deno.stat(`${root}/by-ours/tree/a.txt`)).mtime?.toISOString(),
      "2020-02-03T04:05:06.000Z",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("large local files stream through one deflate state at every level, any size", async () => {
  const { root } = await sandbox();
  try {
    const src = `${root}/src`;
    await Deno.mkdir(`${src}/tree`, { recursive: true });
    // Exactly two read blocks (the last read finds nothing), a block and a bit,
    // and output that fills several pieces (noise barely compresses).
    await Deno.writeFile(`${src}/tree/exact.bin`, new Uint8Array(2 << 20).map((_, i) => i % 13));
    await Deno.writeFile(
      `${src}/tree/odd.bin`,
      new Uint8Array((1 << 20) + 12345).map((_, i) => (i * 7) % 256),
    );
    let seed = 12345;
    const noise = new Uint8Array(65536 * 40).map(() => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    });
    await Deno.writeFile(`${src}/tree/noise.bin`, noise);
    await Deno.writeTextFile(`${src}/tree/small.txt`, "between the large ones\n");
    const paths = ["tree", "tree/exact.bin", "tree/noise.bin", "tree/odd.bin", "tree/small.txt"];
    for (const level of ["fastest", "fast", "slowest"] as const) {
      const zip = `${root}/${level}.zip`;
      const file = await Deno.open(zip, { write: true, create: true });
      await zipStream(new LocalArchiveSource(src), paths, { level }).pipeTo(file.writable);
      assert.match(await run(["unzip", "-t", zip], root), /No errors detected/);
      const out = `${root}/out-${level}`;
      await Deno.mkdir(out);
      await run(["unzip", "-q", zip, "-d", out], root);
      await run(["diff", "-r", `${src}/tree`, `${out}/tree`], root);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeZip into a slow sink: every buffer is written before it is reused, bytes as the stream's", async () => {
  const { root } = await sandbox();
  try {
    const src = `${root}/src`;
    await Deno.mkdir(`${src}/tree/many`, { recursive: true });
    // Enough small files to fill the output buffers many times over, each
    // with its own content, so a buffer overwritten before its write shows.
    const paths = ["tree", "tree/many"];
    for (let i = 0; i < 400; i++) {
      const name = `tree/many/f${String(i).padStart(3, "0")}.txt`;
      await Deno.writeTextFile(`${src}/${name}`, `file ${i}: ${"abcdefghij".repeat(i * 7)}\n`);
      paths.push(name);
    }
    let seed = 99;
    const noise = new Uint8Array(3 << 20).map(() => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    });
    await Deno.writeFile(`${src}/tree/noise.bin`, noise);
    await Deno.writeFile(`${src}/tree/text.bin`, new Uint8Array(3 << 20).map((_, i) => i % 61));
    paths.push("tree/noise.bin", "tree/text.bin");
    const source = new LocalArchiveSource(src);
    for (const level of ["fastest", "fast"] as const) {
      const written: Uint8Array<ArrayBuffer>[] = [];
      let outstanding = 0;
      let writes = 0;
      const warnings: string[] = [];
      const size = await writeZip(source, paths, {
        async write(bytes) {
          assert.equal(outstanding, 0, "one write at a time");
          outstanding++;
          writes++;
          // The sink takes its time, as a disk or a socket does; it reads the
          // bytes only at the end of the write.
          await new Promise((resolve) => setTimeout(resolve, 2));
          written.push(bytes.slice());
          outstanding--;
        },
      }, { level, warn: (m) => warnings.push(m) });
      assert.deepEqual(warnings, []);
      const zip = new Uint8Array(await new Blob(written).arrayBuffer());
      assert.equal(zip.length, size);
      assert.ok(writes > 10, `the archive (${size} bytes) went through ${writes} writes`);
      const streamed = new Uint8Array(
        await new Response(zipStream(source, paths, { level })).arrayBuffer(),
      );
      // Not deepEqual: its report on megabytes of bytes takes minutes.
      assert.equal(zip.length, streamed.length);
      assert.equal(zip.findIndex((b, i) => b !== streamed[i]), -1, "first differing byte");
      const path = `${root}/${level}.zip`;
      await Deno.writeFile(path, zip);
      assert.match(await run(["unzip", "-t", path], root), /No errors detected/);
      const out = `${root}/out-${level}`;
      await Deno.mkdir(out);
      await run(["unzip", "-q", path, "-d", out], root);
      await run(["diff", "-r", `${src}/tree`, `${out}/tree`], root);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeZip rejects with the sink's failure and leaves no write outstanding", async () => {
  const { root } = await sandbox();
  try {
    await Deno.writeFile(`${root}/big.bin`, new Uint8Array(3 << 20).map((_, i) => i % 251));
    let outstanding = 0;
    let writes = 0;
    await assert.rejects(
      writeZip(new LocalArchiveSource(root), ["big.bin"], {
        async write() {
          outstanding++;
          writes++;
          await new Promise((resolve) => setTimeout(resolve, 2));
          outstanding--;
          if (writes === 2) throw new Error("disk full");
        },
      }, { level: "fastest" }),
      /disk full/,
    );
    assert.equal(outstanding, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a local tree is read one entry at a time: while the sink holds a write, nothing past the entry being written was read", async () => {
  const { root } = await sandbox();
  try {
    await Deno.mkdir(`${root}/tree`);
    const paths = ["tree"];
    for (let i = 0; i < 600; i++) {
      const name = `tree/f${String(i).padStart(3, "0")}.bin`;
      // Noise: stored as it is, so each entry's size is known.
      await Deno.writeFile(`${root}/${name}`, crypto.getRandomValues(new Uint8Array(1000)));
      paths.push(name);
    }
    const reads: string[] = [];
    class CountingSource extends LocalArchiveSource {
      override readFileInto(path: string, buffer: Uint8Array): number {
        reads.push(path);
        return super.readFileInto(path, buffer);
      }
    }
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    const written: Uint8Array[] = [];
    let firstWrite = 0;
    let readsWhileHeld = -1;
    const done = writeZip(new CountingSource(root), paths, {
      async write(bytes) {
        written.push(bytes.slice());
        if (written.length === 1) {
          firstWrite = bytes.length;
          await held;
        }
      },
    }, { level: "fast" });
    // Let the writer run as far as it can while the first write is held.
    await new Promise((resolve) => setTimeout(resolve, 50));
    readsWhileHeld = reads.length;
    release();
    await done;
    assert.equal(reads.length, 600);
    const zip = new Uint8Array(await new Blob(written as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    const entries = await readZipDirectory(new BytesReader(zip));
    assert.deepEqual(entries.map((e) => e.rawName), ["tree/", ...paths.slice(1)]);
    // The held write's buffer and the one filling behind it hold what was
    // read: the entries starting in them, and no look-ahead beyond.
    const buffered = entries.filter((e) => e.localHeaderOffset < 2 * firstWrite).length - 1;
    assert.ok(buffered > 0 && buffered < 600, `${buffered} entries fit in the output buffers`);
    assert.ok(
      readsWhileHeld <= buffered,
      `${readsWhileHeld} files read while ${buffered} fit in the output buffers`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local files up to 1 MiB are read into the writer's one buffer, none into an array of its own, and unzip reads them", async () => {
  const { root } = await sandbox();
  try {
    await Deno.mkdir(`${root}/tree`);
    const paths = ["tree"];
    for (const size of [100, 200_000, 700_000, 1 << 20, (1 << 20) + 1]) {
      const name = `tree/f${size}.txt`;
      await Deno.writeFile(
        `${root}/${name}`,
        new Uint8Array(size).map((_, i) => 97 + (i * i) % 23),
      );
      paths.push(name);
    }
    const readInto: number[] = [];
    const readWhole: string[] = [];
    class CountingSource extends LocalArchiveSource {
      override readFileInto(path: string, buffer: Uint8Array): number {
        const length = super.readFileInto(path, buffer);
        readInto.push(length);
        return length;
      }
      override readFile(path: string): Promise<Uint8Array> {
        readWhole.push(path);
        return super.readFile(path);
      }
    }
    const zip = `${root}/out.zip`;
    const file = await Deno.open(zip, { write: true, create: true });
    await zipStream(new CountingSource(root), paths, { level: "fast" }).pipeTo(file.writable);
    assert.deepEqual(readInto, [100, 200_000, 700_000, 1 << 20]);
    assert.deepEqual(readWhole, []);
    assert.match(await run(["unzip", "-t", zip], root), /No errors detected/);
    await Deno.mkdir(`${root}/out`);
    await run(["unzip", "-q", zip, "-d", `${root}/out`], root);
    await run(["diff", "-r", `${root}/tree`, `${root}/out/tree`], root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a local tree with a vanished path: every later entry keeps its own name and data", async () => {
  const { root } = await sandbox();
  try {
    await Deno.mkdir(`${root}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${root}/tree/a.txt`, "a\n".repeat(100));
    await Deno.writeTextFile(`${root}/tree/sub/b.txt`, "b\n");
    await Deno.symlink("a.txt", `${root}/tree/link`);
    const paths = ["tree", "tree/a.txt", "tree/gone", "tree/link", "tree/sub", "tree/sub/b.txt"];
    const warnings: string[] = [];
    const zip = `${root}/out.zip`;
    {
      using file = await Deno.open(zip, { write: true, create: true });
      await writeZip(new LocalArchiveSource(root), paths, fileSink(file), {
        level: "fast",
        warn: (m) => warnings.push(m),
      });
    }
    assert.deepEqual(warnings, ["tree/gone: no such file or directory"]);
    const reader = await LocalFileReader.open(zip);
    const entries = await readZipDirectory(reader);
    await reader.close();
    assert.deepEqual(entries.map((e) => `${e.rawName} ${e.kind} ${e.size}`), [
      "tree/ dir 0",
      "tree/a.txt file 200",
      "tree/link symlink 5",
      "tree/sub/ dir 0",
      "tree/sub/b.txt file 2",
    ]);
    await Deno.mkdir(`${root}/out`);
    await run(["unzip", "-q", zip, "-d", `${root}/out`], root);
    assert.equal(await Deno.readTextFile(`${root}/out/tree/sub/b.txt`), "b\n");
    assert.equal(await Deno.readLink(`${root}/out/tree/link`), "a.txt");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("fileSink writes the whole archive, and a file that refuses writes fails writeZip", async () => {
  const { root } = await sandbox();
  try {
    await Deno.writeFile(`${root}/big.bin`, new Uint8Array(3 << 20).map((_, i) => (i * 13) % 251));
    await Deno.writeTextFile(`${root}/small.txt`, "small\n");
    const zip = `${root}/out.zip`;
    let size = 0;
    {
      using file = await Deno.open(zip, { write: true, create: true });
      size = await writeZip(
        new LocalArchiveSource(root),
        ["big.bin", "small.txt"],
        fileSink(file),
        {
          level: "fast",
        },
      );
    }
    assert.equal((await Deno.stat(zip)).size, size);
    assert.match(await run(["unzip", "-t", zip], root), /No errors detected/);
    using readOnly = await Deno.open(zip, { read: true });
    await assert.rejects(
      writeZip(new LocalArchiveSource(root), ["small.txt"], fileSink(readOnly), { level: "fast" }),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A zip of directories with these modes (and a file in each), written to `path`. */
async function dirsZip(path: string, modes: Record<string, number>): Promise<Date> {
  const mtime = new Date("2021-05-06T07:08:10Z");
  const tree = new MemoryTree();
  for (const [dir, mode] of Object.entries(modes)) {
    tree.addDir(dir, mode, mtime).addFile(`${dir}/f.txt`, dir, 0o644, mtime);
  }
  const paths = Object.keys(modes).flatMap((d) => [d, `${d}/f.txt`]).sort();
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await writeZip(tree, paths, fileSink(file), { level: "fast" });
  } finally {
    file.close();
  }
  return mtime;
}

Deno.test("extracted directories get the archive's mode (owner-writable) and mtime, new or already there", async () => {
  const { root, target } = await sandbox();
  try {
    const mtime = await dirsZip(`${root}/dirs.zip`, {
      "usual": 0o755,
      "group": 0o750,
      "readonly": 0o555,
      "there": 0o755,
      "there/deeper": 0o700,
    });
    // Already on disk with other modes: the archive's win.
    await Deno.mkdir(`${target}/there`, { mode: 0o700 });
    await Deno.chmod(`${target}/there`, 0o700);
    const reader = await LocalFileReader.open(`${root}/dirs.zip`);
    try {
      await extractZip(reader, await LocalArchiveTarget.open(target));
    } finally {
      await reader.close();
    }
    const want: Record<string, number> = {
      "usual": 0o755,
      "group": 0o750,
      "readonly": 0o755,
      "there": 0o755,
      "there/deeper": 0o700,
    };
    for (const [dir, mode] of Object.entries(want)) {
      const info = await Deno.lstat(`${target}/${dir}`);
      assert.equal((info.mode ?? 0) & 0o777, mode, `mode of ${dir}`);
      assert.equal(info.mtime?.toISOString(), mtime.toISOString(), `mtime of ${dir}`);
      assert.equal(await Deno.readTextFile(`${target}/${dir}/f.txt`), dir);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const hasStrace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "a directory the extraction makes with the usual mode gets only its mtime set (no lstat, no chmod)",
  ignore: !hasStrace,
  fn: async () => {
    const { root, target } = await sandbox();
    try {
      await dirsZip(`${root}/dirs.zip`, { "usual": 0o755, "group": 0o750 });
      const script = await writeExtractScript(root);
      const log = `${root}/strace.log`;
      await run([
        "strace",
        "-f",
        "-q",
        "-e",
        "trace=mkdir,mkdirat,chmod,fchmodat,utimensat,statx,newfstatat,lstat",
        "-o",
        log,
        "--",
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-read",
        "--allow-write",
        "--allow-sys",
        script,
        `${root}/dirs.zip`,
        target,
      ], root);
      const lines = (await Deno.readTextFile(log)).split("\n");
      const calls = (dir: string) =>
        lines
          .filter((l) => l.includes(`"${target}/${dir}"`))
          .map((l) => /^\d+\s+(\w+)\(/.exec(l)?.[1] ?? l);
      // mkdir, then utimensat from finishDir: nothing in between (with the
      // usual umask 022, under which mkdir already gives 0755).
      assert.deepEqual(
        calls("usual"),
        (0o777 & ~Deno.umask()) === 0o755
          ? ["mkdir", "utimensat"]
          : ["mkdir", "chmod", "utimensat"],
      );
      // Another mode still gets its chmod.
      assert.deepEqual(calls("group"), ["mkdir", "chmod", "utimensat"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** Writes `<root>/extract.ts`: extracts the zip named by its first argument into its second. */
async function writeExtractScript(root: string): Promise<string> {
  const script = `${root}/extract.ts`;
  await Deno.writeTextFile(
    script,
    `import { extractZip, LocalArchiveTarget } from ${
      JSON.stringify(new URL("./mod.ts", import.meta.url).href)
    };
import { LocalFileReader } from ${
      JSON.stringify(new URL("./local_file_reader.ts", import.meta.url).href)
    };
const reader = await LocalFileReader.open(Deno.args[0]);
await extractZip(reader, await LocalArchiveTarget.open(Deno.args[1]));
await reader.close();
`,
  );
  return script;
}

/**
 * Extracts `zip` into `target` in a process whose fs grants are scoped to
 * `root`, as an executor process's are (Deno then refuses it Deno.symlink),
 * with `env` for ln or perl; `strace` lists the programs it starts.
 */
async function extractScoped(
  root: string,
  zip: string,
  target: string,
  options: { env?: Record<string, string>; straceLog?: string; run?: string } = {},
): Promise<void> {
  const script = await writeExtractScript(root);
  const deno = [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    `--allow-read=${root}`,
    `--allow-write=${root}`,
    options.run === undefined ? "--allow-run" : `--allow-run=${options.run}`,
    "--allow-sys",
    script,
    zip,
    target,
  ];
  const cmd = options.straceLog === undefined
    ? deno
    : ["strace", "-f", "-q", "-e", "trace=execve", "-o", options.straceLog, "--", ...deno];
  const out = await new Deno.Command(cmd[0] as string, {
    args: cmd.slice(1),
    cwd: root,
    env: options.env ?? {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

const LINKS = craftZip([
  { name: "pkg/bin/tool", content: "tool" },
  { name: "pkg/old", content: "a file the link replaces" },
  ...Array.from({ length: 40 }, (_, i) => ({
    name: `.bin/t${i}`,
    kind: "symlink" as const,
    content: "../pkg/bin/tool",
  })),
]);

async function assertLinks(target: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    assert.equal(await Deno.readLink(`${target}/.bin/t${i}`), "../pkg/bin/tool");
    assert.equal(await Deno.readTextFile(`${target}/.bin/t${i}`), "tool");
  }
}

const hasPerl = await new Deno.Command("perl", { args: ["-v"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "a process with scoped fs grants creates an archive's symlinks in one perl process, not one process per link",
  ignore: !hasStrace || !hasPerl,
  fn: async () => {
    const { root, target } = await sandbox();
    try {
      await Deno.writeFile(`${root}/links.zip`, LINKS);
      const log = `${root}/strace.log`;
      await extractScoped(root, `${root}/links.zip`, target, {
        // The runner's environment must not reach into the perl it runs.
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PERL5OPT: "-MNo::Such::Module" },
        straceLog: log,
      });
      await assertLinks(target);
      const started = (await Deno.readTextFile(log)).split("\n")
        .filter((l) => /execve\(/.test(l) && / = 0$/.test(l))
        .map((l) => /execve\("([^"]+)"/.exec(l)?.[1]?.split("/").pop());
      // deno itself, then one program for all 40 links.
      assert.deepEqual(started.slice(1), ["perl"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("without perl, a process with scoped fs grants creates an archive's symlinks with ln and replaces what is there", async () => {
  const { root, target } = await sandbox();
  try {
    await Deno.writeFile(`${root}/links.zip`, LINKS);
    // A PATH with ln and nothing else.
    await Deno.mkdir(`${root}/bin`);
    const ln = (await new Deno.Command("sh", { args: ["-c", "command -v ln"], stdout: "piped" })
      .output()).stdout;
    await Deno.symlink(new TextDecoder().decode(ln).trim(), `${root}/bin/ln`);
    await Deno.mkdir(`${target}/.bin`);
    await Deno.writeTextFile(`${target}/.bin/t0`, "a file the link replaces");
    await Deno.symlink("elsewhere", `${target}/.bin/t1`);
    await extractScoped(root, `${root}/links.zip`, target, { env: { PATH: `${root}/bin` } });
    await assertLinks(target);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a process that may run ln but not perl (a custom runner's executor process) creates an archive's symlinks with ln", async () => {
  const { root, target } = await sandbox();
  try {
    await Deno.writeFile(`${root}/links.zip`, LINKS);
    await extractScoped(root, `${root}/links.zip`, target, {
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      run: "ln",
    });
    await assertLinks(target);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
