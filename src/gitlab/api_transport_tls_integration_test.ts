/**
 * ApiTransport over TLS with files that change while it runs: a CA bundle
 * rotated, a client certificate renewed. A server of a CA made here.
 */
import assert from "node:assert/strict";
import { LocalCa } from "../../tests/fixtures/local_ca.ts";
import { ApiTransport } from "./api_transport.ts";
import { GitLabApiError } from "./api_error.ts";
import { createRunnerInfo } from "./runner_info.ts";
import type { Logger } from "../log/logger.ts";

const skip = await LocalCa.skipReason();
const INFO = createRunnerInfo({
  version: "0.1.0-test",
  revision: "abcdef12",
  executor: "shell",
  shell: "bash",
});

Deno.test({
  name: "a tls-ca-file replaced while the runner runs is used from the next request on",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(ca.server.cert),
      key: await Deno.readTextFile(ca.server.key),
      onListen() {},
    }, () => Response.json({ version: "17.0.0" }));
    const caFile = `${ca.dir}/bundle.pem`;
    // The wrong CA first, as before a rotation reached GitLab's certificate.
    await Deno.copyFile(ca.stranger.cert, caFile);
    const url = `https://127.0.0.1:${server.addr.port}`;
    using transport = new ApiTransport({ url, runnerInfo: INFO, tlsCaFile: caFile });
    const version = () =>
      transport.send({
        endpoint: "verify_runner",
        method: "GET",
        url: new URL("version", transport.root),
      });
    await assert.rejects(
      version(),
      (e) => e instanceof GitLabApiError && /UnknownIssuer/.test(e.message),
    );
    await Deno.copyFile(ca.caFile, caFile);
    // A later modification time than the first file's, whatever the file system's resolution.
    await Deno.utime(caFile, new Date(), new Date(Date.now() + 5_000));
    await new Promise((r) => setTimeout(r, 1_100));
    const answer = await version();
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
  },
});

Deno.test({
  name: "an encrypted tls-key-file is named, and says so, without blaming the CA file",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    const encrypted = `${ca.dir}/client.enc.key`;
    const out = await new Deno.Command("openssl", {
      args: ["pkey", "-in", ca.client.key, "-aes256", "-passout", "pass:secret", "-out", encrypted],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    using transport = new ApiTransport({
      url: "https://127.0.0.1:9",
      runnerInfo: INFO,
      tlsCaFile: ca.caFile,
      tlsCertFile: ca.client.cert,
      tlsKeyFile: encrypted,
    });
    const error = await transport.send({
      endpoint: "verify_runner",
      method: "GET",
      url: new URL("version", transport.root),
    }).then(() => null, (e: Error) => e);
    assert.ok(error);
    // Deno's own words between ("No keys found in key data" for PKCS#8).
    assert.ok(
      error.message.startsWith(
        `Cannot use tls-cert-file "${ca.client.cert}", tls-key-file "${encrypted}": `,
      ),
      error.message,
    );
    assert.ok(
      error.message.endsWith(" (the key is encrypted: Runner takes it without a passphrase)"),
      error.message,
    );
  },
});

Deno.test({
  name: "a tls-ca-file with a broken certificate among good ones uses the good ones and names it",
  ignore: skip !== null,
  fn: async () => {
    await using ca = await LocalCa.create();
    await using server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(ca.server.cert),
      key: await Deno.readTextFile(ca.server.key),
      onListen() {},
    }, () => Response.json({ version: "17.0.0" }));
    const caFile = `${ca.dir}/bundle.pem`;
    const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    await Deno.writeTextFile(
      caFile,
      (await Deno.readTextFile(ca.stranger.cert)) + broken + (await Deno.readTextFile(ca.caFile)),
    );
    const warnings: string[] = [];
    const log: Logger = {
      child: () => log,
      debug: () => {},
      info: () => {},
      error: () => {},
      warn: (message) => warnings.push(message),
    };
    using transport = new ApiTransport({
      url: `https://127.0.0.1:${server.addr.port}`,
      runnerInfo: INFO,
      tlsCaFile: caFile,
      log,
    });
    const answer = await transport.send({
      endpoint: "verify_runner",
      method: "GET",
      url: new URL("version", transport.root),
    });
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
    assert.deepEqual(warnings, ["Cannot read certificate 2 of 3 in tls-ca-file, using the others"]);
  },
});
