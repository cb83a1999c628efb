/**
 * The distributed cache store through the real HTTP transfer (HttpObjectTransfer:
 * node:http for the PUT, fetch for the GET) against a local object server
 * (Deno.serve on 127.0.0.1:0) that answers from a script, and through the cache
 * stages, so the assertions are the job log lines a user reads. The official
 * helpers (cache-archiver, cache-extractor) retry twice, 1 s apart, on a 5xx or
 * a network error, and never on a 4xx; a 404 on download means "no archive".
 */
import assert from "node:assert/strict";
import { LocalArchiveSource } from "../archive/local_archive_source.ts";
import { LocalArchiveTarget } from "../archive/local_archive_target.ts";
import type { JobCache } from "../job/job_spec.ts";
import { DistributedCacheStore } from "./distributed_cache_store.ts";
import { LocalCacheStore } from "./local_cache_store.ts";
import { HttpObjectTransfer } from "./object_transfer.ts";
import { MemoryStore } from "./_memory_cache_store.ts";
import { restoreCache } from "./restore_cache.ts";
import { saveCache } from "./save_cache.ts";

interface Answer {
  status: number;
  body?: string;
  /** Send this many bytes of the stored archive, then drop the connection. */
  cutAfter?: number;
}

/** An object server answering each request from `script` (by method), then 200 with what was PUT. */
function startObjectServer(script: { PUT?: Answer[]; GET?: Answer[] }) {
  const requests: { method: string; path: string; body: Uint8Array }[] = [];
  let stored: Uint8Array<ArrayBuffer> | null = null;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      requests.push({ method: req.method, path: new URL(req.url).pathname, body });
      const next = (req.method === "PUT" ? script.PUT : script.GET)?.shift();
      if (next?.cutAfter !== undefined && stored) {
        const part = stored.subarray(0, next.cutAfter);
        return new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(part);
              controller.error(new Error("connection dropped"));
            },
          }),
          { headers: { "last-modified": new Date().toUTCString() } },
        );
      }
      if (next) {
        return new Response(next.body ?? null, {
          status: next.status,
          headers: next.body ? { "content-type": "application/xml" } : {},
        });
      }
      if (req.method === "PUT") {
        stored = body;
        return new Response(null, { status: 200 });
      }
      return stored
        ? new Response(stored, { headers: { "last-modified": new Date().toUTCString() } })
        : new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    count: (method: string) => requests.filter((r) => r.method === method).length,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const CACHE: JobCache = {
  key: "deps",
  untracked: false,
  policy: "pull-push",
  paths: ["vendor"],
  when: "on_success",
  fallbackKeys: [],
};
const KEY_CONTEXT = { jobName: "build", gitRef: "main", expand: (s: string) => s };

/** A job's project directory with vendor/lib.txt, a local cache dir, and the store over `url`. */
async function job(url: string) {
  const root = await Deno.makeTempDir({ prefix: "dist-cache-it-" });
  await Deno.mkdir(`${root}/project/vendor`, { recursive: true });
  await Deno.writeTextFile(`${root}/project/vendor/lib.txt`, "lib v1");
  const lines: string[] = [];
  const signal = new AbortController().signal;
  const store = new DistributedCacheStore({
    local: new LocalCacheStore(`${root}/cache`),
    urls: {
      presign: (key, method) =>
        Promise.resolve({
          url: `${url}/bucket/project/1/${key}?X-Amz-Signature=${method}`,
          headers: {},
        }),
    },
    transfer: new HttpObjectTransfer(),
    maxUploadedArchiveSize: 0,
    log: (l) => lines.push(l),
    signal,
    retryDelayMs: 1,
  });
  return {
    root,
    lines,
    store,
    save: () =>
      saveCache({
        ...KEY_CONTEXT,
        caches: [CACHE],
        jobSucceeded: true,
        store,
        source: new LocalArchiveSource(`${root}/project`),
        projectDir: `${root}/project`,
        compressionLevel: "fastest",
        log: (l) => lines.push(l),
        signal,
      }),
    /** Restores into an empty project directory, as a job on another machine would. */
    restore: async () => {
      await Deno.remove(`${root}/project`, { recursive: true });
      await Deno.remove(`${root}/cache`, { recursive: true }).catch(() => {});
      await Deno.mkdir(`${root}/project`);
      await restoreCache({
        ...KEY_CONTEXT,
        caches: [CACHE],
        fallbackKey: "",
        store,
        target: await LocalArchiveTarget.open(`${root}/project`),
        log: (l) => lines.push(l),
        signal,
      });
    },
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

Deno.test("distributed cache over HTTP retries an upload and a download after 503 then 500, and the cache arrives", async () => {
  await using server = startObjectServer({
    PUT: [{ status: 503 }, {
      status: 500,
      body:
        "<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>",
    }],
    GET: [{ status: 503 }, { status: 500 }],
  });
  await using j = await job(server.url);
  await j.save();
  assert.equal(server.count("PUT"), 3);
  // Every attempt sent the whole archive again, not a drained stream.
  const sizes = server.requests.map((r) => r.body.length);
  assert.ok(sizes[0]! > 0 && sizes.every((n) => n === sizes[0]), `bodies: ${sizes}`);
  assert.deepEqual(j.lines, [
    "Creating cache deps...",
    "vendor: found 2 matching artifact files and directories",
    `Uploading cache.zip to ${server.url}/bucket/project/1/deps`,
    "WARNING: Retrying cache transfer (1/2): the server answered 503",
    "WARNING: Retrying cache transfer (2/2): the server answered 500",
    "Created cache",
  ]);

  j.lines.length = 0;
  await j.restore();
  assert.equal(server.count("GET"), 3);
  assert.equal(await Deno.readTextFile(`${j.root}/project/vendor/lib.txt`), "lib v1");
  assert.deepEqual(j.lines, [
    "Checking cache for deps...",
    "WARNING: Retrying cache transfer (1/2): the server answered 503",
    "WARNING: Retrying cache transfer (2/2): the server answered 500",
    `Downloading cache from ${server.url}/bucket/project/1/deps`,
    "Successfully extracted cache",
  ]);
});

Deno.test("distributed cache over HTTP gives up after three 5xx answers with a warning, and the job goes on", async () => {
  const fail = {
    status: 503,
    body: "<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>",
  };
  await using server = startObjectServer({ PUT: [fail, fail, fail], GET: [fail, fail, fail] });
  await using j = await job(server.url);
  await j.save();
  await j.restore();
  assert.equal(server.count("PUT"), 3);
  assert.equal(server.count("GET"), 3);
  assert.ok(
    j.lines.includes(
      "WARNING: Cannot upload cache: the server answered 503 SlowDown: Reduce your request rate",
    ),
    j.lines.join("\n"),
  );
  assert.ok(j.lines.includes("WARNING: Failed to create cache"));
  assert.ok(
    j.lines.includes(
      "WARNING: Cannot open cache deps: Cannot download cache: the server answered 503 SlowDown: Reduce your request rate",
    ),
    j.lines.join("\n"),
  );
  assert.ok(j.lines.includes("WARNING: Failed to extract cache"));
});

Deno.test("distributed cache over HTTP does not retry a 4xx answer", async () => {
  const denied = {
    status: 403,
    body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
  };
  await using server = startObjectServer({ PUT: [denied], GET: [denied] });
  await using j = await job(server.url);
  await j.save();
  await j.restore();
  assert.equal(server.count("PUT"), 1);
  assert.equal(server.count("GET"), 1);
  assert.ok(!j.lines.some((l) => l.includes("Retrying")), j.lines.join("\n"));
  assert.ok(
    j.lines.includes(
      "WARNING: Cannot upload cache: the server answered 403 AccessDenied: Access Denied (the credentials may not access this object)",
    ),
    j.lines.join("\n"),
  );
});

Deno.test("distributed cache over HTTP: S3's RequestTimeTooSkewed tells the user to sync the clock, once, and the job goes on", async () => {
  // S3's answer when the signing time is more than 15 minutes off its own.
  const skewed = {
    status: 403,
    body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeTooSkewed</Code>' +
      "<Message>The difference between the request time and the current time is too large.</Message>" +
      "<RequestTime>20260102T030405Z</RequestTime><ServerTime>2026-01-02T04:04:05Z</ServerTime>" +
      "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>",
  };
  await using server = startObjectServer({ PUT: [skewed], GET: [skewed] });
  await using j = await job(server.url);
  await j.save();
  await j.restore();
  const said =
    "the server answered 403 RequestTimeTooSkewed: The difference between the request time and the current time is too large. (the runner's clock differs from the server's: sync the clock)";
  assert.deepEqual(j.lines.filter((l) => l.startsWith("WARNING:")), [
    `WARNING: Cannot upload cache: ${said}`,
    "WARNING: Failed to create cache",
    `WARNING: Cannot open cache deps: Cannot download cache: ${said}`,
    "WARNING: Failed to extract cache",
  ]);
  assert.equal(server.count("PUT"), 1);
  assert.equal(server.count("GET"), 1);
});

Deno.test("distributed cache over HTTP downloads again when the connection drops in the middle of the archive, as the official extractor", async () => {
  await using server = startObjectServer({ GET: [{ status: 200, cutAfter: 10 }] });
  await using j = await job(server.url);
  await j.save();
  j.lines.length = 0;
  await j.restore();
  assert.equal(server.count("GET"), 2);
  assert.equal(await Deno.readTextFile(`${j.root}/project/vendor/lib.txt`), "lib v1");
  const url = `${server.url}/bucket/project/1/deps`;
  assert.equal(j.lines[0], "Checking cache for deps...");
  assert.equal(j.lines[1], `Downloading cache from ${url}`);
  assert.match(j.lines[2]!, /^WARNING: Retrying cache transfer \(1\/2\): /);
  assert.deepEqual(j.lines.slice(3), [
    `Downloading cache from ${url}`,
    "Successfully extracted cache",
  ]);
});

const body = (s: string) => new Response(s).body!;

Deno.test("distributed cache gives up on a server that takes the request and never answers, naming the timeout", async () => {
  // Accepts connections and reads them, but never answers (a firewall
  // dropping replies, a hung proxy).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      held.push(conn);
      conn.readable.pipeTo(new WritableStream()).catch(() => {});
    }
  })();
  const lines: string[] = [];
  const local = new MemoryStore(() => new Date("2026-01-01T00:00:00Z"));
  const url = `http://127.0.0.1:${listener.addr.port}/b/deps?X-Amz-Signature=secret`;
  const store = new DistributedCacheStore({
    local,
    urls: { presign: () => Promise.resolve({ url, headers: {} }) },
    transfer: new HttpObjectTransfer(),
    maxUploadedArchiveSize: 0,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    retryDelayMs: 0,
    requestTimeoutMs: 200,
  });
  try {
    await assert.rejects(
      store.open("deps"),
      /^Error: Cannot download cache: no answer within 0\.2 s \(CACHE_REQUEST_TIMEOUT\)$/,
    );
    await assert.rejects(
      store.save("deps", "deps", body("zip")),
      /^Error: Cannot upload cache: no answer within 0\.2 s \(CACHE_REQUEST_TIMEOUT\)$/,
    );
    assert.equal(lines.filter((l) => l.startsWith("WARNING: Retrying cache transfer")).length, 4);
    assert.ok(lines.every((l) => !l.includes("secret")), lines.join("\n"));
  } finally {
    listener.close();
    for (const conn of held) {
      try {
        conn.close();
      } catch {
        // Closed already, when the client gave up.
      }
    }
    await accepting.catch(() => {});
  }
});

Deno.test("distributed cache names why the connection failed (refused, TLS, with what to set for plain HTTP) without the URL's signature", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  // A plain HTTP server asked for TLS.
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
  try {
    for (
      const [url, reason] of [
        [`http://127.0.0.1:${port}/b/deps`, /Connection refused/],
        [`https://127.0.0.1:${plain.addr.port}/b/deps`, /corrupt message|InvalidContentType/],
      ] as const
    ) {
      const lines: string[] = [];
      const store = new DistributedCacheStore({
        local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
        urls: {
          presign: () =>
            Promise.resolve({
              url: `${url}?X-Amz-Signature=SECRETSIG`,
              headers: {},
              isBlockBlob: true,
            }),
        },
        transfer: new HttpObjectTransfer(),
        maxUploadedArchiveSize: 0,
        log: (l) => lines.push(l),
        signal: new AbortController().signal,
        retryDelayMs: 0,
      });
      for (
        const [what, attempt] of [["download", () => store.open("deps")], [
          "upload",
          () => store.save("deps", "deps", body("zip")),
        ]] as const
      ) {
        await assert.rejects(attempt(), (err: Error) => {
          assert.match(
            err.message,
            new RegExp(
              `^Cannot ${what} cache: fetch failed: .*${url.replace(/[.:/]/g, "\\$&")}\\)?: `,
            ),
          );
          assert.match(err.message, reason);
          // Before, the TLS failure was only rustls' "received corrupt message of type InvalidContentType".
          assert.equal(
            err.message.endsWith(
              " (the server does not answer in TLS: an S3 server over plain HTTP needs Insecure = true in [runners.cache.s3])",
            ),
            url.startsWith("https:"),
            err.message,
          );
          assert.ok(!err.message.includes("SECRETSIG"), err.message);
          return true;
        });
      }
      assert.ok(lines.every((l) => !l.includes("SECRETSIG")), lines.join("\n"));
      assert.match(lines.find((l) => l.startsWith("WARNING: Retrying"))!, reason);
    }
  } finally {
    await plain.shutdown();
  }
});

Deno.test("distributed cache waits out a slow answer under a CACHE_REQUEST_TIMEOUT longer than one timer holds (35792 minutes or more)", async () => {
  // A timer longer than 2^31-1 ms fires at once: 40000 minutes cut every
  // request after 1 ms.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return new Response("zip", { headers: { "last-modified": new Date().toUTCString() } });
    },
  );
  const lines: string[] = [];
  const store = new DistributedCacheStore({
    local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
    urls: {
      presign: () =>
        Promise.resolve({ url: `http://127.0.0.1:${server.addr.port}/b/deps`, headers: {} }),
    },
    transfer: new HttpObjectTransfer(),
    maxUploadedArchiveSize: 0,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    retryDelayMs: 0,
    requestTimeoutMs: 40_000 * 60_000,
  });
  try {
    const opened = await store.open("deps");
    assert.ok(opened, lines.join("\n"));
    assert.deepEqual(lines.filter((l) => l.startsWith("WARNING")), []);
  } finally {
    await server.shutdown();
  }
});
