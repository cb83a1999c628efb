/**
 * The S3 signer over the network: what a user sees when the endpoint it
 * must reach to sign (STS, for RoleARN) does not answer.
 */
import assert from "node:assert/strict";
import type { S3CacheConfig } from "../config/runner_config.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { S3UrlSigner } from "./s3_url_signer.ts";

function s3(overrides: Partial<S3CacheConfig>): S3CacheConfig {
  return { ...defaultRunnerConfig("shell").cache.s3, bucketName: "cache", ...overrides };
}

Deno.test("RoleARN: an STS endpoint that cannot be reached says why, not only 'fetch failed'", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const signer = new S3UrlSigner(
    s3({
      accessKey: "AK",
      secretKey: "SK",
      serverAddress: `127.0.0.1:${port}`,
      insecure: true,
      roleArn: "arn:aws:iam:::role/r",
    }),
    { env: () => undefined },
  );
  await assert.rejects(signer.presign("k", "GET", { expiresSeconds: 60 }), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(
        `^Cannot assume role "arn:aws:iam:::role/r" at http://127\\.0\\.0\\.1:${port}: fetch failed: .*Connection refused`,
      ),
    );
    return true;
  });
});
