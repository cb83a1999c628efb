import assert from "node:assert/strict";
import { errorMessageOf, readJsonBody } from "./api_error.ts";

Deno.test("error messages are read from strings and flattened from objects of arrays", () => {
  assert.equal(errorMessageOf({ message: "403 Forbidden" }), "403 Forbidden");
  assert.equal(
    errorMessageOf({ message: { "tag_list": ["is too long"], token: ["bad", "old"] } }),
    "tag_list is too long, token bad, old",
  );
  assert.equal(errorMessageOf("x"), "");
});

Deno.test("a JSON body needs the application/json MIME type; charset is fine", async () => {
  const ok = await readJsonBody(
    new Response('{"a":1}', { headers: { "Content-Type": "application/json; charset=utf-8" } }),
  );
  assert.deepEqual(ok, { ok: true, value: { a: 1 } });
  const html = await readJsonBody(
    new Response("<html>", { headers: { "Content-Type": "text/html" } }),
  );
  assert.deepEqual(html, {
    ok: false,
    reason: 'expected Content-Type "application/json", got "text/html"',
  });
  const broken = await readJsonBody(
    new Response("{", { headers: { "Content-Type": "application/json" } }),
  );
  assert.equal(broken.ok, false);
});
