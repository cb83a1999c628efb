import assert from "node:assert/strict";
import { multipartFileBody } from "./multipart_body.ts";

Deno.test("the streamed multipart body parses as a form with the file part", async () => {
  const bytes = new Uint8Array([0, 1, 2, 255, 13, 10]);
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.subarray(0, 3));
      c.enqueue(bytes.subarray(3));
      c.close();
    },
  });
  const { contentType, body } = multipartFileBody("file", "artifacts.zip", source);
  const form = await new Response(body, { headers: { "Content-Type": contentType } }).formData();
  const file = form.get("file");
  assert.ok(file instanceof File);
  assert.equal(file.name, "artifacts.zip");
  assert.equal(file.type, "application/octet-stream");
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), bytes);
});
