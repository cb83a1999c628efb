/**
 * A GCS pre-signed URL used as the executor process uses it (HttpObjectTransfer),
 * against a local HTTP server that checks the V4 query and verifies the
 * signature with the service account's public key, the way GCS does.
 */
import assert from "node:assert/strict";
import {
  createHash,
  createPublicKey,
  createVerify,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { BytesReader } from "../archive/random_access_reader.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { GcsUrlSigner } from "./gcs_url_signer.ts";
import { HttpObjectTransfer } from "./object_transfer.ts";
import vectors from "./testdata/gcs_v4_signatures.json" with { type: "json" };

const encode = (v: string) =>
  encodeURIComponent(v).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

/** What GCS checks: the canonical request rebuilt from the request as received. */
function verify(
  request: Request,
  body: Uint8Array,
  key: KeyObject = createPublicKey(vectors.serviceAccount.private_key),
): string | null {
  const url = new URL(request.url);
  const q = url.searchParams;
  for (const name of ["X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires"]) {
    if (!q.get(name)) return `missing ${name}`;
  }
  const signature = q.get("X-Goog-Signature") ?? "";
  const signed = (q.get("X-Goog-SignedHeaders") ?? "").split(";");
  const query = [...q.entries()].filter(([k]) => k !== "X-Goog-Signature")
    .map(([k, v]) => `${encode(k)}=${encode(v)}`).sort().join("&");
  // The server stands in for storage.x (the signed host), as a proxy in front of it would.
  const value = (h: string) => h === "host" ? "storage.x" : (request.headers.get(h) ?? "").trim();
  const headers = signed.map((h) => `${h}:${value(h)}\n`).join("");
  const canonical = [
    request.method,
    url.pathname,
    query,
    headers,
    signed.join(";"),
    "UNSIGNED-PAYLOAD",
  ]
    .join("\n");
  const scope = (q.get("X-Goog-Credential") ?? "").split("/").slice(1).join("/");
  const toSign = [
    "GOOG4-RSA-SHA256",
    q.get("X-Goog-Date"),
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  if (!createVerify("RSA-SHA256").update(toSign).verify(key, signature, "hex")) {
    return "SignatureDoesNotMatch";
  }
  if (request.method === "PUT" && request.headers.get("content-length") !== String(body.length)) {
    return "content-length missing";
  }
  return null;
}

Deno.test("a GCS pre-signed PUT and GET pass a server that verifies the V4 signature", async () => {
  const stored = new Map<string, Uint8Array<ArrayBuffer>>();
  const cacheKeys = new Map<string, string | null>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      const problem = verify(req, body);
      if (problem) return new Response(`<Error><Code>${problem}</Code></Error>`, { status: 403 });
      const path = new URL(req.url).pathname;
      if (req.method === "PUT") {
        stored.set(path, body);
        cacheKeys.set(path, req.headers.get("x-goog-meta-cachekey"));
        return new Response(null, { status: 200 });
      }
      const object = stored.get(path);
      return object
        ? new Response(object)
        : new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
    },
  );
  const signer = new GcsUrlSigner(
    {
      ...defaultRunnerConfig("shell").cache.gcs,
      accessId: vectors.serviceAccount.client_email,
      privateKey: vectors.serviceAccount.private_key,
      bucketName: "cache",
      // The host is part of the signature; the test server stands in for storage.<domain>.
      universeDomain: "x",
    },
    { env: () => undefined },
  );
  const local = (url: string) =>
    url.replace("https://storage.x", `http://127.0.0.1:${server.addr.port}`);
  const transfer = new HttpObjectTransfer();
  const signal = new AbortController().signal;
  const data = new TextEncoder().encode("cache bytes");

  // The key goes along as signed object metadata, as the official runner sends it.
  const put = await signer.presign("project/1/deps", "PUT", {
    expiresSeconds: 60,
    metadata: { cachekey: "deps" },
  });
  const answer = await transfer.put(
    { url: local(put.url), headers: put.headers },
    new BytesReader(data),
    signal,
  );
  assert.equal(answer.status, 200, answer.text);
  assert.equal(cacheKeys.get("/cache/project/1/deps"), "deps");
  assert.match(new URL(put.url).searchParams.get("X-Goog-SignedHeaders")!, /x-goog-meta-cachekey/);
  const get = await signer.presign("project/1/deps", "GET", { expiresSeconds: 60 });
  const response = await transfer.get(
    { url: local(get.url), headers: {} },
    signal,
  );
  assert.equal(response.status, 200, await response.clone().text());
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), data);

  const tampered = local(get.url).replace("X-Goog-Expires=60", "X-Goog-Expires=6000");
  const refused = await transfer.get({ url: tampered, headers: {} }, signal);
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /SignatureDoesNotMatch/);
});

Deno.test("GCS CredentialsFile: a service-account JSON key signs URLs as its client_email, verified with its public key, and wins over AccessID/PrivateKey", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const email = "cache-writer@runner-tests.iam.gserviceaccount.com";
  const dir = await Deno.makeTempDir({ prefix: "gcs-credentials-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  const credentialsFile = `${dir}/service-account.json`;
  // The shape `gcloud iam service-accounts keys create` writes.
  await Deno.writeTextFile(
    credentialsFile,
    JSON.stringify({
      type: "service_account",
      project_id: "runner-tests",
      private_key_id: "0123456789abcdef",
      private_key: privateKey,
      client_email: email,
      client_id: "100000000000000000001",
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: "https://oauth2.googleapis.com/token",
    }),
  );
  const fileKey = createPublicKey(publicKey);
  const stored = new Map<string, Uint8Array<ArrayBuffer>>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      const problem = verify(req, body, fileKey);
      if (problem) return new Response(`<Error><Code>${problem}</Code></Error>`, { status: 403 });
      const path = new URL(req.url).pathname;
      if (req.method === "PUT") {
        stored.set(path, body);
        return new Response(null, { status: 200 });
      }
      const object = stored.get(path);
      return object ? new Response(object) : new Response(null, { status: 404 });
    },
  );
  const signer = new GcsUrlSigner(
    {
      ...defaultRunnerConfig("shell").cache.gcs,
      credentialsFile,
      // Also set: the official runner prefers CredentialsFile, so these must not sign.
      accessId: vectors.serviceAccount.client_email,
      privateKey: vectors.serviceAccount.private_key,
      bucketName: "cache",
      universeDomain: "x",
    },
    { env: () => undefined },
  );
  const local = (url: string) =>
    url.replace("https://storage.x", `http://127.0.0.1:${server.addr.port}`);
  const transfer = new HttpObjectTransfer();
  const signal = new AbortController().signal;
  const data = new TextEncoder().encode("cache signed by the file's key");

  const put = await signer.presign("project/7/deps", "PUT", { expiresSeconds: 60 });
  const credential = new URL(put.url).searchParams.get("X-Goog-Credential") ?? "";
  assert.equal(credential.split("/")[0], email);
  const answer = await transfer.put(
    { url: local(put.url), headers: put.headers },
    new BytesReader(data),
    signal,
  );
  assert.equal(answer.status, 200, answer.text);
  const get = await signer.presign("project/7/deps", "GET", { expiresSeconds: 60 });
  const response = await transfer.get({ url: local(get.url), headers: {} }, signal);
  assert.equal(response.status, 200, await response.clone().text());
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), data);

  // A server holding another account's public key refuses the same URL.
  const other = new Request(local(get.url));
  assert.equal(verify(other, new Uint8Array()), "SignatureDoesNotMatch");
});

Deno.test("GCS signer: a key that is not a PEM private key, or a key file that is not JSON, is refused naming the key without printing its content", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gcs-key-" });
  try {
    const gcs = { ...defaultRunnerConfig("shell").cache.gcs, bucketName: "b" };
    const refused = async (overrides: Partial<typeof gcs>, message: string) => {
      const signer = new GcsUrlSigner({ ...gcs, ...overrides }, { env: () => undefined });
      await assert.rejects(signer.presign("p/1/k", "GET", { expiresSeconds: 60 }), (err: Error) => {
        assert.equal(err.message, message);
        return true;
      });
    };
    await refused(
      { accessId: "ci@p.iam.gserviceaccount.com", privateKey: "not a pem" },
      "[runners.cache.gcs] PrivateKey is not a PEM private key",
    );
    await Deno.writeTextFile(`${dir}/k.json`, '{"client_email":"a@b","private_key":"nope"}');
    await refused(
      { credentialsFile: `${dir}/k.json` },
      `[runners.cache.gcs] CredentialsFile "${dir}/k.json": private_key is not a PEM private key`,
    );
    // A bare key where the JSON file should be: its first characters stayed in the message.
    await Deno.writeTextFile(`${dir}/key.txt`, "SECRETKEYMATERIAL0123456789");
    await refused(
      { credentialsFile: `${dir}/key.txt` },
      `[runners.cache.gcs] CredentialsFile "${dir}/key.txt" is not a JSON key file`,
    );
    await Deno.writeTextFile(`${dir}/cut.json`, '{"client_email":"a@b","private_key":"-----BEG');
    await refused(
      { credentialsFile: `${dir}/cut.json` },
      `[runners.cache.gcs] CredentialsFile "${dir}/cut.json" is not a JSON key file (at position 45, line 1 column 46)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
