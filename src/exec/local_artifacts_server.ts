/**
 * The few GitLab API routes a job's executor process calls, served on
 * 127.0.0.1 for `runner exec`, so that artifact upload and download run the
 * same client code as with GitLab (`runner.url` points here):
 *
 * - `POST /api/v4/jobs/:id/artifacts`: one multipart `file` part, streamed to
 *   disk; `artifact_type` (default `archive`) and `artifact_format` from the
 *   query. A `dotenv` report is parsed at once; a malformed one is refused with
 *   400, as GitLab does, so the uploading job fails at its upload stage.
 * - `GET /api/v4/jobs/:id/artifacts`: the job's `archive` artifact; 404 when
 *   it uploaded none.
 * - `PUT /api/v4/jobs/:id` and `PATCH /api/v4/jobs/:id/trace`: answered OK
 *   (exec reads the log from the executor process itself).
 *
 * Every call needs the `JOB-TOKEN` of a job of this pipeline (uploads: the
 * job's own). Files live under `dir`, one folder per job id.
 *
 * Call order: `start` once, then read `url`; `ArtifactLedger` methods at any
 * time; `close` (or dispose) once, stopping the server; it may run twice.
 */
import { join } from "node:path";
import type { ArtifactLedger } from "./pipeline_runner.ts";
import { parseDotenv } from "../pipeline/variables_file.ts";

interface StoredArtifact {
  path: string;
  /** The name the runner sent, e.g. `artifacts.zip`. */
  filename: string;
  size: number;
}

export interface LocalArtifactsServerOptions {
  /** Where uploaded files are kept; created if missing. */
  dir: string;
  /** Job ids and tokens of the pipeline: the only callers let in. */
  jobs: ReadonlyArray<{ id: number; token: string }>;
  /** Port on 127.0.0.1; default 0, any free port. */
  port?: number;
}

const MAX_DOTENV_BYTES = 5 * 1024;

export class LocalArtifactsServer implements ArtifactLedger, AsyncDisposable {
  readonly #dir: string;
  readonly #port: number;
  readonly #tokens = new Map<number, string>();
  readonly #archives = new Map<number, StoredArtifact>();
  readonly #dotenv = new Map<number, Array<{ key: string; value: string }>>();
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #url = "";

  constructor(options: LocalArtifactsServerOptions) {
    this.#dir = options.dir;
    this.#port = options.port ?? 0;
    for (const job of options.jobs) this.#tokens.set(job.id, job.token);
  }

  /** `http://127.0.0.1:<port>`; set by `start`. */
  get url(): string {
    if (this.#url === "") throw new Error("The local artifacts server is not started");
    return this.#url;
  }

  async start(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: this.#port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.#url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  archiveOf(jobId: number): { filename: string; size: number } | null {
    const stored = this.#archives.get(jobId);
    return stored ? { filename: stored.filename, size: stored.size } : null;
  }

  dotenvOf(jobId: number): Promise<Array<{ key: string; value: string }>> {
    return Promise.resolve(this.#dotenv.get(jobId) ?? []);
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) await server.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const m = /^\/api\/v4\/jobs\/(\d+)(\/artifacts|\/trace)?\/?$/.exec(url.pathname);
    if (!m) return json(404, { message: "404 Not Found" });
    const jobId = Number(m[1]);
    const token = request.headers.get("JOB-TOKEN") ?? "";
    const isKnown = [...this.#tokens.values()].includes(token);
    if (!isKnown) return json(403, { message: "403 Forbidden" });
    const route = `${request.method} ${m[2] ?? ""}`;
    switch (route) {
      case "PUT ":
        return json(200, {}, { "Job-Status": "running" });
      case "PATCH /trace": {
        await request.body?.cancel();
        return new Response(null, { status: 202, headers: { "Job-Status": "running" } });
      }
      case "GET /artifacts": {
        const stored = this.#archives.get(jobId);
        if (!stored) return json(404, { message: "404 Not Found" });
        const file = await Deno.open(stored.path, { read: true });
        return new Response(file.readable, {
          status: 200,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Length": String(stored.size),
            "Content-Disposition": `attachment; filename="${stored.filename}"`,
          },
        });
      }
      case "POST /artifacts": {
        if (this.#tokens.get(jobId) !== token) return json(403, { message: "403 Forbidden" });
        return await this.#upload(request, jobId, url);
      }
      default:
        return json(405, { message: "405 Method Not Allowed" });
    }
  }

  async #upload(request: Request, jobId: number, url: URL): Promise<Response> {
    const type = url.searchParams.get("artifact_type") || "archive";
    if (!/^[a-z_]+$/.test(type)) return json(400, { message: `Invalid artifact_type "${type}"` });
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/.exec(
      request.headers.get("Content-Type") ?? "",
    );
    if (!boundary || !request.body) {
      return json(400, { message: "Expected a multipart/form-data body" });
    }
    const jobDir = join(this.#dir, String(jobId));
    await Deno.mkdir(jobDir, { recursive: true });
    const path = join(jobDir, type);
    let part: { filename: string; size: number };
    try {
      part = await saveFilePart(request.body, boundary[1] ?? boundary[2]!, path);
    } catch (error) {
      return json(400, { message: (error as Error).message });
    }
    if (type === "dotenv") {
      try {
        const bytes = await Deno.readFile(path);
        // `reports: dotenv` with several files is one gzip member per file;
        // like GitLab, each file is parsed on its own, in order.
        const files = (bytes[0] === 0x1f ? await gunzipMembers(bytes) : [{ name: "", data: bytes }])
          .map((m) => ({
            // An error names the job's file: each member carries its path (FNAME).
            name: m.name || ".env",
            text: new TextDecoder().decode(m.data),
          }));
        if (files.reduce((n, f) => n + f.text.length, 0) > MAX_DOTENV_BYTES) {
          return json(400, { message: `dotenv report is larger than ${MAX_DOTENV_BYTES} bytes` });
        }
        this.#dotenv.set(
          jobId,
          files.flatMap((f) => parseDotenv(f.text, f.name)).map((v) => ({
            key: v.key,
            value: v.value,
          })),
        );
      } catch (error) {
        return json(400, { message: `Invalid dotenv report: ${(error as Error).message}` });
      }
    }
    if (type === "archive") this.#archives.set(jobId, { path, ...part });
    return json(201, {});
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

const encoder = new TextEncoder();

/**
 * Writes the content of the single file part of a multipart body to `path`
 * without holding it in memory; resolves with its file name and size.
 */
export async function saveFilePart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  path: string,
): Promise<{ filename: string; size: number }> {
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  // Enough to always hold back the closing delimiter and a short epilogue.
  const holdBack = delimiter.length + 256;
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  let head: Uint8Array | null = new Uint8Array(0);
  let held: Uint8Array = new Uint8Array(0);
  let filename = "";
  let size = 0;
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    size += bytes.length;
  };
  for await (const chunk of body) {
    if (head !== null) {
      head = concat(head, chunk);
      const end = indexOf(head, encoder.encode("\r\n\r\n"), 0);
      if (end < 0) {
        if (head.length > 16384) throw new Error("Multipart part headers are too long");
        continue;
      }
      const headers = new TextDecoder().decode(head.subarray(0, end));
      if (!headers.startsWith(`--${boundary}`)) {
        throw new Error("Multipart body does not start with its boundary");
      }
      if (!/name="file"/.test(headers)) throw new Error('Expected the form field "file"');
      filename = /filename="([^"]*)"/.exec(headers)?.[1] ?? "";
      held = head.subarray(end + 4);
      head = null;
    } else {
      held = concat(held, chunk);
    }
    if (held.length > holdBack) {
      await write(held.subarray(0, held.length - holdBack));
      held = held.slice(held.length - holdBack);
    }
  }
  if (head !== null) throw new Error("Multipart body ended inside the part headers");
  const end = lastIndexOf(held, delimiter);
  if (end < 0) throw new Error("Multipart body has no closing boundary");
  await write(held.subarray(0, end));
  return { filename: filename.split("/").pop() || "artifacts", size };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function lastIndexOf(haystack: Uint8Array, needle: Uint8Array): number {
  let found = -1;
  for (let at = indexOf(haystack, needle, 0); at >= 0; at = indexOf(haystack, needle, at + 1)) {
    found = at;
  }
  return found;
}

/** Gunzips with the web stream API: node:zlib takes tens of ms to load. */
async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The members of a multi-member gzip file, each decompressed, with the file
 * name its header gives ("" when none).
 * DecompressionStream refuses bytes after the first member, and does not say
 * where it ended; the next member starts at a gzip magic number, so each
 * candidate end is tried (dotenv reports are a few KiB at most).
 */
async function gunzipMembers(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Array<{ name: string; data: Uint8Array }>> {
  const out: Array<{ name: string; data: Uint8Array }> = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.length;
    let data: Uint8Array | null = null;
    for (let i = start + 18; i <= bytes.length; i++) {
      const isBoundary = i === bytes.length ||
        (bytes[i] === 0x1f && bytes[i + 1] === 0x8b && bytes[i + 2] === 0x08);
      if (!isBoundary) continue;
      try {
        data = await gunzip(bytes.slice(start, i));
        end = i;
        break;
      } catch {
        // Not the end of this member: the magic bytes were compressed data.
      }
    }
    if (data === null) throw new Error("not a valid gzip file");
    out.push({ name: memberName(bytes, start), data });
    start = end;
  }
  return out;
}

/** FNAME of the gzip member at `start` (RFC 1952 §2.3), "" when it has none. */
function memberName(bytes: Uint8Array, start: number): string {
  const flags = bytes[start + 3] ?? 0;
  if ((flags & 0x08) === 0) return "";
  let at = start + 10;
  if (flags & 0x04) at += 2 + ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8)); // FEXTRA
  const end = bytes.indexOf(0, at);
  return end < 0 ? "" : new TextDecoder().decode(bytes.subarray(at, end));
}
