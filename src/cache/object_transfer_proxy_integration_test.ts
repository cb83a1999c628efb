/**
 * A cache PUT (node:http, which reads no proxy variable itself) goes through
 * the proxy the environment names, as the official cache client's
 * ProxyFromEnvironment, through the tests' forwarding proxy, which logs the
 * request lines it relays.
 */
import assert from "node:assert/strict";
import { BytesReader } from "../archive/random_access_reader.ts";
import { HttpObjectTransfer } from "./object_transfer.ts";
import { forwardingProxy } from "../../tests/fixtures/forwarding_proxy.ts";

Deno.test("a cache PUT goes through HTTP_PROXY with its Content-Length, not around it", async () => {
  const stored: { length: string | null; body: string }[] = [];
  await using store = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    stored.push({ length: req.headers.get("content-length"), body: await req.text() });
    return new Response(null, { status: 200 });
  });
  await using proxy = forwardingProxy();
  const url = `http://127.0.0.1:${store.addr.port}/bucket/key?X-Amz-Signature=s`;
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const put = (transfer: HttpObjectTransfer) =>
    transfer.put(
      { url, headers: {} },
      new BytesReader(new TextEncoder().encode("archive")),
      AbortSignal.timeout(10_000),
    );

  const answer = await put(new HttpObjectTransfer({ env: env({ HTTP_PROXY: proxy.url }) }));
  assert.equal(answer.status, 200);
  assert.deepEqual(stored, [{ length: "7", body: "archive" }]);
  assert.deepEqual(proxy.lines, [`PUT ${url} HTTP/1.1`]);

  // NO_PROXY naming the store: straight to it.
  await put(
    new HttpObjectTransfer({ env: env({ HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1" }) }),
  );
  assert.equal(stored.length, 2);
  assert.equal(proxy.lines.length, 1);
});

Deno.test("a cache PUT through a proxy that is not there names the proxy variable", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const transfer = new HttpObjectTransfer({
    env: (name) => name === "HTTPS_PROXY" ? `http://u:pw@127.0.0.1:${port}` : undefined,
  });
  await assert.rejects(
    transfer.put(
      { url: "https://s3.example.com/bucket/key", headers: {} },
      new BytesReader(new Uint8Array(3)),
      AbortSignal.timeout(10_000),
    ),
    (err: Error) => {
      assert.match(err.message, new RegExp(`through HTTPS_PROXY "http://127\\.0\\.0\\.1:${port}"`));
      assert.doesNotMatch(err.message, /pw/);
      return true;
    },
  );
});
