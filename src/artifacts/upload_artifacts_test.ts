import assert from "node:assert/strict";
import zlib from "node:zlib";
import { MemoryTree } from "../archive/memory_tree.ts";
import { BytesReader } from "../archive/random_access_reader.ts";
import { readZipDirectory } from "../archive/zip_reader.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobArtifact } from "../job/job_spec.ts";
import type {
  ArtifactUploader,
  ArtifactUploadRequest,
  ArtifactUploadResult,
} from "./artifact_uploader.ts";
import { artifactsForStage, uploadArtifacts } from "./upload_artifacts.ts";

class FakeUploader implements ArtifactUploader {
  requests: (Omit<ArtifactUploadRequest, "body"> & { bytes: Uint8Array })[] = [];
  constructor(readonly answers: ArtifactUploadResult[]) {}
  async upload(request: ArtifactUploadRequest): Promise<ArtifactUploadResult> {
    const { body, ...rest } = request;
    this.requests.push({ ...rest, bytes: new Uint8Array(await new Response(body).arrayBuffer()) });
    return this.answers.shift() ?? { kind: "created", status: "201 Created" };
  }
}

function artifact(overrides: Partial<JobArtifact> = {}): JobArtifact {
  return {
    name: "",
    untracked: false,
    paths: ["out"],
    exclude: [],
    when: "on_success",
    artifactType: "",
    artifactFormat: "",
    expireIn: "",
    ...overrides,
  };
}

function upload(artifacts: JobArtifact[], uploader: FakeUploader, jobSucceeded = true) {
  const lines: string[] = [];
  const sleeps: number[] = [];
  const tree = new MemoryTree().addFile("out/a.txt", "alpha").addFile("out/b.txt", "beta").addFile(
    "junit.xml",
    "<testsuite/>",
  );
  const run = uploadArtifacts({
    jobId: 42,
    jobToken: "job-token",
    artifacts,
    jobSucceeded,
    source: tree,
    projectDir: "/builds/p",
    uploader,
    compressionLevel: "default",
    log: (l) => lines.push(l),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    signal: new AbortController().signal,
  });
  return { run, lines, sleeps };
}

Deno.test("artifacts upload as a zip named after the artifact, with the official log lines", async () => {
  const uploader = new FakeUploader([]);
  const { run, lines } = await upload(
    [artifact({ name: "my build/site", expireIn: "1 week" })],
    uploader,
  );
  await run;
  assert.equal(uploader.requests.length, 1);
  const req = uploader.requests[0]!;
  assert.equal(req.fileName, "site.zip");
  assert.equal(req.jobId, 42);
  assert.equal(req.jobToken, "job-token");
  assert.equal(req.artifactFormat, "");
  assert.equal(req.expireIn, "1 week");
  const entries = await readZipDirectory(new BytesReader(req.bytes));
  assert.deepEqual(entries.map((e) => e.rawName), ["out/", "out/a.txt", "out/b.txt"]);
  assert.deepEqual(lines, [
    "Uploading artifacts...",
    "out: found 3 matching artifact files and directories",
    'Uploading artifacts as "archive" to coordinator... 201 Created  id=42 responseStatus=201 Created',
  ]);
});

Deno.test("no matching files is an ERROR line, not a failure", async () => {
  const uploader = new FakeUploader([]);
  const { run, lines } = await upload([artifact({ paths: ["nope"] })], uploader);
  await run;
  assert.equal(uploader.requests.length, 0);
  assert.equal(lines.at(-1), "ERROR: No files to upload");
});

Deno.test("an entry with only exclude runs and says there is nothing to upload, as upstream's", async () => {
  const entry = artifact({ paths: [], exclude: ["*.log"] });
  assert.deepEqual(artifactsForStage([entry], true), [entry]);
  const uploader = new FakeUploader([]);
  const { run, lines } = await upload([entry], uploader);
  await run;
  assert.equal(uploader.requests.length, 0);
  assert.equal(lines.at(-1), "ERROR: No files to upload");
});

Deno.test("when decides which stage uploads an entry", async () => {
  const entries = [
    artifact({ name: "s", when: "on_success" }),
    artifact({ name: "f", when: "on_failure" }),
    artifact({ name: "a", when: "always" }),
    artifact({ name: "none", paths: [], untracked: false, when: "always" }),
  ];
  const onSuccess = new FakeUploader([]);
  await (await upload(entries, onSuccess, true)).run;
  assert.deepEqual(onSuccess.requests.map((r) => r.fileName), ["s.zip", "a.zip"]);
  const onFailure = new FakeUploader([]);
  await (await upload(entries, onFailure, false)).run;
  assert.deepEqual(onFailure.requests.map((r) => r.fileName), ["f.zip", "a.zip"]);
});

Deno.test("gzip reports are one gzip member per file, named .gz", async () => {
  const uploader = new FakeUploader([]);
  await (await upload([
    artifact({
      name: "junit.xml",
      paths: ["junit.xml"],
      artifactType: "junit",
      artifactFormat: "gzip",
    }),
  ], uploader)).run;
  const req = uploader.requests[0]!;
  assert.equal(req.fileName, "junit.xml.gz");
  assert.equal(req.artifactType, "junit");
  assert.equal(new TextDecoder().decode(zlib.gunzipSync(req.bytes)), "<testsuite/>");
  // FNAME carries the path.
  assert.equal(new TextDecoder().decode(req.bytes.subarray(10, 19)), "junit.xml");
});

Deno.test("raw format needs exactly one file", async () => {
  const ok = new FakeUploader([]);
  await (await upload([
    artifact({ name: ".env", paths: ["junit.xml"], artifactFormat: "raw", artifactType: "dotenv" }),
  ], ok)).run;
  assert.equal(new TextDecoder().decode(ok.requests[0]!.bytes), "<testsuite/>");
  assert.equal(ok.requests[0]!.fileName, ".env");
  const two = new FakeUploader([]);
  const { run } = await upload([artifact({ paths: ["out"], artifactFormat: "raw" })], two);
  await assert.rejects(
    run,
    /The raw artifact format needs exactly one file, but 2 matched: out\/a\.txt, out\/b\.txt/,
  );
});

Deno.test("413 fails the job at once with a clear error", async () => {
  const uploader = new FakeUploader([{
    kind: "too_large",
    status: "413 Request Entity Too Large",
  }]);
  const { run, lines } = await upload([artifact()], uploader);
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "script_failure");
    assert.match(
      err.message,
      /the archive is too large for GitLab \(413 Request Entity Too Large\)/,
    );
    return true;
  });
  assert.equal(uploader.requests.length, 1);
  assert.equal(
    lines.at(-1),
    'ERROR: Uploading artifacts as "archive" to coordinator... too large archive  id=42 responseStatus=413 Request Entity Too Large',
  );
});

Deno.test("403 is not retried", async () => {
  const uploader = new FakeUploader([{ kind: "forbidden", status: "403 Forbidden" }]);
  await assert.rejects((await upload([artifact()], uploader)).run, /GitLab refused the job token/);
  assert.equal(uploader.requests.length, 1);
});

Deno.test("failures are tried 3 times and 503 six times, with a fresh archive each try", async () => {
  const failing = new FakeUploader(
    Array(5).fill({ kind: "failed", status: "500 Internal Server Error" }),
  );
  const a = await upload([artifact()], failing);
  await assert.rejects(a.run, /failed after 3 tries: 500 Internal Server Error/);
  assert.equal(failing.requests.length, 3);
  assert.deepEqual(a.sleeps, [1000, 2000]);
  assert.deepEqual(failing.requests[2]!.bytes, failing.requests[0]!.bytes);

  const unavailable = new FakeUploader(
    Array(5).fill({ kind: "service_unavailable", status: "503 Service Unavailable" }),
  );
  await (await upload([artifact()], unavailable)).run;
  assert.equal(unavailable.requests.length, 6);
});

Deno.test("a 307 moves the next try to the Location's scheme and host", async () => {
  const uploader = new FakeUploader([
    {
      kind: "redirected",
      status: "307 Temporary Redirect",
      location: "https://gitlab.example.com:8443/api/v4/jobs/42/artifacts?x=1",
    },
  ]);
  const { run, lines } = await upload([artifact()], uploader);
  await run;
  assert.deepEqual(uploader.requests.map((r) => r.baseUrl), [
    "",
    "https://gitlab.example.com:8443",
  ]);
  assert.ok(lines.some((l) => l.startsWith("WARNING: Upload request redirected")));
});
