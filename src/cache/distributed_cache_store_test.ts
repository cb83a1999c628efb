import assert from "node:assert/strict";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { PresignedRequest } from "./cache_url_signer.ts";
import { DistributedCacheStore } from "./distributed_cache_store.ts";
import { MemoryStore } from "./_memory_cache_store.ts";
import type { ObjectTransfer } from "./object_transfer.ts";

/** Answers from a script: one status (and body) per call, in order. */
class ScriptedTransfer implements ObjectTransfer {
  readonly calls: string[] = [];
  constructor(
    readonly answers: { status: number; body?: string; lastModified?: string; etag?: string }[],
  ) {}
  #next() {
    const a = this.answers.shift();
    if (!a) throw new TypeError("unexpected transfer");
    return a;
  }
  get(request: PresignedRequest): Promise<Response> {
    this.calls.push(`GET ${request.url}`);
    const a = this.#next();
    return Promise.resolve(
      new Response(a.body ?? null, {
        status: a.status,
        headers: {
          ...(a.lastModified ? { "last-modified": a.lastModified } : {}),
          ...(a.etag ? { "etag": a.etag } : {}),
          ...(a.body ? { "content-length": String(a.body.length) } : {}),
        },
      }),
    );
  }
  async put(request: PresignedRequest, body: RandomAccessReader) {
    this.calls.push(
      `PUT ${request.url} ${new TextDecoder().decode(await body.read(0, body.size))}`,
    );
    const a = this.#next();
    return { status: a.status, headers: new Headers(), text: a.body ?? "" };
  }
}

function setup(
  answers: ConstructorParameters<typeof ScriptedTransfer>[0],
  limit = 0,
  options: { meter?: string[] } = {},
) {
  const lines: string[] = [];
  const local = new MemoryStore(() => new Date("2026-01-01T00:00:00Z"));
  const transfer = new ScriptedTransfer(answers);
  const store = new DistributedCacheStore({
    local,
    urls: {
      presign: (key, method) =>
        Promise.resolve({ url: `http://s3.test/b/${key}?sig=${method}`, headers: {} }),
    },
    transfer,
    maxUploadedArchiveSize: limit,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    retryDelayMs: 0,
    ...(options.meter
      ? { progress: { write: (t: string) => options.meter!.push(t), intervalMs: 60_000 } }
      : {}),
  });
  return { store, local, transfer, lines };
}

const body = (s: string) => new Response(s).body!;

Deno.test("distributed cache retries an upload after 5xx answers and logs the URL without its signature", async () => {
  const { store, transfer, lines } = setup([{ status: 503 }, { status: 500 }, { status: 200 }]);
  assert.equal(await store.save("deps", "deps", body("zip")), 3);
  assert.deepEqual(transfer.calls, Array(3).fill("PUT http://s3.test/b/deps?sig=PUT zip"));
  assert.equal(lines[0], "Uploading cache.zip to http://s3.test/b/deps");
  assert.equal(lines.filter((l) => l.startsWith("WARNING: Retrying cache transfer")).length, 2);
});

Deno.test("distributed cache asks for the upload URL as the archive starts: the runner signs it while the archive is written", async () => {
  const asked: string[] = [];
  const transfer = new ScriptedTransfer([{ status: 200 }]);
  const store = new DistributedCacheStore({
    local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
    urls: {
      presign: (key, method) => {
        asked.push(`${method} ${key}`);
        return Promise.resolve({ url: `http://s3.test/b/${key}?sig=${method}`, headers: {} });
      },
    },
    transfer,
    maxUploadedArchiveSize: 0,
    log: () => {},
    signal: new AbortController().signal,
  });
  let askedWhileWriting: string[] = [];
  await store.save("deps", "deps", async (sink) => {
    await sink.write(new TextEncoder().encode("zip"));
    askedWhileWriting = [...asked];
  });
  assert.deepEqual(askedWhileWriting, ["PUT deps"]);
  assert.deepEqual(transfer.calls, ["PUT http://s3.test/b/deps?sig=PUT zip"]);
});

Deno.test("distributed cache asks again, once the archive is written, for an upload URL whose early answer was an error (the wait for it may time out during a long archive)", async () => {
  const asked: string[] = [];
  const lines: string[] = [];
  const transfer = new ScriptedTransfer([{ status: 200 }]);
  const store = new DistributedCacheStore({
    local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
    urls: {
      presign: (key, method) => {
        asked.push(`${method} ${key}`);
        return asked.length === 1
          ? Promise.reject(new Error("the runner did not answer in 60 s"))
          : Promise.resolve({ url: `http://s3.test/b/${key}?sig=${method}`, headers: {} });
      },
    },
    transfer,
    maxUploadedArchiveSize: 0,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  });
  assert.equal(await store.save("deps", "deps", body("zip")), 3);
  assert.deepEqual(asked, ["PUT deps", "PUT deps"]);
  assert.deepEqual(transfer.calls, ["PUT http://s3.test/b/deps?sig=PUT zip"]);
  assert.deepEqual(lines, ["Uploading cache.zip to http://s3.test/b/deps"]);
});

Deno.test("distributed cache without an upload URL stores the archive locally and says so in the official words, without failing the save", async () => {
  const lines: string[] = [];
  const local = new MemoryStore(() => new Date("2026-01-01T00:00:00Z"));
  const store = new DistributedCacheStore({
    local,
    urls: {
      presign: () =>
        Promise.reject(new RangeError('[runners.cache.s3] BucketName ".." is not a name')),
    },
    transfer: new ScriptedTransfer([]),
    maxUploadedArchiveSize: 0,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  });
  // Before, the save failed ("Failed to create cache") though the archive was stored.
  assert.equal(await store.save("deps", "deps", body("zip")), 3);
  assert.ok(local.archives.has("deps"));
  assert.deepEqual(lines, [
    'WARNING: No URL for the distributed cache: [runners.cache.s3] BucketName ".." is not a name',
    "No URL provided, cache will not be uploaded to shared cache server. Cache will be stored only locally.",
  ]);
});

Deno.test("distributed cache: a failed archive is what a save reports, and a URL the runner refused matters only for an upload", async () => {
  const lines: string[] = [];
  const transfer = new ScriptedTransfer([]);
  const store = new DistributedCacheStore({
    local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
    urls: { presign: () => Promise.reject(new Error("the runner has no distributed cache")) },
    transfer,
    maxUploadedArchiveSize: 2,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  });
  await assert.rejects(
    store.save("deps", "deps", () => Promise.reject(new Error('Cannot read "a": disk error'))),
    /disk error/,
  );
  // Over the limit: stored locally, no upload, so no URL needed.
  assert.equal(await store.save("deps", "deps", body("zip")), 3);
  assert.deepEqual(lines, [
    "Cache archive size (3) is too big (Limit is set to 2). Cache will be stored only locally.",
  ]);
  assert.deepEqual(transfer.calls, []);
});

Deno.test("distributed cache gives up after three 5xx answers with what the server said", async () => {
  const xml = "<Error><Code>InternalError</Code><Message>boom</Message></Error>";
  const { store } = setup([{ status: 500, body: xml }, { status: 500, body: xml }, {
    status: 500,
    body: xml,
  }]);
  await assert.rejects(
    store.save("deps", "deps", body("zip")),
    /Cannot upload cache: the server answered 500 InternalError: boom/,
  );
});

Deno.test("distributed cache refuses an archive over MaxUploadedArchiveSize with the official message and keeps it locally", async () => {
  const { store, local, transfer, lines } = setup([], 2);
  await store.save("deps", "deps", body("zip"));
  assert.deepEqual(transfer.calls, []);
  assert.ok(local.archives.has("deps"));
  assert.deepEqual(lines, [
    "Cache archive size (3) is too big (Limit is set to 2). Cache will be stored only locally.",
  ]);
});

Deno.test("distributed cache uploads with a negative MaxUploadedArchiveSize, which is no limit as in the official runner", async () => {
  // Before, -1 kept every archive local: "Cache archive size (3) is too big (Limit is set to -1)".
  const { store, transfer, lines } = setup([{ status: 200, body: "" }], -1);
  await store.save("deps", "deps", body("zip"));
  assert.deepEqual(transfer.calls, ["PUT http://s3.test/b/deps?sig=PUT zip"]);
  assert.deepEqual(lines, ["Uploading cache.zip to http://s3.test/b/deps"]);
});

Deno.test("distributed cache: an upload refused for its server-side encryption names ServerSideEncryption", async () => {
  const refusal = { status: 400, body: "<Error><Code>InvalidRequest</Code></Error>" };
  const store = (headers: Record<string, string>) =>
    new DistributedCacheStore({
      local: new MemoryStore(() => new Date("2026-01-01T00:00:00Z")),
      urls: { presign: (key) => Promise.resolve({ url: `http://s3.test/b/${key}`, headers }) },
      transfer: new ScriptedTransfer([refusal]),
      maxUploadedArchiveSize: 0,
      log: () => {},
      signal: new AbortController().signal,
    });
  // radosgw without SSE set up answers so to ServerSideEncryption = "S3"; before,
  // the warning was "the server answered 400 InvalidRequest", naming no setting.
  await assert.rejects(
    store({ "x-amz-server-side-encryption": "AES256" }).save("deps", "deps", body("zip")),
    {
      message: "Cannot upload cache: the server answered 400 InvalidRequest " +
        "(the server refused the ServerSideEncryption of [runners.cache.s3])",
    },
  );
  await assert.rejects(store({}).save("deps", "deps", body("zip")), {
    message: "Cannot upload cache: the server answered 400 InvalidRequest",
  });
});

Deno.test("distributed cache: AWS's answer to a URL signed for another region names BucketLocation", async () => {
  const hint = "(the bucket is in another region: set BucketLocation in [runners.cache.s3] to it)";
  const answers = [
    [
      "AuthorizationQueryParametersError",
      "Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
      400,
    ],
    [
      "AuthorizationHeaderMalformed",
      "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
      400,
    ],
    [
      "PermanentRedirect",
      "The bucket you are attempting to access must be addressed using the specified endpoint.",
      301,
    ],
  ] as const;
  for (const [code, message, status] of answers) {
    const { store } = setup([{
      status,
      body: `<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    }]);
    // Before, the answer alone, naming no setting.
    await assert.rejects(store.save("deps", "deps", body("zip")), {
      message: `Cannot upload cache: the server answered ${status} ${code}: ${message} ${hint}`,
    });
  }
  // The same code for another reason gets no hint.
  const { store } = setup([{
    status: 400,
    body: "<Error><Code>AuthorizationQueryParametersError</Code><Message>X-Amz-Expires must be " +
      "less than a week</Message></Error>",
  }]);
  await assert.rejects(store.save("deps", "deps", body("zip")), {
    message: "Cannot upload cache: the server answered 400 AuthorizationQueryParametersError: " +
      "X-Amz-Expires must be less than a week",
  });
});

Deno.test("distributed cache downloads a newer remote archive, keeps an up-to-date local one, and falls back to it on 404", async () => {
  const newer = setup([{
    status: 200,
    body: "remote",
    lastModified: "Fri, 02 Jan 2026 00:00:00 GMT",
  }]);
  await newer.local.save("deps", "deps", body("local"));
  const reader = await newer.store.open("deps");
  assert.equal(new TextDecoder().decode(await reader!.read(0, reader!.size)), "remote");

  const older = setup([{
    status: 200,
    body: "remote",
    lastModified: "Wed, 31 Dec 2025 00:00:00 GMT",
  }]);
  await older.local.save("deps", "deps", body("local"));
  const kept = await older.store.open("deps");
  assert.equal(new TextDecoder().decode(await kept!.read(0, kept!.size)), "local");
  assert.ok(older.lines.includes("cache.zip is up to date"));

  const missing = setup([{ status: 404, body: "<Error><Code>NoSuchKey</Code></Error>" }]);
  assert.equal(await missing.store.open("deps"), null);
  const noBucket = setup([{ status: 404, body: "<Error><Code>NoSuchBucket</Code></Error>" }]);
  await assert.rejects(noBucket.store.open("deps"), /NoSuchBucket.*does not exist/);
});

Deno.test("distributed cache logs a download as the official helper does: the ETag as a field, no line when up to date", async () => {
  const withTag = setup([{
    status: 200,
    body: "remote",
    lastModified: "Fri, 02 Jan 2026 00:00:00 GMT",
    etag: '"0x8DC5E1"',
  }]);
  await withTag.store.open("deps");
  assert.deepEqual(withTag.lines, [
    `${"Downloading cache from http://s3.test/b/deps".padEnd(50)}  etag="0x8DC5E1"`,
  ]);
  const plain = setup([{ status: 200, body: "remote" }]);
  await plain.store.open("deps");
  assert.deepEqual(plain.lines, ["Downloading cache from http://s3.test/b/deps"]);
});

Deno.test("distributed cache prints the transfer meter for a download and an upload when asked", async () => {
  const meter: string[] = [];
  const { store } = setup([{ status: 200, body: "remote" }, { status: 201 }], 0, { meter });
  await store.open("deps");
  await store.save("other", "other", body("zip"));
  assert.match(meter[0]!, /^\rDownloading cache 0 B\/6 B \(0 B\/s\) {16}$/);
  assert.match(meter[1]!, /^\rDownloading cache 6 B\/6 B \([\d.]+ .?B\/s\) {16}\n$/);
  assert.match(meter[2]!, /^\rUploading cache 0 B\/3 B \(0 B\/s\) {16}$/);
  assert.match(meter[3]!, /^\rUploading cache 3 B\/3 B \([\d.]+ .?B\/s\) {16}\n$/);
  assert.equal(meter.length, 4);
});

Deno.test("distributed cache names the transfer when the network fails after the retries", async () => {
  // No scripted answers: every attempt fails as a connection would.
  const up = setup([]);
  await assert.rejects(
    up.store.save("deps", "deps", body("zip")),
    /^Error: Cannot upload cache: unexpected transfer$/,
  );
  const down = setup([]);
  await assert.rejects(
    down.store.open("deps"),
    /^Error: Cannot download cache: unexpected transfer$/,
  );
});
