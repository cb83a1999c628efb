/**
 * Archiving and extracting over the local disk use only synchronous I/O: the
 * rest of the process (a job's cancel read from stdin, its timeout, log
 * flushes) must still run while they work, and an abort must stop them soon.
 */
import assert from "node:assert/strict";
import { extractZip } from "./zip_extractor.ts";
import { writeZip } from "./zip_writer.ts";
import { fileSink } from "./file_sink.ts";
import { LocalArchiveSource } from "./local_archive_source.ts";
import { LocalArchiveTarget } from "./local_archive_target.ts";
import { LocalFileReader } from "./local_file_reader.ts";

/**
 * Many small text files and two 8 MiB ones: a few hundred ms of archiving and
 * of extracting here (half as many files took 150-199 ms on a faster machine,
 * too short for the test to tell).
 */
async function bigTree(root: string): Promise<string[]> {
  const paths = ["tree"];
  for (let d = 0; d < 160; d++) {
    const dir = `tree/d${d}`;
    await Deno.mkdir(`${root}/${dir}`, { recursive: true });
    paths.push(dir);
    for (let f = 0; f < 50; f++) {
      const name = `${dir}/f${f}.js`;
      await Deno.writeTextFile(
        `${root}/${name}`,
        `export function f${f}(x) { return x * ${d} + ${f}; }\n`.repeat(50 + f * 5),
      );
      paths.push(name);
    }
  }
  let seed = 7;
  for (const name of ["tree/a.bin", "tree/b.bin"]) {
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i += 2) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      data[i] = seed >>> 24;
    }
    await Deno.writeFile(`${root}/${name}`, data);
    paths.push(name);
  }
  return paths.sort();
}

/** The longest time a 5 ms interval went without running while `work` ran, and how long that took. */
async function longestStall(work: () => Promise<unknown>): Promise<{ stall: number; ms: number }> {
  let last = performance.now();
  const start = last;
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  try {
    await work();
    const end = performance.now();
    return { stall: Math.max(stall, end - last), ms: end - start };
  } finally {
    clearInterval(timer);
  }
}

/** Longest a turn of the event loop may wait for the archive or the extraction here. */
const STALL_BOUND_MS = 250;

/** How long `work` takes to settle once `abort` runs 20 ms in, and what it settled with. */
async function afterAbort(
  work: (signal: AbortSignal) => Promise<unknown>,
): Promise<{ outcome: unknown; ms: number }> {
  const controller = new AbortController();
  let abortedAt = 0;
  const timer = setTimeout(() => {
    abortedAt = performance.now();
    controller.abort(new DOMException("job canceled", "AbortError"));
  }, 20);
  try {
    const outcome = await work(controller.signal).then(() => "finished", (err) => err);
    return { outcome, ms: abortedAt === 0 ? Infinity : performance.now() - abortedAt };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a long local archive and its extraction let timers run, and an abort stops each within a turn", async () => {
  const root = await Deno.makeTempDir({ prefix: "zip-turns-" });
  try {
    const paths = await bigTree(root);
    const source = new LocalArchiveSource(root);
    const zip = `${root}/out.zip`;
    const archive = async (signal?: AbortSignal) => {
      // An aborted archive goes elsewhere: the extraction reads the whole one.
      const path = signal ? `${root}/aborted.zip` : zip;
      using file = await Deno.open(path, { write: true, create: true, truncate: true });
      await writeZip(source, paths, fileSink(file), { level: "fast", ...signal && { signal } });
    };
    let n = 0;
    const extract = async (signal?: AbortSignal) => {
      const out = `${root}/x${n++}`;
      await Deno.mkdir(out);
      const reader = await LocalFileReader.open(zip);
      try {
        await extractZip(reader, await LocalArchiveTarget.open(out), signal ? { signal } : {});
      } finally {
        await reader.close();
      }
    };
    for (const [name, work] of [["archive", archive], ["extract", extract]] as const) {
      const whole = await longestStall(() => work());
      assert.ok(whole.ms >= 200, `the ${name} took ${whole.ms.toFixed(0)} ms: too short to tell`);
      // Turns come every 50 ms of work; the bound leaves room for a loaded machine (CI ran
      // 50 ms of work in 151 ms of wall time beside other tests). Half the whole run still
      // fails a run that never lets timers in.
      assert.ok(
        whole.stall <= Math.min(STALL_BOUND_MS, whole.ms / 2),
        `timers waited ${whole.stall.toFixed(0)} ms during a ${whole.ms.toFixed(0)} ms ${name}`,
      );
      const aborted = await afterAbort((signal) => work(signal));
      assert.ok(
        aborted.outcome instanceof DOMException && aborted.outcome.message === "job canceled",
        `the ${name} ended with ${aborted.outcome}`,
      );
      assert.ok(
        aborted.ms <= Math.min(STALL_BOUND_MS, whole.ms / 2),
        `the ${name} stopped ${aborted.ms.toFixed(0)} ms after the abort (whole: ${
          whole.ms.toFixed(0)
        } ms)`,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
