import assert from "node:assert/strict";
import type { S3CacheConfig } from "../config/runner_config.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { cacheObjectName } from "./cache_object_name.ts";
import { s3ObjectUrl } from "./s3_endpoint.ts";
import { S3UrlSigner } from "./s3_url_signer.ts";

function s3(overrides: Partial<S3CacheConfig>): S3CacheConfig {
  return { ...defaultRunnerConfig("shell").cache.s3, bucketName: "cache", ...overrides };
}

const AT = new Date("2026-01-02T03:04:05Z");
const signer = (config: S3CacheConfig, env: Record<string, string> = {}) =>
  new S3UrlSigner(config, { env: (k) => env[k], now: () => AT });

Deno.test("object names follow the official layout, with and without Shared and Path", () => {
  const o = { path: "", shared: false, shortToken: "abc12345", projectId: 7 };
  assert.equal(cacheObjectName("deps", o), "runner/abc12345/project/7/deps");
  assert.equal(cacheObjectName("a/b", { ...o, shared: true }), "project/7/a/b");
  assert.equal(cacheObjectName("k", { ...o, path: "ci/" }), "ci/runner/abc12345/project/7/k");
  assert.throws(() => cacheObjectName("../../x", o), /leaves the project's cache prefix/);
});

Deno.test("S3 URL forms: custom server path style, AWS virtual host, dual-stack, accelerate, path style", () => {
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "127.0.0.1:7480", insecure: true }), "p/1/k").href,
    "http://127.0.0.1:7480/cache/p/1/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ bucketLocation: "eu-west-1", dualStack: false }), "k").href,
    "https://cache.s3.eu-west-1.amazonaws.com/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ bucketLocation: "eu-west-1" }), "k").href,
    "https://cache.s3.dualstack.eu-west-1.amazonaws.com/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ accelerate: true, dualStack: false }), "k").href,
    "https://cache.s3-accelerate.amazonaws.com/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ pathStyle: true, dualStack: false }), "k").href,
    "https://s3.us-east-1.amazonaws.com/cache/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "minio.local", pathStyle: false }), "k").href,
    "https://cache.minio.local/k",
  );
  assert.throws(() => s3ObjectUrl(s3({ bucketName: "" }), "k"), /BucketName is empty/);
});

Deno.test("pre-signed URLs carry the expiry, region, session token and the signed SSE headers", async () => {
  const config = s3({
    serverAddress: "127.0.0.1:7480",
    accessKey: "AKID",
    secretKey: "SECRET",
    sessionToken: "TOKEN",
    bucketLocation: "eu-central-1",
    serverSideEncryption: "KMS",
    serverSideEncryptionKeyId: "alias/cache",
  });
  const put = await signer(config).presign("project/1/deps", "PUT", { expiresSeconds: 900 });
  const url = new URL(put.url);
  assert.equal(url.origin + url.pathname, "https://127.0.0.1:7480/cache/project/1/deps");
  assert.equal(url.searchParams.get("X-Amz-Expires"), "900");
  assert.equal(url.searchParams.get("X-Amz-Date"), "20260102T030405Z");
  assert.equal(
    url.searchParams.get("X-Amz-Credential"),
    "AKID/20260102/eu-central-1/s3/aws4_request",
  );
  assert.equal(url.searchParams.get("X-Amz-Security-Token"), "TOKEN");
  assert.match(url.searchParams.get("X-Amz-SignedHeaders") ?? "", /x-amz-server-side-encryption/);
  assert.deepEqual(put.headers, {
    "x-amz-server-side-encryption": "aws:kms",
    "x-amz-server-side-encryption-aws-kms-key-id": "alias/cache",
  });
  assert.ok(!put.url.includes("SECRET"));
  const get = await signer(config).presign("project/1/deps", "GET", { expiresSeconds: 900 });
  assert.deepEqual(get.headers, {});
  assert.notEqual(
    new URL(get.url).searchParams.get("X-Amz-Signature"),
    url.searchParams.get("X-Amz-Signature"),
  );
});

Deno.test("S3 config errors name the key", async () => {
  assert.throws(
    () => signer(s3({ serverSideEncryption: "ROT13", accessKey: "a", secretKey: "b" })),
    /ServerSideEncryption "ROT13"/,
  );
  assert.throws(() => signer(s3({ authenticationType: "magic" })), /AuthenticationType "magic"/);
  assert.throws(
    () => signer(s3({ authenticationType: "access-key" })),
    /AccessKey and SecretKey are required/,
  );
  const iam = signer(s3({ authenticationType: "iam" }), {
    AWS_ACCESS_KEY_ID: "ENVID",
    AWS_SECRET_ACCESS_KEY: "x",
  });
  const url = new URL((await iam.presign("k", "GET", { expiresSeconds: 60 })).url);
  assert.match(url.searchParams.get("X-Amz-Credential") ?? "", /^ENVID\//);
});
