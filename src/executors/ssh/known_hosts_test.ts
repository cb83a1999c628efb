import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  describeRefusal,
  hostKeyFingerprint,
  keyTypeOf,
  KnownHosts,
  knownHostsName,
} from "./known_hosts.ts";

// Public keys made with ssh-keygen for these tests; fingerprints from `ssh-keygen -l -E sha256`.
const ED1 = "AAAAC3NzaC1lZDI1NTE5AAAAIK8XFqOr3OLNXaoe1nS7LNJSuTObl6Mwp0gs4+6P/6l5";
const ED1_FP = "SHA256:5HQcKDu3i3swtX0O5dbAxpyRv8u7wtNKCfoS72nqldY";
const ED2 = "AAAAC3NzaC1lZDI1NTE5AAAAIHPTTyGZ09A/uM8oG3u5zTx0qnixKLIZyd6FMeJA4fvo";
const ED2_FP = "SHA256:EOsjmq674nb2vgyzNY0VPqGWMgSrZhjegEtnypCDQYY";
const ECDSA =
  "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGYboOMNaKgdgbHX9BVCCRmvybuxczCLu1Qq7+HQooaSVodO8bVN32WC1DfvoPVEEZ8uKPVUHyIB4fAxpiIzDHk=";
const ECDSA_FP = "SHA256:rQEZUNzlCuQAuj0m/oTXNacjZ16TbNe7wuo97K1YG/U";
// `ssh-keygen -H` of "[example.com]:2222 ssh-ed25519 ED1".
const HASHED_EXAMPLE_2222 = "|1|IUMEAGdPbBZMFoG2bCK5yUTsTGQ=|3609aIg7ak8BcGHPWHNnoQ9Oz60=";

const blob = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));

Deno.test("hostKeyFingerprint matches ssh-keygen's SHA256 fingerprint", () => {
  assert.equal(hostKeyFingerprint(blob(ED1)), ED1_FP);
  assert.equal(hostKeyFingerprint(blob(ED2)), ED2_FP);
  assert.equal(hostKeyFingerprint(blob(ECDSA)), ECDSA_FP);
});

Deno.test("keyTypeOf reads the type inside a key blob", () => {
  assert.equal(keyTypeOf(blob(ED1)), "ssh-ed25519");
  assert.equal(keyTypeOf(blob(ECDSA)), "ecdsa-sha2-nistp256");
  assert.equal(keyTypeOf(new Uint8Array([0, 0])), "");
});

Deno.test("knownHostsName brackets the host only for ports other than 22", () => {
  assert.equal(knownHostsName("example.com", 22), "example.com");
  assert.equal(knownHostsName("127.0.0.1", 2222), "[127.0.0.1]:2222");
});

Deno.test("KnownHosts trusts a plain [host]:port line with the same key", () => {
  const hosts = KnownHosts.parse(`[127.0.0.1]:2222 ssh-ed25519 ${ED1}\n`);
  assert.equal(hosts.verify("127.0.0.1", 2222, blob(ED1)).kind, "trusted");
  // The same host on another port is a different name.
  assert.equal(hosts.verify("127.0.0.1", 22, blob(ED1)).kind, "unknown");
});

Deno.test("KnownHosts matches hashed host names", () => {
  const hosts = KnownHosts.parse(`${HASHED_EXAMPLE_2222} ssh-ed25519 ${ED1}\n`);
  assert.equal(hosts.verify("example.com", 2222, blob(ED1)).kind, "trusted");
  assert.equal(hosts.verify("example.org", 2222, blob(ED1)).kind, "unknown");
  assert.equal(hosts.verify("example.com", 2222, blob(ED2)).kind, "changed");
});

Deno.test("KnownHosts honours comma lists, wildcards and negation", () => {
  const hosts = KnownHosts.parse(
    [
      "# comment",
      "",
      `alpha.example.com,10.0.0.1 ssh-ed25519 ${ED1}`,
      `*.build.example.com,!secret.build.example.com ssh-ed25519 ${ED2}`,
      `web?.example.com ecdsa-sha2-nistp256 ${ECDSA}`,
    ].join("\n"),
  );
  assert.equal(hosts.verify("10.0.0.1", 22, blob(ED1)).kind, "trusted");
  assert.equal(hosts.verify("ALPHA.example.com", 22, blob(ED1)).kind, "trusted");
  assert.equal(hosts.verify("ci.build.example.com", 22, blob(ED2)).kind, "trusted");
  assert.equal(hosts.verify("secret.build.example.com", 22, blob(ED2)).kind, "unknown");
  assert.equal(hosts.verify("web1.example.com", 22, blob(ECDSA)).kind, "trusted");
  assert.equal(hosts.verify("web12.example.com", 22, blob(ECDSA)).kind, "unknown");
});

Deno.test("KnownHosts reports a changed key and names the line that expected another", () => {
  const hosts = KnownHosts.parse(`# first\n[h]:2222 ssh-ed25519 ${ED1}\n`);
  const verdict = hosts.verify("h", 2222, blob(ED2));
  assert.equal(verdict.kind, "changed");
  if (verdict.kind !== "changed") return;
  const text = describeRefusal(verdict, {
    host: "h",
    port: 2222,
    key: blob(ED2),
    knownHostsFile: "/k",
  });
  assert.equal(
    text,
    `Host key verification failed for "[h]:2222": the host key changed: the server offered ${ED2_FP} (ssh-ed25519), known_hosts file "/k" line 2 has ${ED1_FP} (ssh-ed25519)`,
  );
});

Deno.test("KnownHosts calls a key of a type the file lacks unknown and lists the types it has", () => {
  const hosts = KnownHosts.parse(`h ecdsa-sha2-nistp256 ${ECDSA}\n`);
  const verdict = hosts.verify("h", 22, blob(ED1));
  assert.deepEqual(verdict, { kind: "unknown", knownTypes: ["ecdsa-sha2-nistp256"] });
  if (verdict.kind !== "unknown") return;
  assert.match(
    describeRefusal(verdict, { host: "h", port: 22, key: blob(ED1), knownHostsFile: "/k" }),
    new RegExp(
      `^Host key verification failed for "h": unknown host key ${
        ED1_FP.replace("+", "\\+")
      } \\(ssh-ed25519\\)`,
    ),
  );
  assert.deepEqual(hosts.keyTypesFor("h", 22), ["ecdsa-sha2-nistp256"]);
});

Deno.test("KnownHosts refuses a @revoked key even when another line trusts it", () => {
  const hosts = KnownHosts.parse(`h ssh-ed25519 ${ED1}\n@revoked * ssh-ed25519 ${ED1}\n`);
  const verdict = hosts.verify("h", 22, blob(ED1));
  assert.equal(verdict.kind, "revoked");
});

Deno.test("KnownHosts never trusts @cert-authority lines and skips malformed lines with a reason", () => {
  const hosts = KnownHosts.parse(
    `@cert-authority * ssh-ed25519 ${ED1}\nbroken-line\nh ssh-ed25519 not-base64!\n@weird h ssh-ed25519 ${ED1}\n`,
  );
  assert.equal(hosts.verify("h", 22, blob(ED1)).kind, "unknown");
  assert.deepEqual(hosts.problems, [
    'line 2: expected "hosts key-type base64-key"',
    'line 3: the key is not valid base64 of a "ssh-ed25519" key',
    'line 4: unknown marker "@weird"',
  ]);
});

Deno.test("KnownHosts skips a key cut short instead of calling the host's key changed, and the refusal names the line", () => {
  const hosts = KnownHosts.parse(
    `h ssh-ed25519 ${ED1.slice(0, -8)}\nh ecdsa-sha2-nistp256 ${ECDSA.slice(0, -12)}\n`,
  );
  assert.deepEqual(hosts.problems, [
    'line 1: the key is not valid base64 of a "ssh-ed25519" key',
    'line 2: the key is not valid base64 of a "ecdsa-sha2-nistp256" key',
  ]);
  const verdict = hosts.verify("h", 22, blob(ED1));
  assert.equal(verdict.kind, "unknown");
  assert.equal(
    describeRefusal(verdict, {
      host: "h",
      port: 22,
      key: blob(ED1),
      knownHostsFile: "/k",
      problems: hosts.problems,
    }),
    `Host key verification failed for "h": unknown host key ${ED1_FP} (ssh-ed25519), not in known_hosts file "/k"; 2 lines of it could not be read and were skipped (line 1: the key is not valid base64 of a "ssh-ed25519" key; line 2: the key is not valid base64 of a "ecdsa-sha2-nistp256" key); add it there or set disable_strict_host_key_checking = true`,
  );
  // Whole keys of every kind the tests hold still parse.
  assert.deepEqual(
    KnownHosts.parse(`h ssh-ed25519 ${ED1}\nh ecdsa-sha2-nistp256 ${ECDSA}\n`).problems,
    [],
  );
});
