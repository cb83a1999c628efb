/**
 * HTTP transfers of cache archives over pre-signed URLs, from the executor
 * process. GET streams with fetch. An S3/GCS PUT goes through node:http(s)
 * because S3 refuses a pre-signed PUT without `Content-Length`, and fetch
 * sends a streamed body chunked; the archive is read from its store piece by
 * piece, so memory stays bounded whatever its size. An Azure block blob goes
 * with fetch, one block in memory at a time (Put Blob, or Put Block + Put
 * Block List): Azure wants a length on every request too.
 *
 * fetch takes its proxy from HTTPS_PROXY/HTTP_PROXY/NO_PROXY; node:http does
 * not, so a PUT the environment proxies goes through the proxy here, as the
 * official cache client's ProxyFromEnvironment does: in absolute form for
 * http, through a CONNECT tunnel for https (the executor process may connect
 * to that proxy: poller/executor_permissions.ts).
 */
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import { type HttpProxy, proxyFor, withoutCredentials } from "../os/http_proxy.ts";
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
/** Azure block size: 50,000 blocks (the service's limit) of 4 MiB hold 195 GiB. */
export const AZURE_BLOCK_SIZE = 4 << 20;

export class HttpObjectTransfer implements ObjectTransfer {
  readonly #blockSize: number;

  readonly #env: (name: string) => string | undefined;

  /**
   * `blockSize`: Azure block size in bytes (tests use small ones); `env`: where
   * the proxy variables are read, the process environment by default.
   */
  constructor(
    options: { blockSize?: number; env?: (name: string) => string | undefined } = {},
  ) {
    this.#blockSize = options.blockSize ?? AZURE_BLOCK_SIZE;
    this.#env = options.env ?? readEnv;
  }

  get(request: PresignedRequest, signal: AbortSignal): Promise<Response> {
    return fetch(request.url, { headers: request.headers, signal });
  }

  put(
    request: PresignedRequest,
    body: RandomAccessReader,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    return request.isBlockBlob
      ? this.#putBlockBlob(request, body, signal)
      : this.#putStream(request, body, signal);
  }

  /** One Put Blob when the archive fits in a block, else Put Block per block and Put Block List. */
  async #putBlockBlob(
    request: PresignedRequest,
    body: RandomAccessReader,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const answer = async (response: Response) => ({
      status: response.status,
      headers: response.headers,
      text: await response.text(),
    });
    if (body.size <= this.#blockSize) {
      return await answer(
        await fetch(request.url, {
          method: "PUT",
          headers: { "Content-Type": "application/octet-stream", ...request.headers },
          body: asBody(await body.read(0, body.size)),
          signal,
        }),
      );
    }
    const ids: string[] = [];
    for (let at = 0, n = 0; at < body.size; at += this.#blockSize, n++) {
      // Block IDs are base64 and of one length within a blob.
      const id = btoa(`block-${String(n).padStart(6, "0")}`);
      const piece = await body.read(at, Math.min(this.#blockSize, body.size - at));
      const response = await fetch(
        `${request.url}&comp=block&blockid=${encodeURIComponent(id)}`,
        { method: "PUT", body: asBody(piece), signal },
      );
      if (response.status !== 201) return await answer(response);
      await response.body?.cancel();
      ids.push(id);
    }
    const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${
      ids.map((id) => `<Latest>${id}</Latest>`).join("")
    }</BlockList>`;
    return await answer(
      await fetch(`${request.url}&comp=blocklist`, {
        method: "PUT",
        headers: {
          "x-ms-blob-content-type": "application/octet-stream",
          // The blob's metadata is set when the block list commits it.
          ...Object.fromEntries(
            Object.entries(request.headers).filter(([k]) =>
              k.toLowerCase().startsWith("x-ms-meta-")
            ),
          ),
        },
        body: list,
        signal,
      }),
    );
  }

  async #putStream(
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
    const proxy = proxyFor(url, this.#env);
    const proxied = proxy ? await throughProxy(url, proxy, headers, signal) : null;
    return await new Promise((resolve, reject) => {
      const onAnswer = (res: import("node:http").IncomingMessage) => {
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
      };
      const req = proxied
        ? proxied.request(onAnswer)
        : http.request(url, { method: "PUT", headers, signal }, onAnswer);
      req.on("error", reject);
      (async () => {
        // Two pieces read into in turn (a fresh array per piece was ~1 MiB of
        // garbage per MiB sent): one is being sent while the next is read.
        // node:http holds a chunk until the write's callback, so a piece is
        // read into again only after that (the slow-server test proves it).
        const pieces = [
          new Uint8Array(Math.min(PUT_PIECE, body.size)),
          new Uint8Array(Math.min(PUT_PIECE, body.size)),
        ];
        const sent: (Promise<void> | null)[] = [null, null];
        for (let at = 0, n = 0; at < body.size; at += PUT_PIECE, n ^= 1) {
          await sent[n];
          const length = Math.min(PUT_PIECE, body.size - at);
          let piece: Uint8Array;
          if (body.readInto) {
            piece = (pieces[n] as Uint8Array).subarray(0, length);
            await body.readInto(at, piece);
          } else {
            piece = await body.read(at, length);
          }
          const written = new Promise<void>((done, failed) =>
            req.write(piece, (err) => err ? failed(err) : done())
          );
          written.catch(() => {});
          sent[n] = written;
        }
        await Promise.all(sent);
        req.end();
      })().catch((err) => {
        req.destroy(err);
        reject(err);
      });
    });
  }
}

/**
 * The PUT of `url` through `proxy`: for http a request to the proxy naming
 * the whole URL, for https a CONNECT tunnel the TLS connection goes through.
 */
async function throughProxy(
  url: URL,
  proxy: HttpProxy,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<
  {
    request: (
      onAnswer: (res: import("node:http").IncomingMessage) => void,
    ) => import("node:http").ClientRequest;
  }
> {
  const named = `${proxy.name} "${withoutCredentials(proxy.url)}"`;
  if (proxy.url.protocol !== "http:" && proxy.url.protocol !== "https:") {
    throw new Error(
      `Cannot upload cache through ${named}: only an http or https proxy can take it`,
    );
  }
  const toProxy = proxy.url.protocol === "https:"
    ? await import("node:https")
    : await import("node:http");
  const auth: Record<string, string> = proxy.url.username === "" ? {} : {
    "Proxy-Authorization": `Basic ${
      btoa(`${decodeURIComponent(proxy.url.username)}:${decodeURIComponent(proxy.url.password)}`)
    }`,
  };
  const at = {
    host: proxy.url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(proxy.url.port || (proxy.url.protocol === "https:" ? 443 : 80)),
  };
  if (url.protocol === "http:") {
    return {
      request: (onAnswer) =>
        toProxy.request({
          ...at,
          method: "PUT",
          path: url.href,
          headers: { ...headers, Host: url.host, ...auth },
          signal,
        }, onAnswer),
    };
  }
  const target = `${url.hostname}:${url.port || 443}`;
  const socket = await new Promise<import("node:net").Socket>((resolve, reject) => {
    const connect = toProxy.request({
      ...at,
      method: "CONNECT",
      path: target,
      headers: { Host: target, ...auth },
      signal,
    });
    connect.on("connect", (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(
        new Error(
          `${named} answered ${res.statusCode} ${res.statusMessage ?? ""} to CONNECT ${target}`
            .trim(),
        ),
      );
    });
    connect.on(
      "error",
      (err) => reject(new Error(`Cannot connect through ${named}: ${err.message}`, { cause: err })),
    );
    connect.end();
  });
  const [https, tls] = await Promise.all([import("node:https"), import("node:tls")]);
  const isIp = /^[\d.]+$/.test(url.hostname) || url.hostname.startsWith("[");
  return {
    request: (onAnswer) =>
      https.request(
        url,
        {
          method: "PUT",
          headers,
          signal,
          createConnection: () =>
            tls.connect({ socket, ...(isIp ? {} : { servername: url.hostname }) }),
        } as import("node:https").RequestOptions,
        onAnswer,
      ),
  };
}

/** A variable of the environment, or undefined where the process may not read it. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** fetch takes bytes over an ArrayBuffer only; a copy otherwise. */
function asBody(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes);
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
