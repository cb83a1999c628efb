import assert from "node:assert/strict";
import { ipVersion, sshHostProblem, sshNetAddress } from "./ssh_address.ts";

Deno.test("ipVersion tells IPv4 and IPv6 addresses as node:net's isIP does", () => {
  for (const ip of ["1.2.3.4", "0.0.0.0", "255.255.255.255"]) assert.equal(ipVersion(ip), 4, ip);
  for (const ip of ["::1", "::", "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:1.2.3.4"]) {
    assert.equal(ipVersion(ip), 6, ip);
  }
  for (
    const text of [
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3",
      "1::2::3",
      "g::1",
      "[::1]",
      "a:b",
      "example.com",
    ]
  ) {
    assert.equal(ipVersion(text), 0, text);
  }
});

Deno.test("an ssh host is a name or an IP address; its --allow-net entry brackets IPv6", () => {
  assert.equal(sshHostProblem("gitlab-builder.example.com"), null);
  assert.equal(sshHostProblem("10.0.0.7"), null);
  assert.match(sshHostProblem("example.com:2222") ?? "", /expected a host name or IP address/);
  assert.equal(sshNetAddress("::1", ""), "[::1]:22");
  assert.equal(sshNetAddress("", "2222"), "localhost:2222");
  assert.equal(sshNetAddress("ssh://h", "22"), null);
});
