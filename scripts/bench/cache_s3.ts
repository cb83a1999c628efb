/**
 * Distributed cache benchmark: a node_modules-like tree (20k files, ~150 MB)
 * through a real radosgw (tests/fixtures/radosgw.ts). Times our save (the
 * archive_cache stage's saveCache, as a job runs it: its file selection, the
 * zip at level "fast" into the local cache store, then the pre-signed PUT)
 * and restore (pre-signed GET into the local store, then extract) against
 * `zip -qr -1` + `curl -T` (PUT to a URL signed the same way) and `curl` GET +
 * `unzip -q`, in the same run. Prints median times, ratios (ours / baseline;
 * goal <= 1.0) and peak RSS of our processes (goal: <= 64 MiB growth).
 * The save is also shown in its parts: zip and curl; our file selection, the
 * archive into the local store, and the upload.
 *
 * Our child runs with the V8 flags and the permission row (`--allow-read` etc.
 * of executorPermissions) of a shell runner's executor process: Deno checks
 * every path-taking call against that row, which costs a job's archive and
 * extraction a few microseconds per call (~40 ms on the quick save) that
 * `--allow-all` does not. Peak RSS comes from /usr/bin/time for both sides.
 *
 * Each side's pre-signed URL is made before its clock starts: the baseline's
 * in this process, ours in our child before it times anything (in a job the
 * poller signs an upload's URL while the executor process writes the
 * archive; a download's URL, like curl's, is needed before anything starts,
 * and both sides leave it out). Our child's time
 * starts once its modules are loaded: a job's executor process is already
 * running. What signing, and the child's start-up and module loading, cost is
 * printed under the table.
 *
 * Every run writes new files and directories, and all are removed at the end:
 * this machine's ext4 has no journal, and then each file or directory created
 * skips the inodes freed in the last 30 s (the kernel's recently_deleted()),
 * a cost that reached seconds per restore right after the previous run's tree
 * was removed, charged to whichever side ran next. Removals by other programs
 * still cost both sides alike. Four runs (also with --quick), two with each
 * side first, give medians.
 * The restore is also shown in its two parts (the GET into a file, then the
 * extraction) and per run, saying which side ran first.
 *
 *   deno run --allow-all scripts/bench/cache_s3.ts [--quick] [--files 20000] [--runs 4]
 *
 * Skips, saying why, when the ceph packages are absent, or zip, unzip, curl
 * or GNU time (/usr/bin/time), which the baseline runs.
 */
import { parseArgs } from "node:util";
import { extractZip, LocalArchiveTarget } from "../../src/archive/mod.ts";
import type { CacheStore } from "../../src/cache/cache_store.ts";
import { saveCacheAsJob } from "./_cache_save_as_job.ts";
import { missingToolsReason } from "./_baseline_tools.ts";
import { LocalCacheStore } from "../../src/cache/local_cache_store.ts";
import { DistributedCacheStore } from "../../src/cache/distributed_cache_store.ts";
import { HttpObjectTransfer } from "../../src/cache/object_transfer.ts";
import { S3UrlSigner } from "../../src/cache/s3_url_signer.ts";
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { S3CacheConfig } from "../../src/config/runner_config.ts";
import { radosgwSkipReason, startRadosgw } from "../../tests/fixtures/radosgw.ts";
import { EXECUTOR_V8_FLAGS } from "../../src/poller/v8_flags.ts";
import { executorPermissionFlags, shellRunner } from "./_shell_executor_process.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    files: { type: "string" },
    runs: { type: "string" },
    child: { type: "string" },
    s3: { type: "string" },
    dir: { type: "string" },
    store: { type: "string" },
    out: { type: "string" },
  },
});

if (args.values.child) {
  await child(args.values.child);
  Deno.exit(0);
}

const fileCount = Number(args.values.files ?? (args.values.quick ? "2000" : "20000"));
if (!Number.isInteger(fileCount) || fileCount < 1) {
  throw new TypeError(`--files must be a positive integer: got "${args.values.files}"`);
}
const runs = Number(args.values.runs ?? "4");
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${args.values.runs}"`);
}
const skip = (await missingToolsReason(["zip", "unzip", "curl", "/usr/bin/time"])) ??
  (await radosgwSkipReason());
if (skip) {
  log(`Skipping cache_s3 benchmark: ${skip}`);
  Deno.exit(0);
}
const work = await Deno.makeTempDir({ prefix: "cache-s3-bench-" });
try {
  await using gw = await startRadosgw();
  await gw.createBucket("bench");
  const s3: S3CacheConfig = {
    ...defaultRunnerConfig("shell").cache.s3,
    serverAddress: gw.address,
    accessKey: gw.accessKey,
    secretKey: gw.secretKey,
    bucketName: "bench",
    insecure: true,
  };
  const signer = new S3UrlSigner(s3, { env: () => undefined });
  // A shell runner's layout: the project under builds_dir, caches under
  // cache_dir; our child runs with the executor process's permission row for
  // it, as a job's does (every path-checked call pays for the check).
  const builds = `${work}/builds`;
  const caches = `${work}/cache`;
  for (const dir of [builds, caches, `${work}/tmp`]) await Deno.mkdir(dir);
  const runner = shellRunner(builds, caches);
  runner.cache = { ...runner.cache, type: "s3", s3 };
  const permissions = executorPermissionFlags(runner, work);
  const tree = `${builds}/tree`;
  const { files, bytes } = await generateTree(tree, fileCount);
  // radosgw's first write to a new bucket took over a second: paid here,
  // untimed, rather than by whichever side runs first.
  const warm = new Uint8Array(4 << 20);
  for (const name of ["warm-up/1", "warm-up/2"]) {
    const put = await signer.presign(name, "PUT", { expiresSeconds: 3600 });
    const answer = await fetch(put.url, { method: "PUT", body: warm, headers: put.headers });
    await answer.body?.cancel();
    if (!answer.ok) throw new Error(`warm-up PUT answered ${answer.status}`);
  }
  log(
    `tree: ${files} files, ${
      (bytes / 1e6).toFixed(1)
    } MB; radosgw at ${gw.address}; ${runs} runs, medians`,
  );

  const results: Record<string, { ms: number[]; rssKb: number[]; growthKb: number[] }> = {};
  const signMs: number[] = [];
  const startMs: number[] = [];
  /** Restore parts per side: the GET into a file, then the extraction. */
  const parts: Record<string, { get: number[]; extract: number[] }> = {
    baseline: { get: [], extract: [] },
    ours: { get: [], extract: [] },
  };
  /** Save parts: zip and curl; our file selection, archive (into the local store) and upload. */
  const saveParts: Record<string, number[]> = {
    zip: [],
    curl: [],
    select: [],
    archive: [],
    upload: [],
  };
  const record = (
    name: string,
    r: {
      ms: number;
      rssKb: number;
      growthKb?: number;
      signMs?: number;
      getMs?: number;
      startMs?: number;
    },
  ) => {
    if (r.startMs !== undefined) startMs.push(r.startMs);
    const x = results[name] ??= { ms: [], rssKb: [], growthKb: [] };
    if (r.signMs !== undefined) signMs.push(r.signMs);
    if (r.getMs !== undefined) {
      const side = name.startsWith("ours") ? parts.ours! : parts.baseline!;
      side.get.push(r.getMs);
      side.extract.push(r.ms - r.getMs);
    }
    x.ms.push(r.ms);
    x.rssKb.push(r.rssKb);
    if (r.growthKb !== undefined) x.growthKb.push(r.growthKb);
  };
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? ["baseline", "ours"] : ["ours", "baseline"];
    for (const who of order) {
      if (who === "baseline") {
        const put = await signer.presign(`baseline/${run}`, "PUT", { expiresSeconds: 3600 });
        const t = performance.now();
        const zip = await timed(["zip", "-qr", "-1", `${work}/zip-${run}.zip`, "tree"], builds);
        const curl = await timed([
          "curl",
          "-sfS",
          "-o",
          "/dev/null",
          "-T",
          `${work}/zip-${run}.zip`,
          put.url,
        ], work);
        saveParts.zip!.push(zip.ms);
        saveParts.curl!.push(curl.ms);
        record("zip -1 + curl PUT", {
          ms: performance.now() - t,
          rssKb: Math.max(zip.rssKb, curl.rssKb),
        });
      } else {
        const r = await ours(
          "save",
          { dir: tree, store: `${caches}/store-${run}` },
          { s3, permissions },
        );
        saveParts.select!.push(r.selectMs!);
        saveParts.archive!.push(r.archiveMs!);
        saveParts.upload!.push(r.uploadMs!);
        record("ours archive+upload", r);
      }
    }
    const restoreOrder = run % 2 === 0 ? ["baseline", "ours"] : ["ours", "baseline"];
    for (const who of restoreOrder) {
      const out = `${builds}/x-${who}-${run}`;
      await Deno.mkdir(out);
      if (who === "baseline") {
        const get = await signer.presign(`baseline/${run}`, "GET", { expiresSeconds: 3600 });
        const t = performance.now();
        const curl = await timed(["curl", "-sfS", "-o", `${work}/dl-${run}.zip`, get.url], work);
        const unzip = await timed(["unzip", "-q", `${work}/dl-${run}.zip`, "-d", out], work);
        record("curl GET + unzip", {
          ms: performance.now() - t,
          rssKb: Math.max(curl.rssKb, unzip.rssKb),
          getMs: curl.ms,
        });
      } else {
        record(
          "ours download+extract",
          await ours("restore", { store: `${caches}/restored-${run}`, out }, { s3, permissions }),
        );
      }
    }
  }
  const check = await new Deno.Command("diff", {
    args: ["-r", "--no-dereference", tree, `${builds}/x-ours-${runs - 1}/tree`],
  }).output();
  log(`round trip through radosgw: ${check.success ? "identical" : "DIFFERS"}`);
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  log("");
  for (const [name, r] of Object.entries(results)) {
    log(
      `${name.padEnd(24)} ${median(r.ms).toFixed(0).padStart(6)} ms  peak RSS ${
        (Math.max(...r.rssKb) / 1024).toFixed(0).padStart(4)
      } MiB${
        r.growthKb.length > 0
          ? `  growth ${(Math.max(...r.growthKb) / 1024).toFixed(0)} MiB (goal <= 64)`
          : ""
      }`,
    );
  }
  log(
    `(outside our timings: URL signing ${
      median(signMs).toFixed(1)
    } ms in our child, the baseline's in this process; our child's process start and module loading ${
      median(startMs).toFixed(0)
    } ms, which a job's running executor process has paid already)`,
  );
  const ms = (name: string) => median(saveParts[name]!).toFixed(0);
  log(
    `save parts: zip -r -1 ${ms("zip")} ms, curl PUT ${ms("curl")} ms; ours: file selection ${
      ms("select")
    } ms, archive written into the local cache store ${ms("archive")} ms, upload ${
      ms("upload")
    } ms (the store's fsync and rename beside it)`,
  );
  const saved = results["zip -1 + curl PUT"]!.ms;
  log(
    `save per run, ours / zip+curl: ${
      results["ours archive+upload"]!.ms.map((ms, i) =>
        `${ms.toFixed(0)}/${saved[i]!.toFixed(0)} ms (${i % 2 === 0 ? "theirs" : "ours"} first)`
      ).join(", ")
    }`,
  );
  const { baseline, ours: our } = parts as Record<string, { get: number[]; extract: number[] }>;
  log(
    `restore parts: GET into a file: curl ${median(baseline!.get).toFixed(0)} ms, ours ${
      median(our!.get).toFixed(0)
    } ms (into the local cache store, fsync'd); extract: unzip ${
      median(baseline!.extract).toFixed(0)
    } ms, ours ${median(our!.extract).toFixed(0)} ms`,
  );
  const theirs = results["curl GET + unzip"]!.ms;
  log(
    `restore per run, ours / curl+unzip: ${
      results["ours download+extract"]!.ms.map((ms, i) =>
        `${ms.toFixed(0)}/${theirs[i]!.toFixed(0)} ms (${i % 2 === 0 ? "theirs" : "ours"} first)`
      ).join(", ")
    }`,
  );
  const ratio = (a: string, b: string) =>
    (median(results[a]!.ms) / median(results[b]!.ms)).toFixed(2);
  log("");
  log(
    `archive+upload ratio ours/(zip+curl):    ${
      ratio("ours archive+upload", "zip -1 + curl PUT")
    }  (goal <= 1.00)`,
  );
  log(
    `download+extract ratio ours/(curl+unzip): ${
      ratio("ours download+extract", "curl GET + unzip")
    }  (goal <= 1.00)`,
  );
} finally {
  await Deno.remove(work, { recursive: true });
}

function log(line: string): void {
  // deno-lint-ignore no-console -- a bench prints its report
  console.log(line);
}

async function timed(cmd: string[], cwd: string): Promise<{ ms: number; rssKb: number }> {
  const t = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", ...cmd],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t;
  const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
  if (!out.success) throw new Error(`${cmd[0]} failed: ${lines.join("\n")}`);
  return { ms, rssKb: Number(lines[lines.length - 1]) };
}

/**
 * One of our operations in a fresh process (its own peak RSS, from
 * /usr/bin/time as for the baseline), with the V8 flags and permissions an
 * executor process gets, as cache transfers run there; it reports its times.
 */
async function ours(
  op: string,
  opts: Record<string, string>,
  { s3, permissions }: { s3: S3CacheConfig; permissions: string[] },
) {
  const flags = Object.entries(opts).flatMap(([k, v]) => [`--${k}`, v]);
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      Deno.execPath(),
      "run",
      ...EXECUTOR_V8_FLAGS,
      ...permissions,
      new URL(import.meta.url).pathname,
      "--child",
      op,
      "--s3",
      JSON.stringify(s3),
      ...flags,
    ],
    env: { "DENO_NO_UPDATE_CHECK": "1" },
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n");
  if (!out.success) throw new Error(`our ${op} failed: ${stderr.join("\n")}`);
  const rssKb = Number(stderr[stderr.length - 1]);
  const result = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    ms: number;
    baseRssKb: number;
    signMs: number;
    getMs?: number;
    startMs: number;
    selectMs?: number;
    archiveMs?: number;
    uploadMs?: number;
  };
  return { ...result, rssKb, growthKb: rssKb - result.baseRssKb };
}

async function child(op: string): Promise<void> {
  // Since the process started (timeOrigin): Deno's start-up and our modules.
  const startMs = performance.now();
  const s3 = JSON.parse(args.values.s3 as string) as S3CacheConfig;
  const signer = new S3UrlSigner(s3, { env: () => undefined });
  const baseRssKb = Math.round(Deno.memoryUsage().rss / 1024);
  const signing = performance.now();
  const method = op === "save" ? "PUT" : "GET";
  const request = await signer.presign("ours/deps", method, { expiresSeconds: 3600 });
  const signMs = performance.now() - signing;
  const t = performance.now();
  let getMs: number | undefined;
  // Where a save's time goes: the file selection ends when the stage asks the
  // store for its archive's date, the archive when the local store has
  // written it (it hands it to the upload then); the rest is the upload.
  const marks = { selected: t, archived: t };
  const local = new LocalCacheStore(args.values.store as string);
  const timedLocal: CacheStore = {
    open: (key) => local.open(key),
    modified: (key) => local.modified(key),
    save: async (key, humanKey, body, options = {}) => {
      const { alongside } = options;
      const size = await local.save(
        key,
        humanKey,
        body,
        alongside
          ? {
            alongside: (archive) => {
              marks.archived = performance.now();
              return alongside(archive);
            },
          }
          : {},
      );
      if (!alongside) marks.archived = performance.now();
      return size;
    },
  };
  const store = new DistributedCacheStore({
    local: timedLocal,
    urls: {
      presign: (key, m) => {
        if (key !== "deps" || m !== method) throw new Error(`unexpected ${m} ${key}`);
        return Promise.resolve(request);
      },
    },
    transfer: new HttpObjectTransfer(),
    maxUploadedArchiveSize: 0,
    log: () => {},
    signal: new AbortController().signal,
  });
  if (op === "save") {
    // The archive_cache stage as a job runs it: its file selection, the
    // archive into the local store, then the upload.
    await saveCacheAsJob(args.values.dir as string, {
      key: "deps",
      store,
      level: "fast",
      onSelected: () => marks.selected = performance.now(),
    });
  } else {
    const reader = await store.open("deps");
    getMs = performance.now() - t;
    if (reader === null) throw new Error("no cache in the bucket");
    await extractZip(reader, await LocalArchiveTarget.open(args.values.out as string));
    await reader.close();
  }
  const ms = performance.now() - t;
  const saveParts = op === "save"
    ? {
      selectMs: marks.selected - t,
      archiveMs: marks.archived - marks.selected,
      uploadMs: t + ms - marks.archived,
    }
    : {};
  log(
    JSON.stringify({
      ms,
      baseRssKb,
      signMs,
      getMs,
      startMs,
      ...saveParts,
    }),
  );
}

/** Many small compressible text files and a few larger binary-ish ones, deterministic. */
async function generateTree(
  root: string,
  count: number,
): Promise<{ files: number; bytes: number }> {
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296;
  };
  const words = [
    "function",
    "return",
    "const",
    "module",
    "exports",
    "require",
    "value",
    "options",
    "callback",
    "result",
  ];
  let bytes = 0;
  const large = Math.max(1, Math.floor(count / 1000));
  for (let i = 0; i < count; i++) {
    const dir = `${root}/pkg${i % 500}/lib${Math.floor(i / 500) % 8}`;
    if (i < 500 * 8 || i % 500 === 0) await Deno.mkdir(dir, { recursive: true });
    let data: Uint8Array;
    if (i % Math.floor(count / large) === 0) {
      data = new Uint8Array(3_000_000 + Math.floor(next() * 1_000_000));
      for (let j = 0; j < data.length; j += 4) data[j] = Math.floor(next() * 256);
    } else {
      const parts: string[] = [];
      const size = 1000 + Math.floor(next() * 8000);
      let n = 0;
      while (n < size) {
        const w = words[Math.floor(next() * words.length)]!;
        parts.push(w);
        n += w.length + 1;
      }
      data = new TextEncoder().encode(parts.join(" "));
    }
    await Deno.writeFile(`${dir}/file${i}.js`, data);
    bytes += data.length;
  }
  return { files: count, bytes };
}
