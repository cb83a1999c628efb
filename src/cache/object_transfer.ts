/**
 * HTTP transfers of cache archives over pre-signed URLs, from the executor
 * process. GET streams with fetch. PUT goes through node:http(s) because S3
 * refuses a pre-signed PUT without `Content-Length`, and fetch sends a
 * streamed body chunked; the archive is read from its store piece by piece,
 * so memory stays bounded whatever its size.
 */
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { PresignedRequest } from "./cache_url_signer.ts";

/** What the distributed cache store needs from HTTP; tests may pass a fake. */
export interface ObjectTransfer {
  get(request: PresignedRequest, signal: AbortSignal): Promise<Response>;
  /** Resolves with the status and body text (short: S3 answers PUT with empty or XML bodies). */
  put(
    request: PresignedRequest,
    body: RandomAccessReader,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Headers; text: string }>;
}

const PUT_PIECE = 1 << 20;

export class HttpObjectTransfer implements ObjectTransfer {
  get(request: PresignedRequest, signal: AbortSignal): Promise<Response> {
    return fetch(request.url, { headers: request.headers, signal });
  }

  async put(
    request: PresignedRequest,
    body: RandomAccessReader,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const url = new URL(request.url);
    const http = url.protocol === "https:" ? await import("node:https") : await import("node:http");
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      ...request.headers,
      "Content-Length": String(body.size),
    };
    return await new Promise((resolve, reject) => {
      const req = http.request(url, { method: "PUT", headers, signal }, (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const answer = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (typeof v === "string") answer.set(k, v);
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: answer,
            text: new TextDecoder().decode(concat(chunks)),
          });
        });
      });
      req.on("error", reject);
      (async () => {
        for (let at = 0; at < body.size; at += PUT_PIECE) {
          const piece = await body.read(at, Math.min(PUT_PIECE, body.size - at));
          if (!req.write(piece)) {
            await new Promise<void>((drained) => req.once("drain", () => drained()));
          }
        }
        req.end();
      })().catch((err) => {
        req.destroy(err);
        reject(err);
      });
    });
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
