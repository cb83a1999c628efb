import assert from "node:assert/strict";
import { formatListenAddress, parseListenAddress } from "./listen_address.ts";

Deno.test("listen addresses get port 9252 when it is missing and :port means all interfaces", () => {
  assert.deepEqual(parseListenAddress("localhost:9000"), { hostname: "localhost", port: 9000 });
  assert.deepEqual(parseListenAddress(":9252"), { hostname: "0.0.0.0", port: 9252 });
  assert.deepEqual(parseListenAddress("127.0.0.1"), { hostname: "127.0.0.1", port: 9252 });
  assert.deepEqual(parseListenAddress("[::1]:8080"), { hostname: "::1", port: 8080 });
  assert.deepEqual(parseListenAddress("[::1]"), { hostname: "::1", port: 9252 });
  assert.deepEqual(parseListenAddress("::1"), { hostname: "::1", port: 9252 });
  assert.deepEqual(parseListenAddress("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.equal(formatListenAddress({ hostname: "::1", port: 1 }), "[::1]:1");
});

Deno.test("malformed listen addresses are rejected naming the value", () => {
  assert.throws(() => parseListenAddress(""), /Invalid listen address "": it is empty/);
  assert.throws(() => parseListenAddress("host:http"), /port "http" is not a number/);
  assert.throws(() => parseListenAddress("host:70000"), /port 70000 is out of range/);
  assert.throws(() => parseListenAddress("http://host:1"), /without scheme or path/);
  assert.throws(() => parseListenAddress("[::1"), /missing \]/);
});
