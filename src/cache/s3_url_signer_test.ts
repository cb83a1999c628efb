import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import type { S3CacheConfig } from "../config/runner_config.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { cacheObjectName } from "./cache_object_name.ts";
import { s3ObjectUrl, s3StsUrl } from "./s3_endpoint.ts";
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

Deno.test('a [runners.cache] Path that climbs out of the bucket with ".." is refused naming the key', () => {
  const o = { path: "", shared: false, shortToken: "abc12345", projectId: 7 };
  for (const path of ["..", "../other-bucket", "ci/../.."]) {
    for (const shared of [false, true]) {
      assert.throws(
        () => cacheObjectName("deps", { ...o, path, shared }),
        (err: Error) => {
          assert.equal(
            err.message,
            `[runners.cache] Path ${
              JSON.stringify(path)
            } leaves the bucket or container: remove "../" from it`,
          );
          return true;
        },
      );
    }
  }
  // Before, ".." put the object in the bucket named "runner" on the same server.
  assert.equal(
    cacheObjectName("k", { ...o, path: "ci/../cache" }),
    "cache/runner/abc12345/project/7/k",
  );
  assert.equal(cacheObjectName("k", { ...o, path: "/ci/" }), "ci/runner/abc12345/project/7/k");
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

Deno.test('ServerAddress "s3.amazonaws.com" is AWS\'s default endpoint, as in the official runner: BucketLocation, DualStack and Accelerate choose the host', () => {
  // Before, the host was s3.amazonaws.com whatever DualStack and Accelerate said.
  for (const serverAddress of ["s3.amazonaws.com", "s3.amazonaws.com:443"]) {
    assert.equal(
      s3ObjectUrl(s3({ serverAddress, bucketLocation: "eu-west-1" }), "k").href,
      "https://cache.s3.dualstack.eu-west-1.amazonaws.com/k",
    );
    assert.equal(
      s3ObjectUrl(s3({ serverAddress, accelerate: true, dualStack: false }), "k").href,
      "https://cache.s3-accelerate.amazonaws.com/k",
    );
  }
  // Over plain HTTP it is an address like any other (the official endpoint differs too).
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "s3.amazonaws.com", insecure: true, accelerate: true }), "k")
      .href,
    "http://cache.s3.amazonaws.com/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "s3.amazonaws.com", bucketName: "my.cache" }), "k").href,
    "https://s3.dualstack.us-east-1.amazonaws.com/my.cache/k",
  );
});

Deno.test("an AWS China region (cn-*) is reached under amazonaws.com.cn, its STS too", () => {
  // Before, "https://cache.s3.dualstack.cn-north-1.amazonaws.com/k": no such host.
  assert.equal(
    s3ObjectUrl(s3({ bucketLocation: "cn-north-1" }), "k").href,
    "https://cache.s3.dualstack.cn-north-1.amazonaws.com.cn/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ bucketLocation: "cn-northwest-1", dualStack: false }), "k").href,
    "https://cache.s3.cn-northwest-1.amazonaws.com.cn/k",
  );
  // Before, a China ServerAddress took STS at the S3 address itself, as for radosgw.
  const china = s3({
    serverAddress: "s3.cn-north-1.amazonaws.com.cn",
    bucketLocation: "cn-north-1",
  });
  assert.equal(s3ObjectUrl(china, "k").href, "https://cache.s3.cn-north-1.amazonaws.com.cn/k");
  assert.equal(s3StsUrl(china), "https://sts.cn-north-1.amazonaws.com.cn/");
});

Deno.test("Accelerate with a ServerAddress of its own changes nothing, as in the official runner", () => {
  // Before, it put the bucket in the host name: "http://cache.minio:9000/k".
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "minio:9000", insecure: true, accelerate: true }), "k").href,
    "http://minio:9000/cache/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "127.0.0.1:7480", accelerate: true }), "k").href,
    "https://127.0.0.1:7480/cache/k",
  );
});

Deno.test("a bucket name with dots on an AWS ServerAddress goes in the path under TLS, as the official client detects", () => {
  // Before, "https://my.cache.s3.amazonaws.com/k": AWS's certificate
  // (*.s3.amazonaws.com) covers one label, so every transfer failed TLS.
  for (const serverAddress of ["s3.eu-west-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]) {
    assert.equal(
      s3ObjectUrl(s3({ serverAddress, bucketName: "my.cache" }), "k").href,
      `https://${serverAddress}/my.cache/k`,
    );
    assert.equal(
      s3ObjectUrl(s3({ serverAddress, bucketName: "my-cache" }), "k").href,
      `https://my-cache.${serverAddress}/k`,
    );
    assert.equal(
      s3ObjectUrl(s3({ serverAddress, bucketName: "my.cache", insecure: true }), "k").href,
      `http://my.cache.${serverAddress}/k`,
    );
  }
});

Deno.test("an S3 ServerAddress, BucketName or BucketLocation that cannot make the URL is refused naming the key", () => {
  const refused = (overrides: Partial<S3CacheConfig>, message: string) =>
    assert.throws(() => s3ObjectUrl(s3(overrides), "k"), (err: Error) => {
      assert.equal(err.message, message);
      return true;
    });
  refused(
    { serverAddress: "https://minio.local:9000" },
    '[runners.cache.s3] ServerAddress "https://minio.local:9000" is not host[:port]: write "minio.local:9000" (Insecure = true selects http)',
  );
  refused(
    { serverAddress: "minio.local:9000/cache" },
    '[runners.cache.s3] ServerAddress "minio.local:9000/cache" is not host[:port]: a path is not allowed',
  );
  refused(
    { serverAddress: "minio.local:99999" },
    '[runners.cache.s3] ServerAddress "minio.local:99999" is not host[:port]: port 99999 is out of range 0-65535',
  );
  refused(
    { serverAddress: "minio local" },
    '[runners.cache.s3] ServerAddress "minio local" is not host[:port]',
  );
  refused(
    { bucketName: "a/b" },
    '[runners.cache.s3] BucketName "a/b" is not a bucket name: letters, digits, ".", "-" and "_" only',
  );
  // A URL resolves them: with Shared = true the cache went to the bucket "project".
  for (const bucketName of [".", ".."]) {
    refused(
      { serverAddress: "127.0.0.1:7480", bucketName },
      `[runners.cache.s3] BucketName ${
        JSON.stringify(bucketName)
      } is not a name: a URL resolves it as a path step, so the cache would go to another bucket or container`,
    );
  }
  // Before, "Invalid URL: 'http://cache.127.0.0.1:7480/k'", naming no key.
  for (const serverAddress of ["127.0.0.1:7480", "[::1]:7480"]) {
    refused(
      { serverAddress, pathStyle: false },
      `[runners.cache.s3] PathStyle = false does not work with ServerAddress ${
        JSON.stringify(serverAddress)
      }: an IP address cannot take the bucket as a subdomain (remove PathStyle)`,
    );
  }
  refused(
    { bucketLocation: "../x" },
    '[runners.cache.s3] BucketLocation "../x" is not a region name: letters, digits, "-" and "_" only',
  );
  // What works stays: IPv6, a port, a legacy bucket name, a radosgw zonegroup.
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "[::1]:7480", bucketName: "Old_Bucket" }), "k").href,
    "https://[::1]:7480/Old_Bucket/k",
  );
  assert.equal(
    s3ObjectUrl(s3({ serverAddress: "rgw:7480", bucketLocation: "zg_1" }), "k").href,
    "https://rgw:7480/cache/k",
  );
});

Deno.test("AccessKey and SecretKey without AuthenticationType sign, with or without ServerAddress (the official runner takes iam without ServerAddress)", async () => {
  for (const serverAddress of ["", "127.0.0.1:7480"]) {
    const request = await signer(s3({ serverAddress, accessKey: "AKID", secretKey: "SECRET" }))
      .presign("k", "GET", { expiresSeconds: 60 });
    assert.match(new URL(request.url).searchParams.get("X-Amz-Credential") ?? "", /^AKID\//);
  }
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

/** A fake STS: records each AssumeRole form and answers with numbered credentials. */
function fakeSts(answer?: { status: number; body: string }) {
  const calls: { url: string; form: URLSearchParams; authorization: string }[] = [];
  const fetcher = (input: string | URL | Request, init?: RequestInit) => {
    const form = new URLSearchParams(String(init?.body));
    calls.push({
      url: String(input),
      form,
      authorization: new Headers(init?.headers).get("authorization") ?? "",
    });
    if (answer) return Promise.resolve(new Response(answer.body, { status: answer.status }));
    const n = calls.length;
    return Promise.resolve(
      new Response(
        `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>TMP${n}</AccessKeyId>` +
          `<SecretAccessKey>secret${n}</SecretAccessKey><SessionToken>token+${n}/x</SessionToken>` +
          `<Expiration>2026-01-02T04:04:05Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`,
      ),
    );
  };
  return { calls, fetch: fetcher as typeof fetch };
}

Deno.test("an upload stores the key as signed x-amz-meta-cachekey metadata; a non-ASCII value is left out", async () => {
  const config = s3({ accessKey: "AK", secretKey: "SK", serverAddress: "h:1", insecure: true });
  const put = await signer(config).presign("k", "PUT", {
    expiresSeconds: 60,
    metadata: { cachekey: "deps-protected" },
  });
  assert.deepEqual(put.headers, { "x-amz-meta-cachekey": "deps-protected" });
  assert.match(new URL(put.url).searchParams.get("X-Amz-SignedHeaders")!, /x-amz-meta-cachekey/);
  const odd = await signer(config).presign("k", "PUT", {
    expiresSeconds: 60,
    metadata: { cachekey: "clé" },
  });
  assert.deepEqual(odd.headers, {});
});

Deno.test("RoleARN: AssumeRole with the official session policy (one action on one object), URLs signed with the temporary credentials, reused per object and direction", async () => {
  const sts = fakeSts();
  const config = s3({
    accessKey: "AKBASE",
    secretKey: "base",
    bucketLocation: "eu-west-1",
    roleArn: "arn:aws:iam::123:role/cache",
  });
  const signer = new S3UrlSigner(config, { env: () => undefined, now: () => AT, fetch: sts.fetch });
  const put = new URL(
    (await signer.presign("project/7/deps", "PUT", { expiresSeconds: 7200 })).url,
  );
  assert.equal(sts.calls.length, 1);
  const call = sts.calls[0]!;
  assert.equal(call.url, "https://sts.eu-west-1.amazonaws.com/");
  assert.match(call.authorization, /Credential=AKBASE\/\d+\/eu-west-1\/sts\/aws4_request/);
  assert.equal(call.form.get("Action"), "AssumeRole");
  assert.equal(call.form.get("RoleArn"), "arn:aws:iam::123:role/cache");
  assert.equal(call.form.get("DurationSeconds"), "3600");
  assert.match(call.form.get("RoleSessionName")!, /^gitlab-runner-cache-upload-[0-9a-f]{8}$/);
  assert.deepEqual(JSON.parse(call.form.get("Policy")!), {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: ["s3:PutObject"],
      Resource: "arn:aws:s3:::cache/project/7/deps",
    }],
  });
  assert.match(put.searchParams.get("X-Amz-Credential")!, /^TMP1\//);
  assert.equal(put.searchParams.get("X-Amz-Security-Token"), "token+1/x");
  // The URL dies with the credentials: an hour, not the two asked for.
  assert.equal(put.searchParams.get("X-Amz-Expires"), "3600");

  await signer.presign("project/7/deps", "PUT", { expiresSeconds: 60 });
  assert.equal(sts.calls.length, 1, "the same object and direction reuse the credentials");
  const get = new URL((await signer.presign("project/7/deps", "GET", { expiresSeconds: 60 })).url);
  assert.equal(sts.calls.length, 2);
  assert.deepEqual(JSON.parse(sts.calls[1]!.form.get("Policy")!).Statement[0].Action, [
    "s3:GetObject",
  ]);
  assert.match(get.searchParams.get("X-Amz-Credential")!, /^TMP2\//);
});

Deno.test("RoleARN: DisableAssumeRoleCredentialsCaching asks every time; UploadRoleARN is for uploads only; an STS refusal names the role", async () => {
  const sts = fakeSts();
  const base = { accessKey: "AK", secretKey: "SK", serverAddress: "10.0.0.5:7480", insecure: true };
  const uncached = new S3UrlSigner(
    s3({ ...base, roleArn: "arn:aws:iam:::role/r", disableAssumeRoleCredentialsCaching: true }),
    { env: () => undefined, now: () => AT, fetch: sts.fetch },
  );
  await uncached.presign("k", "GET", { expiresSeconds: 60 });
  await uncached.presign("k", "GET", { expiresSeconds: 60 });
  assert.equal(sts.calls.length, 2);
  assert.equal(sts.calls[0]!.url, "http://10.0.0.5:7480/", "an S3-compatible server's own STS");

  const upload = fakeSts();
  const uploadOnly = new S3UrlSigner(s3({ ...base, uploadRoleArn: "arn:aws:iam:::role/u" }), {
    env: () => undefined,
    now: () => AT,
    fetch: upload.fetch,
  });
  const get = new URL((await uploadOnly.presign("k", "GET", { expiresSeconds: 60 })).url);
  assert.match(get.searchParams.get("X-Amz-Credential")!, /^AK\//);
  await uploadOnly.presign("k", "PUT", { expiresSeconds: 60 });
  assert.equal(upload.calls.length, 1);
  assert.equal(upload.calls[0]!.form.get("RoleArn"), "arn:aws:iam:::role/u");

  const refusing = fakeSts({
    status: 403,
    body:
      "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>",
  });
  const refused = new S3UrlSigner(s3({ ...base, roleArn: "arn:aws:iam:::role/r" }), {
    env: () => undefined,
    now: () => AT,
    fetch: refusing.fetch,
  });
  await assert.rejects(
    refused.presign("k", "PUT", { expiresSeconds: 60 }),
    /Cannot assume role "arn:aws:iam:::role\/r" at http:\/\/10\.0\.0\.5:7480: STS answered 403 AccessDenied: not allowed/,
  );
});

Deno.test("RoleARN: AssumeRoleMaxConcurrency bounds the STS calls in flight", async () => {
  let inFlight = 0;
  let most = 0;
  const sts = fakeSts();
  const slow = (async (input: string | URL | Request, init?: RequestInit) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return await sts.fetch(input, init);
  }) as typeof fetch;
  const signerFor = (limit: number) =>
    new S3UrlSigner(
      s3({ accessKey: "AK", secretKey: "SK", roleArn: "arn:r", assumeRoleMaxConcurrency: limit }),
      { env: () => undefined, now: () => AT, fetch: slow },
    );
  const objects = Array.from({ length: 6 }, (_, i) => `k${i}`);
  // One signer per [runners.cache] section (CacheUrlSigners), as the official client per config.
  const shared = signerFor(2);
  await Promise.all(objects.map((k) => shared.presign(k, "GET", { expiresSeconds: 60 })));
  assert.equal(most, 2);
  most = 0;
  const unlimited = signerFor(-1);
  await Promise.all(objects.map((k) => unlimited.presign(k, "GET", { expiresSeconds: 60 })));
  assert.equal(most, 6);
});

/**
 * What S3 checks for a pre-signed request (SigV4, query form): the signature
 * rebuilt from the URL and the headers the holder sends, with the secret key.
 */
function isValidS3Signature(
  url: string,
  sent: Record<string, string>,
  o: { method: string; secretKey: string },
): boolean {
  const u = new URL(url);
  const q = u.searchParams;
  const encode = (v: string) =>
    encodeURIComponent(v).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  const query = [...q.entries()].filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => `${encode(k)}=${encode(v)}`).sort().join("&");
  const signed = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
  const lower = Object.fromEntries(Object.entries(sent).map(([k, v]) => [k.toLowerCase(), v]));
  const value = (h: string) => h === "host" ? u.host : (lower[h] ?? "").trim();
  const canonical = [
    o.method,
    u.pathname,
    query,
    signed.map((h) => `${h}:${value(h)}\n`).join(""),
    signed.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const [, date, region, service] = (q.get("X-Amz-Credential") ?? "").split("/");
  const toSign = [
    "AWS4-HMAC-SHA256",
    q.get("X-Amz-Date"),
    `${date}/${region}/${service}/aws4_request`,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const hmac = (key: string | Buffer, data: string) =>
    createHmac("sha256", key).update(data).digest();
  const key = ["aws4_request"].reduce(
    (k, part) => hmac(k, part),
    hmac(hmac(hmac(`AWS4${o.secretKey}`, date!), region!), service!),
  );
  return createHmac("sha256", key).update(toSign).digest("hex") === q.get("X-Amz-Signature");
}

Deno.test('ServerSideEncryption = "S3" signs x-amz-server-side-encryption: AES256 into an upload URL, as the official runner; downloads carry none', async () => {
  const config = s3({
    serverAddress: "127.0.0.1:7480",
    accessKey: "AKID",
    secretKey: "SECRET",
    serverSideEncryption: "S3",
  });
  const put = await signer(config).presign("project/1/deps", "PUT", { expiresSeconds: 600 });
  assert.deepEqual(put.headers, { "x-amz-server-side-encryption": "AES256" });
  assert.equal(
    new URL(put.url).searchParams.get("X-Amz-SignedHeaders"),
    "host;x-amz-server-side-encryption",
  );
  // S3 accepts the PUT with the header the runner sends, and refuses it without or with another value.
  const check = { method: "PUT", secretKey: "SECRET" };
  assert.ok(isValidS3Signature(put.url, put.headers, check));
  assert.ok(!isValidS3Signature(put.url, {}, check));
  assert.ok(!isValidS3Signature(put.url, { "x-amz-server-side-encryption": "aws:kms" }, check));
  // "AES256" is the official alias; the value is case-insensitive.
  for (const alias of ["AES256", "s3"]) {
    const other = await signer(s3({ ...config, serverSideEncryption: alias }))
      .presign("project/1/deps", "PUT", { expiresSeconds: 600 });
    assert.deepEqual(other.headers, put.headers);
  }
  const get = await signer(config).presign("project/1/deps", "GET", { expiresSeconds: 600 });
  assert.deepEqual(get.headers, {});
  assert.equal(new URL(get.url).searchParams.get("X-Amz-SignedHeaders"), "host");
  assert.ok(isValidS3Signature(get.url, {}, { method: "GET", secretKey: "SECRET" }));
});

/**
 * The EC2 instance metadata service (IMDSv2) as seen through fetch: a session
 * token from PUT /latest/api/token, required on every metadata read.
 */
function fakeImds(options: { role?: string; expiration?: Date } = {}) {
  const calls: string[] = [];
  const fetcher = (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const headers = new Headers(init?.headers);
    calls.push(`${method} ${url.href}`);
    const answer = (status: number, body: string) =>
      Promise.resolve(new Response(body, { status }));
    if (url.origin !== "http://169.254.169.254") return answer(599, "not the IMDS address");
    if (url.pathname === "/latest/api/token") {
      if (method !== "PUT" || !headers.get("x-aws-ec2-metadata-token-ttl-seconds")) {
        return answer(400, "Bad Request");
      }
      return answer(200, "IMDS-SESSION-TOKEN");
    }
    if (headers.get("x-aws-ec2-metadata-token") !== "IMDS-SESSION-TOKEN") {
      return answer(401, "Unauthorized");
    }
    const base = "/latest/meta-data/iam/security-credentials/";
    if (options.role === undefined) return answer(404, "<html>404 - Not Found</html>");
    if (url.pathname === base) return answer(200, `${options.role}\n`);
    if (url.pathname === base + options.role) {
      return answer(
        200,
        JSON.stringify({
          Code: "Success",
          Type: "AWS-HMAC",
          AccessKeyId: "ASIAINSTANCE",
          SecretAccessKey: "instance-secret",
          Token: "instance-session-token",
          Expiration: (options.expiration ?? new Date(AT.getTime() + 6 * 3600_000)).toISOString(),
        }),
      );
    }
    return answer(404, "<html>404 - Not Found</html>");
  };
  return { calls, fetch: fetcher as typeof fetch };
}

Deno.test('AuthenticationType = "iam" without environment keys: IMDSv2 token, then the role name, then its credentials sign the URL, reused while valid', async () => {
  const imds = fakeImds({ role: "gitlab-runner-cache" });
  const iam = new S3UrlSigner(
    s3({ authenticationType: "iam", bucketLocation: "eu-west-1", dualStack: false }),
    { env: () => undefined, now: () => AT, fetch: imds.fetch },
  );
  const put = await iam.presign("project/1/deps", "PUT", { expiresSeconds: 3600 });
  const base = "http://169.254.169.254/latest";
  assert.deepEqual(imds.calls, [
    `PUT ${base}/api/token`,
    `GET ${base}/meta-data/iam/security-credentials/`,
    `GET ${base}/meta-data/iam/security-credentials/gitlab-runner-cache`,
  ]);
  const url = new URL(put.url);
  assert.equal(
    url.searchParams.get("X-Amz-Credential"),
    "ASIAINSTANCE/20260102/eu-west-1/s3/aws4_request",
  );
  assert.equal(url.searchParams.get("X-Amz-Security-Token"), "instance-session-token");
  assert.ok(
    isValidS3Signature(put.url, put.headers, { method: "PUT", secretKey: "instance-secret" }),
  );
  // The role's credentials are good for hours: the next URL needs no metadata call.
  await iam.presign("project/1/deps", "GET", { expiresSeconds: 3600 });
  assert.equal(imds.calls.length, 3);
});

Deno.test('AuthenticationType = "iam": a URL signed with instance-role credentials does not outlive them', async () => {
  const imds = fakeImds({ role: "r", expiration: new Date(AT.getTime() + 600_000) });
  const iam = new S3UrlSigner(s3({ authenticationType: "iam" }), {
    env: () => undefined,
    now: () => AT,
    fetch: imds.fetch,
  });
  const get = await iam.presign("k", "GET", { expiresSeconds: 3600 });
  assert.equal(new URL(get.url).searchParams.get("X-Amz-Expires"), "600");
});

Deno.test('AuthenticationType = "iam": an instance without a role, or without a metadata service, is a clear error', async () => {
  const noRole = new S3UrlSigner(s3({ authenticationType: "iam" }), {
    env: () => undefined,
    now: () => AT,
    fetch: fakeImds().fetch,
  });
  await assert.rejects(
    noRole.presign("k", "GET", { expiresSeconds: 60 }),
    /^Error: No S3 credentials for AuthenticationType "iam": AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY are unset and the instance role is unavailable: the instance has no IAM role$/,
  );
  const offline = new S3UrlSigner(s3({ authenticationType: "iam" }), {
    env: () => undefined,
    now: () => AT,
    fetch: () => Promise.reject(new TypeError("error sending request: connection refused")),
  });
  await assert.rejects(
    offline.presign("k", "GET", { expiresSeconds: 60 }),
    /the instance role is unavailable: error sending request: connection refused/,
  );
});
