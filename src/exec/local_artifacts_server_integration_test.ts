/** The local artifact endpoint, driven by the runner's real GitLab job client over real HTTP. */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { ArtifactTransferError, JobClient } from "../gitlab/job_client.ts";
import type { Clock } from "../gitlab/clock.ts";
import { createRunnerInfo } from "../gitlab/runner_info.ts";
import { gzipStream } from "../archive/gzip_writer.ts";
import { MemoryTree } from "../archive/memory_tree.ts";
import { LocalArtifactsServer } from "./local_artifacts_server.ts";

const INFO = createRunnerInfo({ version: "0.1.0-test", revision: "abcdef12" });

/** Retries without waiting. */
class InstantClock implements Clock {
  now(): number {
    return Date.now();
  }
  sleep(_ms: number, signal?: AbortSignal): Promise<void> {
    return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  }
}

function stream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      // Several chunks, so the multipart parser sees split boundaries.
      for (let at = 0; at < bytes.length; at += 7) c.enqueue(bytes.slice(at, at + 7));
      c.close();
    },
  });
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function withServer(
  fn: (server: LocalArtifactsServer, client: JobClient) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "exec-artifacts-" });
  try {
    await using server = new LocalArtifactsServer({
      dir,
      jobs: [{ id: 1, token: "tok-1" }, { id: 2, token: "tok-2" }],
    });
    await server.start();
    using client = new JobClient({ url: server.url, runnerInfo: INFO, clock: new InstantClock() });
    await fn(server, client);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("LocalArtifactsServer stores an uploaded archive and serves it to a downstream job", async () => {
  await withServer(async (server, client) => {
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251);
    await client.uploadArtifact({ id: 1, token: "tok-1" }, {
      fileName: "artifacts.zip",
      format: "zip",
      type: "archive",
      expireIn: "1 week",
      open: () => stream(bytes),
    });
    assert.deepEqual(server.archiveOf(1), { filename: "artifacts.zip", size: bytes.length });
    assert.equal(server.archiveOf(2), null);
    const body = await client.downloadArtifact({ id: 1, token: "tok-2" }, { directDownload: true });
    assert.deepEqual(await readAll(body), bytes);
  });
});

Deno.test("LocalArtifactsServer reads the variables of a gzip dotenv report", async () => {
  await withServer(async (server, client) => {
    const report = gzipSync(new TextEncoder().encode("VERSION=1.2.3\nexport NAME='my app'\n"));
    await client.uploadArtifact({ id: 1, token: "tok-1" }, {
      fileName: ".env.gz",
      format: "gzip",
      type: "dotenv",
      expireIn: "",
      open: () => stream(new Uint8Array(report)),
    });
    assert.deepEqual(await server.dotenvOf(1), [
      { key: "VERSION", value: "1.2.3" },
      { key: "NAME", value: "my app" },
    ]);
    // A report is not the job's archive.
    assert.equal(server.archiveOf(1), null);
  });
});

Deno.test("LocalArtifactsServer refuses a malformed dotenv report, so the upload fails", async () => {
  await withServer(async (server, client) => {
    const report = gzipSync(new TextEncoder().encode("this is not dotenv\n"));
    const error = await client.uploadArtifact({ id: 1, token: "tok-1" }, {
      fileName: ".env.gz",
      format: "gzip",
      type: "dotenv",
      expireIn: "",
      open: () => stream(new Uint8Array(report)),
    }).then(() => null, (e) => e);
    assert.ok(error instanceof ArtifactTransferError, String(error));
    assert.deepEqual(await server.dotenvOf(1), []);
  });
});

Deno.test("LocalArtifactsServer names the file of a several-file dotenv report that has a bad line", async () => {
  await withServer(async (server, client) => {
    const files = new MemoryTree()
      .addFile("build.env", "VERSION=1.2.3\n")
      .addFile("deploy/url.env", "URL=https://example.com\nthis line is bad\n");
    const error = await client.uploadArtifact({ id: 1, token: "tok-1" }, {
      fileName: "dotenv.gz",
      format: "gzip",
      type: "dotenv",
      expireIn: "",
      // As the upload stage writes it: one gzip member per file, named in its header.
      open: () => gzipStream(files, ["build.env", "deploy/url.env"], { level: "default" }),
    }).then(() => null, (e) => e);
    assert.ok(error instanceof ArtifactTransferError, String(error));
    assert.match(
      error.message,
      /Invalid dotenv report: deploy\/url\.env:2: expected KEY=VALUE, got "this line is bad"/,
    );
    assert.deepEqual(await server.dotenvOf(1), []);
  });
});

Deno.test("LocalArtifactsServer lets only this pipeline's job tokens in", async () => {
  await withServer(async (server, client) => {
    const upload = (id: number, token: string) =>
      client.uploadArtifact({ id, token }, {
        fileName: "artifacts.zip",
        format: "zip",
        type: "archive",
        expireIn: "",
        open: () => stream(new Uint8Array([1, 2, 3])),
      }).then(() => "ok", (e: ArtifactTransferError) => e.kind);
    assert.equal(await upload(1, "tok-2"), "forbidden");
    assert.equal(await upload(1, "stranger"), "forbidden");
    assert.equal(server.archiveOf(1), null);
    const missing = await client.downloadArtifact({ id: 2, token: "tok-1" }).then(
      () => "ok",
      (e: ArtifactTransferError) => e.kind,
    );
    assert.equal(missing, "not_found");
    const response = await fetch(`${server.url}/api/v4/jobs/1/artifacts`, {
      headers: { "JOB-TOKEN": "stranger" },
    });
    await response.body?.cancel();
    assert.equal(response.status, 403);
  });
});

Deno.test("LocalArtifactsServer answers job updates and trace patches with OK", async () => {
  await withServer(async (server) => {
    const put = await fetch(`${server.url}/api/v4/jobs/1`, {
      method: "PUT",
      headers: { "JOB-TOKEN": "tok-1", "Content-Type": "application/json" },
      body: JSON.stringify({ state: "running" }),
    });
    await put.body?.cancel();
    assert.equal(put.status, 200);
    const patch = await fetch(`${server.url}/api/v4/jobs/1/trace`, {
      method: "PATCH",
      headers: { "JOB-TOKEN": "tok-1" },
      body: "log",
    });
    await patch.body?.cancel();
    assert.equal(patch.status, 202);
  });
});
