/**
 * A cache PUT (node:http, which reads no proxy variable itself) goes through
 * the proxy the environment names, as the official cache client's
 * ProxyFromEnvironment: a forwarding proxy written here (Deno.listen) that
 * relays absolute-form requests and CONNECT tunnels, and logs their lines.
 */
import assert from "node:assert/strict";
import { BytesReader } from "../archive/random_access_reader.ts";
import { HttpObjectTransfer } from "./object_transfer.ts";

/** A forwarding proxy on 127.0.0.1: `lines` holds each request line it relayed. */
function forwardingProxy() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines: string[] = [];
  const conns = new Set<Deno.Conn>();
  const relay = async (client: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    let got = 0;
    let end = -1;
    while (end < 0) {
      const n = await client.read(buf.subarray(got));
      if (n === null) return;
      got += n;
      end = new TextDecoder().decode(buf.subarray(0, got)).indexOf("\r\n\r\n");
    }
    const head = new TextDecoder().decode(buf.subarray(0, end));
    const line = head.split("\r\n")[0]!;
    lines.push(line);
    const [method, target] = line.split(" ");
    const isConnect = method === "CONNECT";
    const to = isConnect ? new URL(`http://${target}`) : new URL(target!);
    const upstream = await Deno.connect({ hostname: to.hostname, port: Number(to.port || 80) });
    conns.add(upstream);
    const rest = buf.subarray(end + 4, got);
    if (isConnect) {
      await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
    } else {
      const origin = head.replace(target!, to.pathname + to.search);
      await upstream.write(new TextEncoder().encode(`${origin}\r\n\r\n`));
    }
    if (rest.length > 0) await upstream.write(rest);
    await Promise.allSettled([
      client.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(client.writable),
    ]);
  };
  const served = (async () => {
    for await (const client of listener) {
      conns.add(client);
      relay(client).catch(() => {}).finally(() => {
        try {
          client.close();
        } catch {
          // Closed by the relay.
        }
      });
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    lines,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
      await served;
    },
  };
}

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
