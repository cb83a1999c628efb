import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "./self_signed_certificate.ts";
import { sessionAddresses, sessionListenPermission } from "./session_address.ts";

Deno.test("the session certificate is self-signed for the host, as upstream makes it", async () => {
  const now = new Date("2026-12-02T08:00:00Z");
  const ip = await selfSignedCertificate("127.0.0.1", { now });
  const cert = new X509Certificate(ip.certificate);
  assert.equal(cert.subject, "O=GitLab Runner");
  assert.equal(cert.issuer, "O=GitLab Runner");
  assert.equal(cert.subjectAltName, "IP Address:127.0.0.1");
  assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
  assert.ok(cert.verify(cert.publicKey), "signed by its own key");
  assert.equal(new Date(cert.validFrom).toISOString(), "2026-12-02T08:00:00.000Z");
  assert.equal(new Date(cert.validTo).toISOString(), "2028-12-02T08:00:00.000Z", "two years");
  assert.equal(cert.ca, false);
  assert.deepEqual(cert.keyUsage, ["DigitalSignature", "KeyEncipherment", "DataEncipherment"]);
  assert.match(ip.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);

  const dns = new X509Certificate((await selfSignedCertificate("runner.example.com")).certificate);
  assert.equal(dns.subjectAltName, "DNS:runner.example.com");
  assert.equal(dns.checkHost("runner.example.com"), "runner.example.com");
  const v6 = new X509Certificate((await selfSignedCertificate("::1")).certificate);
  assert.equal(v6.checkIP("::1"), "::1");
});

Deno.test("session addresses: advertise defaults to listen, schemes and missing hosts are refused", () => {
  assert.deepEqual(sessionAddresses("0.0.0.0:8093", ""), {
    listen: { hostname: "0.0.0.0", port: 8093 },
    advertise: "https://0.0.0.0:8093",
    certificateHost: "0.0.0.0",
  });
  assert.deepEqual(sessionAddresses(":8093", "runner.example.com:8093"), {
    listen: { hostname: "0.0.0.0", port: 8093 },
    advertise: "https://runner.example.com:8093",
    certificateHost: "runner.example.com",
  });
  assert.equal(sessionAddresses("[::]:8093", "").certificateHost, "::");
  assert.throws(
    () => sessionAddresses("0.0.0.0:8093", "https://runner.example.com:8093"),
    /advertise_address "https:\/\/runner.example.com:8093": url not valid, scheme defined/,
  );
  assert.throws(() => sessionAddresses(":8093", ""), /no valid address provided/);
  assert.throws(
    () => sessionAddresses("0.0.0.0", ""),
    /listen_address "0.0.0.0": expected host:port/,
  );
  // It said "expected host:port" of a host:port whose port was too large.
  assert.throws(
    () => sessionAddresses("0.0.0.0:99999", ""),
    /^TypeError: Invalid \[session_server\] listen_address "0.0.0.0:99999": port 99999 is out of range 0-65535$/,
  );
  assert.equal(sessionListenPermission(":8093"), "0.0.0.0:8093");
  assert.equal(sessionListenPermission("[::1]:8093"), "[::1]:8093");
  assert.equal(sessionListenPermission("nonsense"), null);
});
