import assert from "node:assert/strict";
import { describeFailure, errorMessageOf, readJsonBody } from "./api_error.ts";

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

Deno.test("describeFailure gives object storage's XML message and code", async () => {
  const xml = (body: string) =>
    new Response(body, {
      status: 403,
      statusText: "Forbidden",
      headers: { "Content-Type": "application/xml" },
    });
  assert.equal(
    await describeFailure(
      xml("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
    ),
    "403 Forbidden: Request has expired (AccessDenied)",
  );
  assert.equal(
    await describeFailure(xml("<Error><Code>NoSuchKey</Code></Error>")),
    "403 Forbidden: NoSuchKey",
  );
  assert.equal(await describeFailure(xml("not xml")), "403 Forbidden");
});
