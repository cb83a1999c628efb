/**
 * FF_USE_FASTZIP's archives (writeZip with `concurrency` above 1) against the
 * real filesystem and Info-ZIP: the same entries as one thread makes, in the
 * same order, readable by unzip; large files in independent blocks; and
 * extraction with threads writes the same tree.
 */
import assert from "node:assert/strict";
import { writeZip } from "./zip_writer.ts";
import { firstBlockSize } from "./crafted_zip.ts";
import { fileSink } from "./file_sink.ts";
import { readZipDirectory, type ZipEntry } from "./zip_reader.ts";
import { LocalArchiveSource } from "./local_archive_source.ts";
import { BytesReader, type RandomAccessReader } from "./random_access_reader.ts";
import type { CompressionLevel } from "./compression_level.ts";
import { extractZip } from "./zip_extractor.ts";
import { LocalArchiveTarget } from "./local_archive_target.ts";
import { LocalFileReader } from "./local_file_reader.ts";

const MiB = 1 << 20;

async function run(cmd: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd[0] as string, {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd.join(" ")} failed: ${text}`);
  return text;
}

function noise(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map(() => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  });
}

const text = (length: number, word: string) =>
  new TextEncoder().encode(`${word} = require("${word}");\n`.repeat(length).slice(0, length));

/**
 * A node_modules-like tree of ~2.5 MB of small files (so several units and a
 * Worker), incompressible and empty ones, symlinks, and large files at and
 * around the block size. Returns the paths to archive, one of them missing.
 */
async function makeTree(root: string): Promise<string[]> {
  const paths = ["tree"];
  await Deno.mkdir(`${root}/tree`);
  for (let p = 0; p < 40; p++) {
    const dir = `tree/pkg${String(p).padStart(2, "0")}`;
    await Deno.mkdir(`${root}/${dir}`);
    paths.push(dir);
    for (let f = 0; f < 15; f++) {
      const name = `${dir}/f${String(f).padStart(2, "0")}.js`;
      const data = f === 3 ? noise(9000 + p, p) : f === 4 ? new Uint8Array(0) : text(
        2000 + 300 * f + p,
        `m${p}_${f}`,
      );
      await Deno.writeFile(`${root}/${name}`, data);
      paths.push(name);
    }
    if (p % 10 === 0) {
      await Deno.symlink("f00.js", `${root}/${dir}/link`);
      paths.push(`${dir}/link`);
    }
    if (p === 17) paths.push(`${dir}/gone`);
  }
  const large: [string, Uint8Array][] = [
    ["tree/exact.bin", text(2 * MiB, "exact")],
    ["tree/odd.bin", text(MiB + 12345, "odd")],
    ["tree/noise.bin", noise(3 * MiB + 77, 7)],
    ["tree/one.bin", text(MiB, "one")],
  ];
  for (const [name, data] of large) {
    await Deno.writeFile(`${root}/${name}`, data);
    paths.push(name);
  }
  paths.push("tree/zz.txt");
  await Deno.writeTextFile(`${root}/tree/zz.txt`, "after the large ones\n");
  return paths;
}

async function archive(
  root: string,
  paths: string[],
  concurrency: number,
  level: CompressionLevel,
): Promise<{ bytes: Uint8Array; entries: ZipEntry[]; warnings: string[]; file: string }> {
  const file = `${root}/out-${concurrency}-${level}.zip`;
  const warnings: string[] = [];
  {
    using out = await Deno.open(file, { write: true, create: true });
    await writeZip(new LocalArchiveSource(root), paths, fileSink(out), {
      level,
      concurrency,
      warn: (m) => warnings.push(m),
    });
  }
  const bytes = await Deno.readFile(file);
  return { bytes, entries: await readZipDirectory(new BytesReader(bytes)), warnings, file };
}

const describeEntry = (e: ZipEntry) => `${e.rawName} ${e.kind} ${e.mode} ${e.size} ${e.crc}`;

Deno.test("with threads, an archive has the entries one thread gives, in the same order, and unzip reads it", async () => {
  const root = await Deno.makeTempDir({ prefix: "zip-threads-" });
  try {
    const paths = await makeTree(root);
    for (const level of ["fast", "slowest"] as const) {
      const one = await archive(root, paths, 1, level);
      const two = await archive(root, paths, 2, level);
      assert.deepEqual(two.entries.map(describeEntry), one.entries.map(describeEntry), level);
      assert.deepEqual(two.warnings, ["tree/pkg17/gone: no such file or directory"]);
      assert.deepEqual(two.warnings, one.warnings);
      assert.match(await run(["unzip", "-t", two.file], root), /No errors detected/);
      const out = `${root}/unzipped-${level}`;
      await Deno.mkdir(out);
      await run(["unzip", "-q", two.file, "-d", out], root);
      await run(["diff", "-r", "--no-dereference", `${root}/tree`, `${out}/tree`], root);
      // Within a few percent of one thread's size (blocks share no history).
      assert.ok(
        two.bytes.length < one.bytes.length * 1.05,
        `${two.bytes.length} vs ${one.bytes.length}`,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("with threads, a file over 256 KiB is deflated in independent 256 KiB blocks; one thread makes one stream", async () => {
  const root = await Deno.makeTempDir({ prefix: "zip-threads-" });
  try {
    const paths = await makeTree(root);
    const two = await archive(root, paths, 2, "fast");
    // 1 MiB fitted one unit whole before units were cut to 256 KiB.
    for (const name of ["tree/exact.bin", "tree/one.bin"]) {
      assert.equal(firstBlockSize(two.bytes, name), MiB / 4, name);
    }
    const one = await archive(root, paths, 1, "fast");
    assert.notEqual(firstBlockSize(one.bytes, "tree/exact.bin"), MiB / 4);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Units of work Workers answered while `work` ran. Counted on this test
 * module's own `Worker` (each module has its own globals), not from the
 * process's threads: `deno test --parallel` runs other modules, and their
 * Workers, as threads of this same process. `work` gets `workerUp`: null
 * until a Worker was made, then a promise of its first message (ready) or
 * error.
 */
async function workerAnswers(
  work: (workerUp: () => Promise<void> | null) => Promise<unknown>,
): Promise<number> {
  const Plain = globalThis.Worker;
  let answers = 0;
  let up: Promise<void> | null = null;
  globalThis.Worker = class extends Plain {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      let resolve!: () => void;
      up ??= new Promise<void>((ok) => resolve = ok);
      this.addEventListener("message", (e) => {
        resolve?.();
        if (e.data !== "ready") answers++;
      });
      this.addEventListener("error", () => resolve?.());
    }
  };
  try {
    await work(() => up);
  } finally {
    globalThis.Worker = Plain;
  }
  return answers;
}

/**
 * `reader`, whose reads wait for `gate()` when it gives a promise: with the
 * archive's reads held until its Worker is up, this thread cannot inflate
 * every unit itself first (the pool does what no Worker takes yet here),
 * which it did in a CI run where starting the Worker took longer than the
 * whole extraction.
 */
function gatedReader(
  reader: RandomAccessReader,
  gate: () => Promise<void> | null,
): RandomAccessReader {
  return {
    get size() {
      return reader.size;
    },
    read: async (offset, length) => {
      await gate();
      return await reader.read(offset, length);
    },
    readInto: async (offset, into) => {
      await gate();
      await reader.readInto!(offset, into);
    },
    close: () => reader.close(),
  };
}

Deno.test({
  name: "with threads, extraction inflates on Workers and writes the tree one thread writes",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "zip-threads-" });
    try {
      const paths = await makeTree(root);
      const { file } = await archive(root, paths, 1, "fast");
      const answers: Record<number, number> = {};
      for (const threads of [1, 2]) {
        const out = `${root}/x${threads}`;
        await Deno.mkdir(out);
        const target = await LocalArchiveTarget.open(out);
        const reader = await LocalFileReader.open(file);
        try {
          answers[threads] = await workerAnswers((workerUp) =>
            extractZip(gatedReader(reader, workerUp), target, { threads })
          );
        } finally {
          await reader.close();
        }
        await run(["diff", "-r", "--no-dereference", `${root}/tree`, `${out}/tree`], root);
      }
      assert.equal(answers[1], 0);
      assert.ok(
        (answers[2] as number) > 0,
        `units answered by Workers: ${JSON.stringify(answers)}`,
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
