/**
 * Archive benchmark: builds a node_modules-like tree (20k files, ~150 MB:
 * many small compressible files plus a few large binary-ish ones) in a temp
 * dir, then times Info-ZIP `zip -qr -1` / `unzip -q` against our zip writer
 * (level "fast" = deflate 1, the same level) and extractor on it, run as a
 * job runs them (below). Prints median times, ratios (ours / baseline; goal
 * <= 1.0), peak RSS, and our archive's parts (file selection, zip).
 *
 *   deno run --allow-all scripts/bench/archive.ts [--files 20000] [--runs 3] [--quick]
 *     [--level fast] [--threads N] [--v8-flags FLAGS] [--tree DIR]
 *
 * Needs Info-ZIP's zip and unzip and GNU time (/usr/bin/time); without them
 * it skips, saying which and how to get them.
 * `--tree DIR` keeps the generated tree in DIR for the next run (DIR must be
 * new, empty or made by this bench: its files are replaced).
 * `--level` is our archive's compression level (fastest, fast, default, slow,
 * slowest); the baseline stays `zip -1`, the level "fast" matches.
 * `--threads N` (default: the CPUs; 1 skips it) also times our archive and
 * extraction as a job with FF_USE_FASTZIP and FASTZIP_ARCHIVER_CONCURRENCY /
 * FASTZIP_EXTRACTOR_CONCURRENCY=N makes them: N threads (de)compress, each
 * past the first a Worker of ~17 MiB before any work (src/archive/_deflate_pool.ts),
 * so their peak RSS is above the 64 MiB goal of the default, one-thread ones.
 * `--quick` measures the same tree once each, extractions twice each
 * (unzip, ours, ours, unzip). Goals: ratios <= 1.0, peak RSS <= 64 MiB.
 * `BENCH_MEMORY=1` in the environment also prints each of our runs' memory
 * (Deno.memoryUsage() every 250 ms and at the end).
 *
 * Ours runs as a job runs it, in a shell runner's layout (the tree in
 * builds_dir, archives in cache_dir): the archive is the archive_cache
 * stage's saveCache into the local cache store (the job's file selection of
 * `paths: [tree]`, then the zip into a temp file renamed to cache.zip), shown
 * in its two parts; the extraction reads zip(1)'s archive from cache_dir into
 * builds_dir, as restore_cache does. Its process has the permission row of a
 * shell runner's executor process (Deno checks every path-taking call
 * against it; `--allow-all` skips that cost) and the V8 flags an executor
 * process started from source gets (EXECUTOR_V8_FLAGS); a compiled binary's
 * executor processes have the runner's (RUNNER_V8_FLAGS, which the report's
 * first line prints: pass its list as `--v8-flags=...` to measure those);
 * `--v8-flags ''` for V8's defaults, `--v8-flags=--a,--b` for others.
 *
 * Each measurement runs in its own process, under /usr/bin/time for its peak
 * RSS and CPU (user + kernel, the kernel part shown apart) as for the
 * baseline; our times start once the child's modules are loaded (a job's
 * executor process is already running). On an ext4 without a journal (this
 * machine's) the inode allocator skips, one by one, inodes freed less than
 * 60 s ago (recently_deleted(), RECENTCY_MIN in fs/ext4/ialloc.c; 360 s
 * while their inode table block is not written back yet): while anything on
 * the machine removes many files, creating 20k costs 2-6 s of kernel time
 * instead of 0.3-0.5 s, for unzip as for ours. This bench's own cleanup
 * removes ~80k files, so a run started within a minute of another's end
 * (the loaded run right after the quiet suite) pays for them. An extraction
 * with seconds of kernel time measured the disk's state more than the
 * extractor: the report says so when the two sides' kernel times differ
 * that much; compare runs whose kernel times are alike.
 */
import { parseArgs } from "node:util";
import {
  COMPRESSION_LEVELS,
  type CompressionLevel,
  extractZip,
  LocalArchiveTarget,
  LocalFileReader,
} from "../../src/archive/mod.ts";
import { LocalCacheStore } from "../../src/cache/local_cache_store.ts";
import { saveCacheAsJob } from "./_cache_save_as_job.ts";
import { missingToolsReason } from "./_baseline_tools.ts";
import { EXECUTOR_V8_FLAGS, RUNNER_V8_FLAGS } from "../../src/poller/v8_flags.ts";
import { executorPermissionFlags, shellRunner } from "./_shell_executor_process.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "20000" },
    runs: { type: "string" },
    child: { type: "string" },
    level: { type: "string", default: "fast" },
    threads: { type: "string" },
    dir: { type: "string" },
    zip: { type: "string" },
    store: { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean", default: false },
    "v8-flags": { type: "string" },
    /** Keep the generated tree here and reuse it on the next run (a new or empty dir). */
    tree: { type: "string" },
  },
});

if (!(COMPRESSION_LEVELS as readonly string[]).includes(args.values.level)) {
  throw new TypeError(
    `--level must be one of ${COMPRESSION_LEVELS.join(", ")}: got "${args.values.level}"`,
  );
}
if (args.values.child) {
  await child(args.values.child);
  Deno.exit(0);
}

const v8Flags = args.values["v8-flags"] === undefined
  ? [...EXECUTOR_V8_FLAGS]
  : args.values["v8-flags"] === ""
  ? []
  : [`--v8-flags=${args.values["v8-flags"]}`];
const fileCount = Number(args.values.files);
if (!Number.isInteger(fileCount) || fileCount < 1) {
  throw new TypeError(`--files must be a positive integer: got "${args.values.files}"`);
}
const threads = Number(args.values.threads ?? navigator.hardwareConcurrency);
if (!Number.isInteger(threads) || threads < 1) {
  throw new TypeError(`--threads must be a positive integer: got "${args.values.threads}"`);
}
args.values.runs ??= args.values.quick ? "1" : "3";
const runs = Number(args.values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${args.values.runs}"`);
}
const missing = await missingToolsReason(["zip", "unzip", "/usr/bin/time"]);
if (missing) {
  log(`Skipping archive benchmark: ${missing}`);
  Deno.exit(0);
}
if (args.values.tree !== undefined) await refuseForeignTree(args.values.tree);
const work = await Deno.makeTempDir({ prefix: "archive-bench-" });
try {
  const kept = args.values.tree;
  /** builds_dir: zip(1) runs here on `tree`, so both archives hold the same names. */
  const treeParent = kept ?? `${work}/builds`;
  const tree = `${treeParent}/tree`;
  /** cache_dir: both archives are written here, and extracted from here. */
  const caches = `${work}/cache`;
  await Deno.mkdir(caches);
  await Deno.mkdir(`${work}/tmp`);
  const permissions = executorPermissionFlags(shellRunner(treeParent, caches), work);
  const store = `${caches}/project`;
  const ourZip = `${store}/bench/cache.zip`;
  const threadedStore = `${caches}/project-threads`;
  const threadedName = `ours archive (${args.values.level}, ${threads} threads)`;
  const zipZip = `${caches}/zip.zip`;
  log(
    `ours runs as: deno run ${[...v8Flags, ...permissions].join(" ")} (${
      args.values["v8-flags"] === undefined
        ? "the V8 flags of an executor process from source; a compiled binary's are " +
          RUNNER_V8_FLAGS.join(" ")
        : "--v8-flags"
    }; the permissions of a shell runner's executor process)`,
  );
  const t0 = performance.now();
  const { files, bytes } = kept === undefined
    ? await generateTree(tree, fileCount)
    : await reuseTree(kept, fileCount);
  log(
    `tree: ${files} files, ${(bytes / 1e6).toFixed(1)} MB in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s (${tree})`,
  );

  const results: Record<
    string,
    { ms: number[]; rssKb: number[]; cpuMs: number[]; sysMs: number[]; size?: number }
  > = {};
  /** Our archive's parts: the job's file selection, then the zip into the cache store. */
  const archiveParts: { select: number[]; archive: number[] } = { select: [], archive: [] };
  const record = (
    name: string,
    r0: { ms: number; rssKb: number; cpuMs: number; sysMs: number },
    size?: number,
  ) => {
    const r = results[name] ??= { ms: [], rssKb: [], cpuMs: [], sysMs: [] };
    r.ms.push(r0.ms);
    r.rssKb.push(r0.rssKb);
    r.cpuMs.push(r0.cpuMs);
    r.sysMs.push(r0.sysMs);
    if (size !== undefined) r.size = size;
  };

  for (let run = 0; run < runs; run++) {
    // Alternate who goes first so page-cache warmth does not favour one side.
    const sides = threads > 1 ? ["zip", "ours", "threads"] : ["zip", "ours"];
    const order = run % 2 === 0 ? sides : sides.toReversed();
    for (const who of order) {
      if (who === "zip") {
        await Deno.remove(zipZip).catch(() => {});
        const r = await timed(["zip", "-qr", "-1", zipZip, "tree"], treeParent);
        record("zip -r -1", r, (await Deno.stat(zipZip)).size);
      } else if (who === "ours") {
        // A cache already there and newer than the tree would be kept as it is.
        await Deno.remove(store, { recursive: true }).catch(() => {});
        const r = await ours(
          "archive",
          { dir: tree, store, level: args.values.level },
          permissions,
        );
        archiveParts.select.push(r.selectMs ?? NaN);
        archiveParts.archive.push(r.ms - (r.selectMs ?? NaN));
        record(`ours archive (${args.values.level})`, r, (await Deno.stat(ourZip)).size);
      } else {
        await Deno.remove(threadedStore, { recursive: true }).catch(() => {});
        const r = await ours(
          "archive",
          { dir: tree, store: threadedStore, level: args.values.level, threads: String(threads) },
          permissions,
        );
        record(threadedName, r, (await Deno.stat(`${threadedStore}/bench/cache.zip`)).size);
      }
    }
    // --quick extracts twice each, unzip, ours, (threads, threads,) ours,
    // unzip: no side always goes first (into a fresher disk) or last (after
    // more removals).
    const extractors = threads > 1 ? ["unzip", "ours", "threads"] : ["unzip", "ours"];
    const extractOrder = args.values.quick
      ? [...extractors, ...extractors.toReversed()]
      : run % 2 === 0
      ? extractors
      : extractors.toReversed();
    for (const [index, who] of extractOrder.entries()) {
      // Into builds_dir, as a job's restore_cache does; a new directory each
      // time, all removed at the end: on an ext4 without a journal (this
      // machine's) each file created within 60 s of a removal skips the
      // inodes it freed (the kernel's recently_deleted()), which cost
      // seconds per extraction and was charged to whichever side came next.
      const out = `${treeParent}/x-${who}-${run}-${index}`;
      await Deno.mkdir(out);
      if (who === "unzip") {
        // Same input for both: the archive zip(1) made.
        const r = await timed(["unzip", "-q", zipZip, "-d", out], work);
        record("unzip", r);
      } else if (who === "ours") {
        const r = await ours("extract", { zip: zipZip, out }, permissions);
        record("ours extract", r);
      } else {
        const r = await ours(
          "extract",
          { zip: zipZip, out, threads: String(threads) },
          permissions,
        );
        record(`ours extract (${threads} threads)`, r);
      }
    }
  }
  // Our own archives must extract to the same tree.
  const zips = threads > 1 ? [ourZip, `${threadedStore}/bench/cache.zip`] : [ourZip];
  for (const [index, zip] of zips.entries()) {
    const check = `${treeParent}/x-check-${index}`;
    await Deno.mkdir(check);
    await ours("extract", { zip, out: check }, permissions);
    const diff = await new Deno.Command("diff", {
      args: ["-r", "--no-dereference", tree, `${check}/tree`],
    })
      .output();
    log(
      `round trip of our archive${index === 0 ? "" : ` on ${threads} threads`}: ${
        diff.success ? "identical" : "DIFFERS"
      }`,
    );
  }

  const median = (xs: number[]) =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const line = (name: string) => {
    const r = results[name];
    if (!r) return "";
    const size = r.size ? `  size ${(r.size / 1e6).toFixed(1)} MB` : "";
    return `${name.padEnd(31)} ${median(r.ms).toFixed(0).padStart(6)} ms  CPU ${
      median(r.cpuMs).toFixed(0).padStart(6)
    } ms (kernel ${median(r.sysMs).toFixed(0).padStart(5)} ms)  peak RSS ${
      (Math.max(...r.rssKb) / 1024).toFixed(0).padStart(4)
    } MiB${size}`;
  };
  log("");
  for (const name of Object.keys(results)) log(line(name));
  log(
    `ours archive in parts: file selection ${median(archiveParts.select).toFixed(0)} ms, ` +
      `zip into the cache store ${median(archiveParts.archive).toFixed(0)} ms`,
  );
  const ratio = (a: string, b: string) => {
    const ra = results[a];
    const rb = results[b];
    return ra && rb ? (median(ra.ms) / median(rb.ms)).toFixed(2) : "n/a";
  };
  log("");
  log(
    `archive ratio ours/zip:   ${
      ratio(`ours archive (${args.values.level})`, "zip -r -1")
    }  (goal <= 1.00)`,
  );
  if (threads > 1) {
    log(
      `archive ratio ours/zip, FF_USE_FASTZIP on ${threads} threads: ${
        ratio(threadedName, "zip -r -1")
      }  (peak RSS ${
        (Math.max(...(results[threadedName]?.rssKb ?? [0])) / 1024).toFixed(0)
      } MiB; each Worker costs ~17 MiB before any work)`,
    );
  }
  log(`extract ratio ours/unzip: ${ratio("ours extract", "unzip")}  (goal <= 1.00)`);
  if (threads > 1) {
    const name = `ours extract (${threads} threads)`;
    log(
      `extract ratio ours/unzip, FF_USE_FASTZIP on ${threads} threads: ${
        ratio(name, "unzip")
      }  (peak RSS ${(Math.max(...(results[name]?.rssKb ?? [0])) / 1024).toFixed(0)} MiB)`,
    );
  }
  const kernel = (name: string) => median(results[name]?.sysMs ?? [NaN]);
  const [oursKernel, unzipKernel] = [kernel("ours extract"), kernel("unzip")];
  if (
    Math.max(oursKernel, unzipKernel) > 1000 &&
    Math.max(oursKernel, unzipKernel) > 2 * Math.min(oursKernel, unzipKernel)
  ) {
    log(
      `  (kernel time ours ${oursKernel.toFixed(0)} ms, unzip ${unzipKernel.toFixed(0)} ms: ` +
        "files removed on this disk in the last minute cost one side seconds of inode " +
        "allocation; this ratio measured the disk's state more than the extractors)",
    );
  }
  const peak = (name: string) => (Math.max(...(results[name]?.rssKb ?? [0])) / 1024).toFixed(0);
  log(
    `peak RSS ours: archive ${peak(`ours archive (${args.values.level})`)} MiB, extract ${
      peak("ours extract")
    } MiB (goal <= 64 MiB each)`,
  );
} finally {
  await Deno.remove(work, { recursive: true });
  if (args.values.tree) {
    for await (const e of Deno.readDir(args.values.tree)) {
      if (e.name.startsWith("x-")) {
        await Deno.remove(`${args.values.tree}/${e.name}`, { recursive: true });
      }
    }
  }
}

function log(line: string): void {
  // deno-lint-ignore no-console -- a bench prints its report
  console.log(line);
}

/** A child's memory samples (BENCH_MEMORY): stderr, which the parent shows. */
function memoryLog(line: string): void {
  // deno-lint-ignore no-console -- the parent relays it
  console.error(line);
}

/** Runs a baseline tool under /usr/bin/time for its peak RSS. */
async function timed(
  cmd: string[],
  cwd: string,
): Promise<{ ms: number; rssKb: number; cpuMs: number; sysMs: number }> {
  const t = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M %U %S", ...cmd],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t;
  if (!out.success) {
    throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
  const [rssKb, user, sys] = (lines[lines.length - 1] ?? "").split(" ").map(Number);
  return {
    ms,
    rssKb: rssKb ?? NaN,
    cpuMs: ((user ?? NaN) + (sys ?? NaN)) * 1000,
    sysMs: (sys ?? NaN) * 1000,
  };
}

/**
 * Runs one of our operations in a fresh process with an executor process's
 * flags and permissions, under /usr/bin/time (peak RSS and CPU, as for the
 * baseline); it reports its own time, and for an archive its selection's.
 */
async function ours(
  op: string,
  opts: Record<string, string>,
  permissions: string[],
): Promise<{ ms: number; rssKb: number; cpuMs: number; sysMs: number; selectMs?: number }> {
  const flags = Object.entries(opts).flatMap(([k, v]) => [`--${k}`, v]);
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M %U %S",
      Deno.execPath(),
      "run",
      ...v8Flags,
      ...permissions,
      new URL(import.meta.url).pathname,
      "--child",
      op,
      ...flags,
    ],
    env: { "DENO_NO_UPDATE_CHECK": "1" },
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
  if (!out.success) throw new Error(`our ${op} failed: ${lines.join("\n")}`);
  // BENCH_MEMORY: the child's samples, before /usr/bin/time's line.
  if (Deno.env.get("BENCH_MEMORY")) {
    for (const line of lines.slice(0, -1)) {
      log(`  ${op}: ${line}`);
    }
  }
  const [rssKb, user, sys] = (lines[lines.length - 1] ?? "").split(" ").map(Number);
  const child = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    ms: number;
    selectMs?: number;
  };
  return {
    ...child,
    rssKb: rssKb ?? NaN,
    cpuMs: ((user ?? NaN) + (sys ?? NaN)) * 1000,
    sysMs: (sys ?? NaN) * 1000,
  };
}

async function child(op: string): Promise<void> {
  const t = performance.now();
  if (Deno.env.get("BENCH_MEMORY")) {
    // On stderr: stdout carries the child's JSON result to the parent.
    const timer = setInterval(() => {
      const m = Deno.memoryUsage();
      memoryLog(
        `rss ${m.rss >> 20} heapTotal ${m.heapTotal >> 20} used ${m.heapUsed >> 20} external ${
          m.external >> 20
        }`,
      );
    }, 250);
    Deno.unrefTimer(timer);
  }
  let selectMs: number | undefined;
  if (op === "archive") {
    // The archive_cache stage of a job with `cache: {key: bench, paths: [tree]}`
    // and a local cache: its file selection ends when it asks the store for
    // its archive's date.
    await saveCacheAsJob(args.values.dir as string, {
      key: "bench",
      store: new LocalCacheStore(args.values.store as string),
      level: args.values.level as CompressionLevel,
      concurrency: Number(args.values.threads ?? 1),
      onSelected: () => selectMs = performance.now() - t,
    });
  } else {
    const reader = await LocalFileReader.open(args.values.zip as string);
    await extractZip(reader, await LocalArchiveTarget.open(args.values.out as string), {
      threads: Number(args.values.threads ?? 1),
    });
    await reader.close();
  }
  const ms = performance.now() - t;
  if (Deno.env.get("BENCH_MEMORY")) memoryLog(JSON.stringify(Deno.memoryUsage()));
  log(JSON.stringify({ ms, selectMs }));
}

/** `--tree DIR`: generates the tree in DIR/tree once and keeps it for the next run. */
/**
 * `--tree DIR` is emptied when its tree has another size, and its `x-*`
 * entries are removed at the end: refuse a directory this bench did not make.
 */
async function refuseForeignTree(dir: string): Promise<void> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (names.length > 0 && !names.includes(".bench-tree.json")) {
    throw new TypeError(
      `--tree "${dir}" holds files this bench did not make (no .bench-tree.json), ` +
        "which it would remove: give a new or empty directory",
    );
  }
}

async function reuseTree(
  kept: string,
  count: number,
): Promise<{ files: number; bytes: number }> {
  const stamp = `${kept}/.bench-tree.json`;
  let summary: { files: number; bytes: number; count: number } | null = null;
  try {
    summary = JSON.parse(await Deno.readTextFile(stamp));
  } catch {
    // not generated yet
  }
  if (summary === null || summary.count !== count) {
    await Deno.remove(kept, { recursive: true }).catch(() => {});
    const made = await generateTree(`${kept}/tree`, count);
    summary = { ...made, count };
    await Deno.writeTextFile(stamp, JSON.stringify(summary));
  }
  return summary;
}

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * ~95% small JS-like files (a few hundred bytes to ~12 KB of source text
 * built from a vocabulary, so it compresses like real code), spread over
 * packages of 20 files; plus 8 large files of 7.5 MB that are half random,
 * half repetitive (like binaries and bundles). Total about 150 MB.
 */
async function generateTree(
  root: string,
  count: number,
): Promise<{ files: number; bytes: number }> {
  const next = rng(42);
  const words = [
    "function",
    "return",
    "const",
    "let",
    "var",
    "if",
    "else",
    "module",
    "exports",
    "require",
    "this",
    "prototype",
    "undefined",
    "null",
    "true",
    "false",
    "async",
    "await",
    "new",
    "class",
    "extends",
    "import",
    "from",
    "default",
    "throw",
    "Error",
    "value",
    "options",
    "callback",
    "length",
    "index",
    "result",
    "push",
    "map",
    "filter",
    "reduce",
    "Object",
    "keys",
    "Array",
  ];
  const encoder = new TextEncoder();
  const largeCount = 8;
  const largeSize = 7_500_000;
  let bytes = 0;
  let files = 0;
  const smallBudget = 150_000_000 - largeCount * largeSize;
  const smallCount = count - largeCount;
  const avg = smallBudget / smallCount;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < smallCount; i++) {
    const pkg = Math.floor(i / 20);
    const dir = `${root}/node_modules/pkg-${pkg}/${i % 3 === 0 ? "lib" : "src"}`;
    if (i % 20 === 0 || i % 20 === 1 || i % 20 === 2) await Deno.mkdir(dir, { recursive: true });
    const size = Math.floor(avg * (0.1 + 1.8 * ((next() % 1000) / 1000)));
    let text = "";
    while (text.length < size) {
      const n = 4 + (next() % 10);
      const parts: string[] = [];
      for (let w = 0; w < n; w++) parts.push(words[next() % words.length] as string);
      text += `  ${parts.join(" ")}_${next() % 500};\n`;
    }
    const data = encoder.encode(text.slice(0, size));
    bytes += data.length;
    files++;
    pending.push(Deno.writeFile(`${dir}/file-${i}.js`, data));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await Deno.mkdir(`${root}/node_modules/.bin-data`, { recursive: true });
  for (let i = 0; i < largeCount; i++) {
    const data = new Uint8Array(largeSize);
    for (let o = 0; o < largeSize; o += 4) {
      const v = next();
      // Half random, half a slowly varying pattern.
      const word = (o / 4) % 2 === 0 ? v : (o >> 12) * 0x01010101;
      data[o] = word & 0xff;
      data[o + 1] = (word >>> 8) & 0xff;
      data[o + 2] = (word >>> 16) & 0xff;
      data[o + 3] = (word >>> 24) & 0xff;
    }
    await Deno.writeFile(`${root}/node_modules/.bin-data/blob-${i}.bin`, data);
    bytes += data.length;
    files++;
  }
  return { files, bytes };
}
