/**
 * HttpObjectTransfer against a real Azure Blob service (Azurite over HTTPS,
 * tests/fixtures/azurite.ts): an archive larger than one block goes up as
 * Put Block requests and a Put Block List, a small one as one Put Blob, and
 * both come back byte for byte through a pre-signed GET.
 */
import assert from "node:assert/strict";
import { BytesReader } from "../archive/random_access_reader.ts";
import { azuriteSkipReason, startAzurite } from "../../tests/fixtures/azurite.ts";
import { AzureUrlSigner } from "./azure_url_signer.ts";
import { HttpObjectTransfer } from "./object_transfer.ts";

const skip = await azuriteSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- the skip reason the style guide asks for
  console.log(`SKIP Azure transfer tests: ${skip}`);
}

Deno.test({
  name: "Azure block blob upload: one Put Blob when small, blocks and a block list when large",
  ignore: skip !== null,
  async fn() {
    await using az = await startAzurite();
    await az.createContainer("blocks");
    const signer = new AzureUrlSigner({
      accountName: az.accountName,
      accountKey: az.accountKey,
      containerName: "blocks",
      storageDomain: az.domain,
    }, { env: () => undefined });
    // This process trusts Azurite's CA through an HTTP client of its own.
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(az.caFile)] });
    const originalFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => originalFetch(input, { ...init, client });
    try {
      const transfer = new HttpObjectTransfer({ blockSize: 64 * 1024 });
      const signal = new AbortController().signal;
      for (const [name, size] of [["small", 1000], ["large", 200 * 1024 + 7]] as const) {
        const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 7919) % 251);
        const put = await signer.presign(`project/1/${name}`, "PUT", { expiresSeconds: 600 });
        const answer = await transfer.put(put, new BytesReader(bytes), signal);
        assert.equal(answer.status, 201, answer.text);
        const get = await signer.presign(`project/1/${name}`, "GET", { expiresSeconds: 600 });
        const response = await transfer.get(get, signal);
        assert.equal(response.status, 200);
        assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
      }
      assert.deepEqual(await az.listBlobs("blocks"), ["project/1/large", "project/1/small"]);
    } finally {
      globalThis.fetch = originalFetch;
      client.close();
    }
  },
});

Deno.test("S3-style PUT through a slow server: every byte arrives as read, though the pieces are reused", async () => {
  // 6.5 MiB with content that differs in every piece, so a piece read into
  // again before node:http sent it would show as wrong bytes on the server.
  const bytes = Uint8Array.from({ length: (13 << 19) + 123 }, (_, i) => (i * 31 + (i >> 20)) % 253);
  let received: Uint8Array | null = null;
  let contentLength = "";
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      contentLength = req.headers.get("content-length") ?? "";
      const chunks: Uint8Array[] = [];
      for await (const chunk of req.body!) {
        chunks.push(chunk);
        // A slow reader: the client's socket fills and its writes wait.
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      received = new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer());
      return new Response(null, { status: 200 });
    },
  );
  const reads: number[] = [];
  const reader = new BytesReader(bytes);
  const body = {
    size: reader.size,
    read: (offset: number, length: number) => reader.read(offset, length),
    readInto: (offset: number, into: Uint8Array) => {
      reads.push(into.length);
      return reader.readInto(offset, into);
    },
    close: () => reader.close(),
  };
  const answer = await new HttpObjectTransfer().put(
    { url: `http://127.0.0.1:${server.addr.port}/bucket/key`, headers: {} },
    body,
    new AbortController().signal,
  );
  assert.equal(answer.status, 200);
  assert.equal(contentLength, String(bytes.length));
  assert.ok(reads.length >= 7, `read in ${reads.length} pieces`);
  const got = received as Uint8Array | null;
  assert.equal(got?.length, bytes.length);
  assert.equal(got.findIndex((b, i) => b !== bytes[i]), -1, "first wrong byte");
});
