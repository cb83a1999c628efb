/**
 * fetchFailureReason on the errors Deno's fetch really rejects with: a TLS
 * server of a CA made here, and a proxy that is not there.
 */
import assert from "node:assert/strict";
import { LocalCa } from "../../tests/fixtures/local_ca.ts";
import { fetchFailureReason } from "./fetch_failure.ts";

const skip = await LocalCa.skipReason();

/** A TLS server on `hostname` that completes handshakes and answers nothing. */
async function tlsServer(ca: LocalCa, hostname = "127.0.0.1") {
  const listener = Deno.listenTls({
    hostname,
    port: 0,
    cert: await Deno.readTextFile(ca.server.cert),
    key: await Deno.readTextFile(ca.server.key),
  });
  const served = (async () => {
    for await (const conn of listener) {
      conn.handshake().catch(() => {}).finally(() => conn.close());
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await served;
    },
  };
}

async function failure(url: URL, options: Deno.CreateHttpClientOptions = {}): Promise<unknown> {
  using client = Deno.createHttpClient(options);
  try {
    const res = await fetch(url, { client });
    await res.body?.cancel();
  } catch (error) {
    return error;
  }
  throw new Error(`${url} answered`);
}

const noEnv = () => undefined;

Deno.test({
  name: "a certificate of an unknown CA names tls-ca-file and the host, never the URL's query",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using server = await tlsServer(ca);
    const url = new URL(`https://127.0.0.1:${server.port}/artifacts?X-Amz-Signature=s3cr3t`);
    const error = await failure(url);
    const unset = fetchFailureReason(error, { url, env: noEnv });
    assert.match(
      unset,
      /^cannot connect to 127\.0\.0\.1:\d+: invalid peer certificate: UnknownIssuer \(.*set tls-ca-file to the PEM file of its CA\)$/,
    );
    assert.doesNotMatch(unset, /s3cr3t|fetch failed/);
    const set = fetchFailureReason(error, { url, caFile: "/etc/ca.pem", env: noEnv });
    assert.match(set, /no CA in tls-ca-file "\/etc\/ca\.pem" or the system roots signed/);
  },
});

Deno.test({
  name: "a connection closed after the handshake names the host, never the URL's query",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using server = await tlsServer(ca);
    const url = new URL(`https://127.0.0.1:${server.port}/artifacts?X-Amz-Signature=s3cr3t`);
    const error = await failure(url, { caCerts: [await Deno.readTextFile(ca.caFile)] });
    const reason = fetchFailureReason(error, { url, caFile: ca.caFile, env: noEnv });
    assert.match(reason, new RegExp(`^127\\.0\\.0\\.1:${server.port}: \\S`));
    assert.doesNotMatch(reason, /s3cr3t|error sending request/);
  },
});

Deno.test({
  name: "a certificate for another name says which host it does not name",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using server = await tlsServer(ca, "127.0.0.2");
    const url = new URL(`https://127.0.0.2:${server.port}/api/v4/jobs/request`);
    const error = await failure(url, { caCerts: [await Deno.readTextFile(ca.caFile)] });
    assert.match(
      fetchFailureReason(error, { url, caFile: ca.caFile, env: noEnv }),
      /not valid for name "127\.0\.0\.2".*\(GitLab's certificate does not name "127\.0\.0\.2"/,
    );
  },
});

/** A server certificate of `ca` for 127.0.0.1 that expired in 2020 (openssl ca sets the dates). */
async function expiredServerCertificate(ca: LocalCa): Promise<{ cert: string; key: string }> {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: ca.dir, stdout: "null" }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  await Deno.writeTextFile(
    `${ca.dir}/ca.cnf`,
    "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n" +
      "default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
  );
  await Deno.writeTextFile(`${ca.dir}/index.txt`, "");
  await Deno.writeTextFile(`${ca.dir}/serial`, "01\n");
  await Deno.writeTextFile(`${ca.dir}/old.ext`, "subjectAltName=IP:127.0.0.1\n");
  await run(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "old.key",
    "-out",
    "old.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  await run(
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-in",
    "old.csr",
    "-out",
    "old.pem",
    "-cert",
    "ca.pem",
    "-keyfile",
    "ca.key",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200201000000Z",
    "-extfile",
    "old.ext",
  );
  return { cert: `${ca.dir}/old.pem`, key: `${ca.dir}/old.key` };
}

Deno.test({
  name: "an expired certificate says so, not to set tls-ca-file",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    const old = await expiredServerCertificate(ca);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(old.cert),
      key: await Deno.readTextFile(old.key),
    });
    const served = (async () => {
      for await (const conn of listener) {
        conn.handshake().catch(() => {}).finally(() => conn.close());
      }
    })().catch(() => {});
    try {
      const url = new URL(`https://127.0.0.1:${listener.addr.port}/api/v4/jobs/request`);
      const error = await failure(url, { caCerts: [await Deno.readTextFile(ca.caFile)] });
      const reason = fetchFailureReason(error, { url, caFile: ca.caFile, env: noEnv });
      assert.match(reason, /expired.*\(GitLab's certificate is outside its validity dates/);
      assert.doesNotMatch(reason, /tls-ca-file/);
    } finally {
      listener.close();
      await served;
    }
  },
});

Deno.test("a proxy that refuses is named with its variable, without its credentials", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxyPort = closed.addr.port;
  closed.close();
  const url = new URL("http://127.0.0.1:8929/api/v4/jobs/request");
  const error = await failure(url, { proxy: { url: `http://127.0.0.1:${proxyPort}` } });
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const proxied = fetchFailureReason(error, {
    url,
    env: env({ HTTP_PROXY: `http://user:pa55@127.0.0.1:${proxyPort}` }),
  });
  assert.match(
    proxied,
    new RegExp(
      `^cannot connect to 127\\.0\\.0\\.1:8929 through HTTP_PROXY "http://127\\.0\\.0\\.1:${proxyPort}": .*refused`,
    ),
  );
  assert.doesNotMatch(proxied, /pa55/);
  // A value Deno ignores: the request went directly, and the reason says so.
  assert.match(
    fetchFailureReason(error, { url, env: env({ HTTP_PROXY: "proxy 3128" }) }),
    /^cannot connect to 127\.0\.0\.1:8929: .*\(HTTP_PROXY is set but is no proxy address: the request went directly\)$/,
  );
  for (const noProxy of ["127.0.0.1", "127.0.0.0/8", "*"]) {
    const direct = fetchFailureReason(error, {
      url,
      env: env({ http_proxy: `http://127.0.0.1:${proxyPort}`, no_proxy: noProxy }),
    });
    assert.doesNotMatch(direct, /PROXY/i, noProxy);
  }
});
