/** Cache save and restore against a real cache directory and project directory. */
import assert from "node:assert/strict";
import { LocalArchiveSource } from "../archive/local_archive_source.ts";
import { LocalArchiveTarget } from "../archive/local_archive_target.ts";
import { MemoryTree } from "../archive/memory_tree.ts";
import { extractZip } from "../archive/zip_extractor.ts";
import { zipStream } from "../archive/zip_writer.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobCache } from "../job/job_spec.ts";
import { LocalCacheStore } from "./local_cache_store.ts";
import { restoreCache } from "./restore_cache.ts";
import { saveCache } from "./save_cache.ts";

interface Env {
  root: string;
  project: string;
  store: LocalCacheStore;
  lines: string[];
}

async function env(): Promise<Env> {
  const root = await Deno.makeTempDir({ prefix: "cache-it-" });
  await Deno.mkdir(`${root}/project/vendor/lib`, { recursive: true });
  await Deno.writeTextFile(`${root}/project/vendor/lib/dep.txt`, "dependency v1");
  return {
    root,
    project: `${root}/project`,
    store: new LocalCacheStore(`${root}/cache/group/project`),
    lines: [],
  };
}

function cache(overrides: Partial<JobCache> = {}): JobCache {
  return {
    key: "deps",
    untracked: false,
    policy: "",
    paths: ["vendor"],
    when: "on_success",
    fallbackKeys: [],
    ...overrides,
  };
}

const keyCtx = { jobName: "build", gitRef: "main", expand: (s: string) => s };

function save(e: Env, caches: JobCache[], jobSucceeded = true) {
  return saveCache({
    ...keyCtx,
    caches,
    jobSucceeded,
    store: e.store,
    source: new LocalArchiveSource(e.project),
    projectDir: e.project,
    compressionLevel: "default",
    log: (l) => e.lines.push(l),
    signal: new AbortController().signal,
  });
}

async function restore(e: Env, caches: JobCache[], fallbackKey = "") {
  return restoreCache({
    ...keyCtx,
    caches,
    fallbackKey,
    store: e.store,
    target: await LocalArchiveTarget.open(e.project),
    log: (l) => e.lines.push(l),
    signal: new AbortController().signal,
  });
}

Deno.test("cache saves to <cache root>/<key>/cache.zip with metadata, then restores", async () => {
  const e = await env();
  try {
    await save(e, [cache()]);
    assert.deepEqual(e.lines, [
      "Creating cache deps...",
      "vendor: found 3 matching artifact files and directories",
      "Created cache",
    ]);
    const dir = `${e.root}/cache/group/project/deps`;
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/metadata.json`)), {
      cachekey: "deps",
    });
    assert.deepEqual([...Deno.readDirSync(dir)].map((d) => d.name).sort(), [
      "cache.zip",
      "metadata.json",
    ]);

    await Deno.remove(`${e.project}/vendor`, { recursive: true });
    e.lines.length = 0;
    await restore(e, [cache()]);
    assert.deepEqual(e.lines, ["Checking cache for deps...", "Successfully extracted cache"]);
    assert.equal(await Deno.readTextFile(`${e.project}/vendor/lib/dep.txt`), "dependency v1");
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("an unchanged cache is not written again", async () => {
  const e = await env();
  try {
    const old = new Date(Date.now() - 3600_000);
    await Deno.utime(`${e.project}/vendor/lib/dep.txt`, old, old);
    await Deno.utime(`${e.project}/vendor/lib`, old, old);
    await Deno.utime(`${e.project}/vendor`, old, old);
    await save(e, [cache()]);
    const first = (await Deno.stat(e.store.archivePath("deps"))).mtime?.getTime();
    e.lines.length = 0;
    await save(e, [cache()]);
    assert.deepEqual(e.lines.slice(-2), ["Archive is up to date!", "Created cache"]);
    assert.equal((await Deno.stat(e.store.archivePath("deps"))).mtime?.getTime(), first);
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("a corrupt cache archive is a warning, and the next fallback key is tried", async () => {
  const e = await env();
  try {
    await save(e, [cache({ key: "fallback" })]);
    await Deno.mkdir(`${e.root}/cache/group/project/deps`, { recursive: true });
    await Deno.writeTextFile(e.store.archivePath("deps"), "this is not a zip file at all, sorry");
    await Deno.remove(`${e.project}/vendor`, { recursive: true });
    e.lines.length = 0;
    await restore(e, [cache({ fallbackKeys: ["missing", "fallback"] })]);
    assert.deepEqual(e.lines, [
      "Checking cache for deps...",
      "WARNING: Corrupt cache archive for deps: Not a zip archive: end of central directory not found",
      "WARNING: Failed to extract cache",
      "Checking cache for missing...",
      "WARNING: Cache file does not exist",
      "WARNING: Failed to extract cache",
      "Checking cache for fallback...",
      "Successfully extracted cache",
    ]);
    assert.equal(await Deno.readTextFile(`${e.project}/vendor/lib/dep.txt`), "dependency v1");
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("CACHE_FALLBACK_KEY is tried last, unless it names a protected cache", async () => {
  const e = await env();
  try {
    await save(e, [cache({ key: "global" })]);
    e.lines.length = 0;
    await restore(e, [cache()], "global");
    assert.deepEqual(e.lines.filter((l) => l.startsWith("Checking")), [
      "Checking cache for deps...",
      "Checking cache for global...",
    ]);
    assert.equal(e.lines.at(-1), "Successfully extracted cache");
    e.lines.length = 0;
    await restore(e, [cache()], "main-protected");
    assert.ok(e.lines.includes(
      'WARNING: CACHE_FALLBACK_KEY "main-protected" is ignored: the "-protected" suffix is reserved for protected refs',
    ));
    assert.deepEqual(e.lines.filter((l) => l.startsWith("Checking")), [
      "Checking cache for deps...",
    ]);
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("policy and when decide what runs", async () => {
  const e = await env();
  try {
    await save(e, [cache({ policy: "pull" })]);
    assert.deepEqual(e.lines, ["Not uploading cache deps due to policy"]);
    e.lines.length = 0;
    await save(e, [cache({ when: "on_failure" })], true);
    assert.deepEqual(e.lines, []);
    await save(e, [cache({ when: "on_failure" })], false);
    assert.equal(e.lines.at(-1), "Created cache");
    e.lines.length = 0;
    await restore(e, [cache({ policy: "push" })]);
    assert.deepEqual(e.lines, ["Not downloading cache deps due to policy"]);
    await assert.rejects(restore(e, [cache({ policy: "sometimes" })]), (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.message, 'unknown cache policy "sometimes" for deps');
      return true;
    });
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("two jobs saving one key at once never leave a torn archive", async () => {
  const e = await env();
  try {
    const contents = (letter: string) => {
      const tree = new MemoryTree();
      for (let i = 0; i < 200; i++) tree.addFile(`f${i}.txt`, letter.repeat(2000 + i));
      tree.addFile("big.bin", new Uint8Array(3 << 20).fill(letter.charCodeAt(0)));
      return { tree, paths: ["big.bin", ...Array.from({ length: 200 }, (_, i) => `f${i}.txt`)] };
    };
    const a = contents("a");
    const b = contents("b");
    await e.store.save("shared", "shared", zipStream(a.tree, a.paths, { level: "fast" }));
    let saving = true;
    let reads = 0;
    const reader = (async () => {
      while (saving) {
        const r = await e.store.open("shared");
        assert.ok(r !== null);
        const out = new MemoryTree();
        try {
          await extractZip(r, out);
        } finally {
          await r.close();
        }
        const letters = new Set(
          [...out.nodes.values()].flatMap((n) => n.kind === "file" ? [n.data[0]] : []),
        );
        assert.equal(letters.size, 1, "an archive mixing both saves was read");
        assert.equal(out.nodes.size, 202);
        reads++;
      }
    })();
    const saves = [];
    for (let round = 0; round < 4; round++) {
      saves.push(e.store.save("shared", "shared", zipStream(a.tree, a.paths, { level: "fast" })));
      saves.push(e.store.save("shared", "shared", zipStream(b.tree, b.paths, { level: "fast" })));
    }
    await Promise.all(saves);
    saving = false;
    await reader;
    assert.ok(reads > 0);
    // No temp files are left behind.
    assert.deepEqual(
      [...Deno.readDirSync(`${e.root}/cache/group/project/shared`)].map((d) => d.name).sort(),
      [
        "cache.zip",
        "metadata.json",
      ],
    );
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("a download is read into the store's own buffer (BYOB), whole as it arrives", async () => {
  const e = await env();
  try {
    // A byte stream like fetch's body: 40 pieces of 50 KB; records the buffer each read offers.
    const offered: number[] = [];
    let sent = 0;
    const body = new ReadableStream({
      type: "bytes",
      pull(controller) {
        const request = controller.byobRequest;
        if (sent === 40) {
          controller.close();
          request?.respond(0);
          return;
        }
        const piece = new Uint8Array(50_000).fill(sent++);
        if (request === null) {
          offered.push(0);
          controller.enqueue(piece);
          return;
        }
        const view = request.view as Uint8Array;
        offered.push(view.byteLength);
        view.set(piece);
        request.respond(piece.length);
      },
    });
    assert.equal(await e.store.save("dl", "dl", body), 2_000_000);
    const stored = await Deno.readFile(e.store.archivePath("dl"));
    assert.equal(stored.length, 2_000_000);
    assert.equal(stored[0], 0);
    assert.equal(stored[1_999_999], 39);
    // Every read offered the store's 1 MiB buffer; a default reader gets a new array per piece.
    assert.ok(offered.length >= 40);
    assert.ok(offered.every((n) => n >= 1 << 20), `offered ${offered.join(", ")}`);
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});

Deno.test("a local save hands `alongside` the written archive and waits for it; when it fails the new archive is stored anyway", async () => {
  const e = await env();
  try {
    const first = new TextEncoder().encode("first archive");
    let seen: Uint8Array | null = null;
    let listed: string[] = [];
    const size = await e.store.save("deps", "deps", ReadableStream.from([first]), {
      alongside: async (archive) => {
        seen = await archive.read(0, archive.size);
        // Let the store's commit (sync, rename, metadata) run meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 50));
        listed = [...Deno.readDirSync(`${e.root}/cache/group/project/deps`)].map((d) => d.name)
          .sort();
      },
    });
    assert.equal(size, first.length);
    assert.deepEqual(seen, first);
    // Committed while `alongside` ran, and no temp file left when it is done.
    assert.deepEqual(listed, ["cache.zip", "metadata.json"]);

    const second = new TextEncoder().encode("second archive");
    await assert.rejects(
      e.store.save("deps", "deps", ReadableStream.from([second]), {
        alongside: () => Promise.reject(new Error("the upload was refused")),
      }),
      /the upload was refused/,
    );
    assert.deepEqual(await Deno.readFile(e.store.archivePath("deps")), second);
    assert.deepEqual(
      [...Deno.readDirSync(`${e.root}/cache/group/project/deps`)].map((d) => d.name).sort(),
      ["cache.zip", "metadata.json"],
    );
  } finally {
    await Deno.remove(e.root, { recursive: true });
  }
});
