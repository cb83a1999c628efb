import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { cacheEndpoints } from "./cache_endpoint.ts";
import { GcsUrlSigner, signGcsUrl } from "./gcs_url_signer.ts";
import vectors from "./testdata/gcs_v4_signatures.json" with { type: "json" };

const credentials = {
  clientEmail: vectors.serviceAccount.client_email,
  privateKey: vectors.serviceAccount.private_key,
};

for (const t of vectors.tests) {
  Deno.test(`GCS V4 signing matches Google's example "${t.description}"`, () => {
    const url = signGcsUrl(credentials, {
      bucket: t.bucket,
      objectName: t.object ?? "",
      method: t.method,
      expiresSeconds: t.expiration,
      now: new Date(t.timestamp),
      ...(t.headers ? { headers: t.headers as Record<string, string> } : {}),
    });
    assert.equal(url, t.expectedUrl);
  });
}

Deno.test("GCS signer: PUT URLs sign the official content type", async () => {
  {
    const signer = new GcsUrlSigner(
      {
        ...defaultRunnerConfig("shell").cache.gcs,
        accessId: credentials.clientEmail,
        privateKey: credentials.privateKey,
        bucketName: "cache",
      },
      { env: () => undefined, now: () => new Date("2026-01-02T03:04:05Z") },
    );
    const put = await signer.presign("project/1/deps", "PUT", { expiresSeconds: 600 });
    const url = new URL(put.url);
    assert.equal(url.origin + url.pathname, "https://storage.googleapis.com/cache/project/1/deps");
    assert.equal(url.searchParams.get("X-Goog-SignedHeaders"), "content-type;host");
    assert.equal(url.searchParams.get("X-Goog-Expires"), "600");
    assert.match(url.searchParams.get("X-Goog-Credential") ?? "", /^test-iam-credentials@/);
    assert.deepEqual(put.headers, { "Content-Type": "application/octet-stream" });
  }
});

Deno.test("GCS signer: a config without a key or bucket is refused naming the keys", async () => {
  const gcs = defaultRunnerConfig("shell").cache.gcs;
  const env = { env: () => undefined };
  assert.throws(() => new GcsUrlSigner(gcs, env), /BucketName is empty/);
  assert.throws(
    () => new GcsUrlSigner({ ...gcs, bucketName: "b" }, env),
    /needs CredentialsFile, or AccessID and PrivateKey/,
  );
  const missing = new GcsUrlSigner({
    ...gcs,
    bucketName: "b",
    credentialsFile: "/nonexistent/key.json",
  }, env);
  await assert.rejects(
    missing.presign("k", "GET", { expiresSeconds: 60 }),
    /Cannot read \[runners.cache.gcs\] CredentialsFile/,
  );
});

Deno.test("GCS signer: a BucketName a URL path cannot hold is refused naming the key", () => {
  const gcs = {
    ...defaultRunnerConfig("shell").cache.gcs,
    accessId: credentials.clientEmail,
    privateKey: credentials.privateKey,
  };
  const refused = (bucketName: string, message: string) =>
    assert.throws(() => new GcsUrlSigner({ ...gcs, bucketName }, { env: () => undefined }), {
      message,
    });
  // Before, the name went into the path as written: "other/x" and ".." put
  // the cache in the bucket "other" or "runner", "a b" got a 403.
  for (const bucketName of ["other/x", "a b", "a?b"]) {
    refused(
      bucketName,
      `[runners.cache.gcs] BucketName ${
        JSON.stringify(bucketName)
      } is not a bucket name: letters, digits, ".", "-" and "_" only`,
    );
  }
  for (const bucketName of [".", ".."]) {
    refused(
      bucketName,
      `[runners.cache.gcs] BucketName ${
        JSON.stringify(bucketName)
      } is not a name: a URL resolves it as a path step, so the cache would go to another bucket or container`,
    );
  }
  new GcsUrlSigner({ ...gcs, bucketName: "my_cache.example-1" }, { env: () => undefined });
});

Deno.test("GCS signer: a UniverseDomain that is not a domain is refused naming the key, and grants no network access Deno would refuse", async () => {
  const cache = defaultRunnerConfig("shell").cache;
  for (const universeDomain of ["https://example.com", "example.com/x", "a b"]) {
    const gcs = {
      ...cache.gcs,
      bucketName: "b",
      accessId: credentials.clientEmail,
      privateKey: credentials.privateKey,
      universeDomain,
    };
    const signer = new GcsUrlSigner(gcs, { env: () => undefined });
    await assert.rejects(signer.presign("k", "GET", { expiresSeconds: 60 }), (err: Error) => {
      assert.equal(
        err.message,
        `[runners.cache.gcs] UniverseDomain ${JSON.stringify(universeDomain)} is not a domain`,
      );
      return true;
    });
    // Before, "storage.https://example.com:443" went into the executor process's
    // --allow-net, which Deno refuses ("URLs are not supported").
    assert.deepEqual(cacheEndpoints({ ...cache, type: "gcs", gcs }), []);
  }
  const gcs = { ...cache.gcs, bucketName: "b", universeDomain: "example.com" };
  assert.deepEqual(cacheEndpoints({ ...cache, type: "gcs", gcs }), ["storage.example.com:443"]);
});
