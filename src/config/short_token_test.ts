import assert from "node:assert/strict";
import { shortToken } from "./short_token.ts";

Deno.test("shortToken strips the token-type prefix and keeps 9 characters", () => {
  assert.equal(shortToken("glrt-AbCdEfGhIjKlMnOp"), "AbCdEfGhI");
  assert.equal(shortToken("glrt-t1_AbCdEfGhIjKlMnOp"), "AbCdEfGhI");
  assert.equal(shortToken("glrt-t3_xyz123456789"), "xyz123456");
  assert.equal(shortToken("t2_AbCdEfGhIjKl"), "AbCdEfGhI");
  assert.equal(shortToken("glrtr-RouterTok123"), "RouterTok");
  assert.equal(shortToken("glcbt-64_abcdefghijk"), "64_abcdef");
  assert.equal(shortToken("GR1348941AbCdEfGhIjKl"), "AbCdEfGhI");
  assert.equal(shortToken("6f8a2b7c9d0e1f2a3b4c"), "6f8a2b7c9");
  assert.equal(shortToken("short"), "short");
  assert.equal(shortToken(""), "");
});
