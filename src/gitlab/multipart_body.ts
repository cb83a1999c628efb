/**
 * A streamed `multipart/form-data` body with one file part, as GitLab's
 * artifact upload expects (spec §6.1): nothing is buffered, so archives of any
 * size go out with chunked transfer encoding.
 */
export interface MultipartBody {
  contentType: string;
  body: ReadableStream<Uint8Array>;
}

function quoted(value: string): string {
  return `"${value.replace(/["\\\r\n]/g, (c) => (c === '"' ? "%22" : c === "\\" ? "\\\\" : ""))}"`;
}

export function multipartFileBody(
  field: string,
  fileName: string,
  content: ReadableStream<Uint8Array>,
  boundary = `runner-${crypto.randomUUID().replaceAll("-", "")}`,
): MultipartBody {
  const encoder = new TextEncoder();
  const head = encoder.encode(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name=${quoted(field)}; filename=${quoted(fileName)}\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const reader = content.getReader();
  let stage: "head" | "content" | "done" = "head";
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stage === "head") {
        stage = "content";
        controller.enqueue(head);
        return;
      }
      if (stage === "content") {
        const { done, value } = await reader.read();
        if (!done) {
          if (value.byteLength > 0) controller.enqueue(value);
          return;
        }
        stage = "done";
        controller.enqueue(tail);
        controller.close();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
  return { contentType: `multipart/form-data; boundary=${boundary}`, body };
}
