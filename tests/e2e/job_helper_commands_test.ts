/**
 * The official helper commands as a driver's script calls them: `runner
 * cache-archiver` / `cache-extractor` with the official flags, in the project
 * directory, and `artifacts-uploader`'s deadlines against the fake GitLab.
 * (Artifact helpers are covered with a real job by custom_job_files_test.ts.)
 */
import assert from "node:assert/strict";
import { craftZip } from "../../src/archive/crafted_zip.ts";
import { BytesReader } from "../../src/archive/random_access_reader.ts";
import { readZipDirectory } from "../../src/archive/zip_reader.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runCli } from "../fixtures/runner_process.ts";

/** Picks the next job as a runner does (POST jobs/request): its id and job token. */
async function requestJob(url: string, token: string): Promise<{ id: number; token: string }> {
  const response = await fetch(new URL("/api/v4/jobs/request", url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
  assert.equal(response.status, 201);
  const job = await response.json();
  return { id: job.id, token: job.token };
}

Deno.test("cache-archiver and cache-extractor round-trip a cache file; a missing one fails clearly; unsupported flags are named", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/vendor/deep`, { recursive: true });
    await Deno.writeTextFile(`${project}/vendor/deep/lib.txt`, "lib");
    await Deno.writeTextFile(`${project}/other.txt`, "not cached");
    const file = `${root}/cache/acme/widget/deps/cache.zip`;
    const archived = await runCli(
      ["cache-archiver", "--file", file, "--path", "vendor/", "--timeout", "10"],
      { cwd: project },
    );
    assert.equal(archived.code, 0, archived.stdout + archived.stderr);
    assert.match(archived.stdout, /vendor: found 3 matching artifact files and directories/);
    assert.match(archived.stdout, /WARNING: --timeout is not supported by this runner; ignored/);

    await Deno.remove(`${project}/vendor`, { recursive: true });
    const extracted = await runCli(["cache-extractor", "--file", file], { cwd: project });
    assert.equal(extracted.code, 0, extracted.stdout + extracted.stderr);
    assert.equal(await Deno.readTextFile(`${project}/vendor/deep/lib.txt`), "lib");

    const missing = await runCli(
      ["cache-extractor", "--file", `${root}/cache/none/cache.zip`],
      { cwd: project },
    );
    assert.equal(missing.code, 1);
    // A warning, as the official helper prints it: a job's first run has no cache.
    assert.equal(missing.stdout, "WARNING: Cache file does not exist\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache-extractor restores symlinks that lead out of the project as they are, and never writes a file through one", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/.venv/bin`, { recursive: true });
    await Deno.mkdir(`${root}/outside`);
    await Deno.writeTextFile(`${root}/outside/canary`, "untouched");
    await Deno.symlink("/usr/bin/python3", `${project}/.venv/bin/python`);
    await Deno.symlink("../../outside", `${project}/.venv/up`);
    const file = `${root}/cache/venv/cache.zip`;
    const archived = await runCli(["cache-archiver", "--file", file, "--path", ".venv/"], {
      cwd: project,
    });
    assert.equal(archived.code, 0, archived.stdout + archived.stderr);
    await Deno.remove(`${project}/.venv`, { recursive: true });
    const extracted = await runCli(["cache-extractor", "--file", file], { cwd: project });
    assert.equal(extracted.code, 0, extracted.stdout + extracted.stderr);
    assert.equal(await Deno.readLink(`${project}/.venv/bin/python`), "/usr/bin/python3");
    assert.equal(await Deno.readLink(`${project}/.venv/up`), "../../outside");

    // A file under one of the archive's links is refused, whatever the link's target.
    const evil = `${root}/cache/evil/cache.zip`;
    await Deno.mkdir(`${root}/cache/evil`);
    await Deno.writeFile(
      evil,
      craftZip([
        { name: "out", kind: "symlink", content: `${root}/outside` },
        { name: "out/canary", content: "pwned" },
      ]),
    );
    const refused = await runCli(["cache-extractor", "--file", evil], { cwd: project });
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stdout + refused.stderr,
      /Entry "out\/canary" is inside "out", which the archive stores as a symlink/,
    );
    assert.equal(await Deno.readTextFile(`${root}/outside/canary`), "untouched");
    // The link of a restored cache is on disk now: a later archive is not written through it.
    await Deno.writeFile(evil, craftZip([{ name: ".venv/up/canary", content: "pwned" }]));
    const through = await runCli(["cache-extractor", "--file", evil], { cwd: project });
    assert.equal(through.code, 1, through.stdout + through.stderr);
    assert.match(
      through.stdout + through.stderr,
      /Cannot extract into "\.venv\/up": it is a symlink in the target directory, which is never followed/,
    );
    assert.equal(await Deno.readTextFile(`${root}/outside/canary`), "untouched");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-uploader --response-header-timeout and --timeout end a try GitLab does not answer, naming the flag; a bad duration is refused", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    assert.equal(picked.id, job.id);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    const upload = (flags: string[]) =>
      runCli([
        "artifacts-uploader",
        "--url",
        gitlab.url,
        "--token",
        picked.token,
        "--id",
        String(job.id),
        "--path",
        "out.txt",
        ...flags,
      ], { cwd: root });
    for (
      const [flags, expected] of [
        [["--response-header-timeout", "1s"], /no answer within 1 s \(--response-header-timeout\)/],
        [
          ["--timeout", "1s"],
          /no answer from GitLab within 1s of the upload's start \(--timeout\)/,
        ],
      ] as const
    ) {
      gitlab.injectFault({ endpoint: "upload_artifacts", delayMs: 5_000, times: 1 });
      const before = gitlab.artifactsOf(job.id).length;
      const run = await upload([...flags]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, expected);
      assert.doesNotMatch(run.stdout, /not supported by this runner/);
      assert.equal(gitlab.artifactsOf(job.id).length, before + 1, "the next try uploaded");
    }
    const bad = await upload(["--timeout", "soon"]);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /ERROR: --timeout "soon": /);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-uploader and artifacts-downloader refuse a missing or zero --id and a bad --url, naming the flag, before asking GitLab", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    for (const helper of ["artifacts-uploader", "artifacts-downloader"]) {
      const extra = helper === "artifacts-uploader" ? ["--path", "out.txt"] : [];
      for (
        const [flags, expected] of [
          [["--url", gitlab.url, "--token", picked.token], /ERROR: Missing --id\n/],
          [
            ["--url", gitlab.url, "--token", picked.token, "--id", "0"],
            /ERROR: --id 0 is not a job ID/,
          ],
          [
            ["--url", "gitlab.example.com", "--token", picked.token, "--id", String(picked.id)],
            /ERROR: Invalid GitLab URL "gitlab.example.com": not an absolute URL \(--url\)/,
          ],
        ] as const
      ) {
        const run = await runCli([helper, ...flags, ...extra], { cwd: root });
        assert.equal(run.code, 2, `${helper} ${flags.join(" ")}: ${run.stdout}${run.stderr}`);
        assert.match(run.stdout, expected);
      }
    }
    assert.equal(gitlab.requestsTo("upload_artifacts").length, 0);
    assert.equal(gitlab.requestsTo("download_artifacts").length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache-archiver with no matching files keeps the cache file there was, saying so", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/vendor`, { recursive: true });
    await Deno.writeTextFile(`${project}/vendor/lib.txt`, "lib");
    const file = `${root}/cache/deps/cache.zip`;
    const first = await runCli(["cache-archiver", "--file", file, "--path", "vendor/"], {
      cwd: project,
    });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const stored = await Deno.readFile(file);

    await Deno.remove(`${project}/vendor`, { recursive: true });
    const none = await runCli(["cache-archiver", "--file", file, "--path", "vendor/"], {
      cwd: project,
    });
    assert.equal(none.code, 0, none.stdout + none.stderr);
    assert.match(none.stdout, /WARNING: No files to cache\./);
    assert.deepEqual(await Deno.readFile(file), stored);

    const fresh = `${root}/cache/other/cache.zip`;
    const nothing = await runCli(["cache-archiver", "--file", fresh, "--path", "vendor/"], {
      cwd: project,
    });
    assert.equal(nothing.code, 0, nothing.stdout + nothing.stderr);
    await assert.rejects(Deno.stat(fresh), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache-archiver leaves an archive newer than every cached file as it is: Archive is up to date!", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/vendor`, { recursive: true });
    await Deno.writeTextFile(`${project}/vendor/lib.txt`, "lib");
    const file = `${root}/cache/deps/cache.zip`;
    const archive = () =>
      runCli(["cache-archiver", "--file", file, "--path", "vendor/"], { cwd: project });
    const first = await archive();
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const past = new Date(Date.now() - 3_600_000);
    await Deno.utime(`${project}/vendor/lib.txt`, past, past);
    await Deno.utime(`${project}/vendor`, past, past);
    const written = (await Deno.stat(file)).mtime;

    const again = await archive();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /Archive is up to date!/);
    assert.deepEqual((await Deno.stat(file)).mtime, written);

    const future = new Date(Date.now() + 3_600_000);
    await Deno.writeTextFile(`${project}/vendor/lib.txt`, "lib 2");
    await Deno.utime(`${project}/vendor/lib.txt`, future, future);
    const changed = await archive();
    assert.equal(changed.code, 0, changed.stdout + changed.stderr);
    assert.doesNotMatch(changed.stdout, /up to date/);
    await Deno.remove(`${project}/vendor`, { recursive: true });
    const extracted = await runCli(["cache-extractor", "--file", file], { cwd: project });
    assert.equal(extracted.code, 0, extracted.stdout + extracted.stderr);
    assert.equal(await Deno.readTextFile(`${project}/vendor/lib.txt`), "lib 2");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function zipNames(bytes: Uint8Array): Promise<string[]> {
  return (await readZipDirectory(new BytesReader(bytes))).map((e) => e.rawName).sort();
}

Deno.test("artifacts-uploader and cache-archiver expand $VAR in --path, --exclude and --name from their environment, as the official helpers", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/dist`, { recursive: true });
    await Deno.writeTextFile(`${project}/dist/app.txt`, "app");
    await Deno.writeTextFile(`${project}/dist/debug.log`, "noise");
    const env = { OUT_DIR: "dist" };
    const upload = await runCli([
      "artifacts-uploader",
      "--url",
      gitlab.url,
      "--token",
      picked.token,
      "--id",
      String(job.id),
      "--path",
      "$OUT_DIR/",
      "--exclude",
      "${OUT_DIR}/*.log",
      "--name",
      "$OUT_DIR-files",
    ], { cwd: project, env });
    assert.equal(upload.code, 0, upload.stdout + upload.stderr);
    const [stored] = gitlab.artifactsOf(job.id);
    assert.equal(stored?.fileName, "dist-files.zip");
    assert.deepEqual(await zipNames(stored.bytes), ["dist/", "dist/app.txt"]);

    const file = `${root}/cache/cache.zip`;
    const archived = await runCli(
      ["cache-archiver", "--file", file, "--path", "${OUT_DIR}/", "--exclude", "$OUT_DIR/*.log"],
      { cwd: project, env },
    );
    assert.equal(archived.code, 0, archived.stdout + archived.stderr);
    assert.deepEqual(await zipNames(await Deno.readFile(file)), ["dist/", "dist/app.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache-archiver and cache-extractor name the cache file and --file when it cannot be written or read", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/vendor`, { recursive: true });
    await Deno.writeTextFile(`${project}/vendor/lib.txt`, "lib");
    await Deno.mkdir(`${root}/cache/dir.zip`, { recursive: true });
    await Deno.writeTextFile(`${root}/cache/plain`, "a file");
    await Deno.writeTextFile(`${root}/cache/garbage.zip`, "no zip");
    for (
      const [args, expected] of [
        [
          ["cache-archiver", "--file", `${root}/cache/dir.zip`, "--path", "vendor/"],
          /ERROR: Cannot write cache file ".*\/cache\/dir\.zip" \(--file\): it is a directory/,
        ],
        [
          ["cache-archiver", "--file", `${root}/cache/plain/cache.zip`, "--path", "vendor/"],
          /ERROR: Cannot write cache file ".*\/cache\/plain\/cache\.zip" \(--file\): File exists/,
        ],
        [
          ["cache-extractor", "--file", `${root}/cache/dir.zip`],
          /ERROR: Cannot read cache file ".*\/cache\/dir\.zip" \(--file\): not a file/,
        ],
        [
          ["cache-extractor", "--file", `${root}/cache/garbage.zip`],
          /ERROR: Cannot extract cache file ".*\/cache\/garbage\.zip": Not a zip archive/,
        ],
      ] as const
    ) {
      const run = await runCli([...args], { cwd: project });
      assert.equal(run.code, 1, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout, expected);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-uploader refuses an --artifact-format it cannot write, naming the flag, before archiving", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    const run = await runCli([
      "artifacts-uploader",
      "--url",
      gitlab.url,
      "--token",
      picked.token,
      "--id",
      String(job.id),
      "--path",
      "out.txt",
      "--artifact-format",
      "tarball",
    ], { cwd: root });
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /^ERROR: Unsupported artifact format "tarball": this runner writes zip, gzip and raw \(--artifact-format\)\n$/,
    );
    assert.equal(gitlab.requestsTo("upload_artifacts").length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-uploader names an --expire-in that is no duration and sends it as given, as the official helper", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    const upload = (expireIn: string) =>
      runCli([
        "artifacts-uploader",
        "--url",
        gitlab.url,
        "--token",
        picked.token,
        "--id",
        String(job.id),
        "--path",
        "out.txt",
        "--expire-in",
        expireIn,
      ], { cwd: root });
    const bad = await upload("2 weeeks");
    assert.equal(bad.code, 0, bad.stdout + bad.stderr);
    assert.match(
      bad.stdout,
      /WARNING: --expire-in "2 weeeks" is not a duration \(like "1 week" or "30 days"\) or never: sent as given/,
    );
    for (const good of ["2 weeks", "1h 30m", "never"]) {
      const run = await upload(good);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.doesNotMatch(run.stdout, /--expire-in/);
    }
    assert.deepEqual(gitlab.artifactsOf(job.id).map((a) => a.expireIn), [
      "2 weeeks",
      "2 weeks",
      "1h 30m",
      "never",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache-init makes each path it is given mode 0777, naming one it cannot change, as the official helper", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    await Deno.mkdir(`${root}/cache`, { mode: 0o700 });
    await Deno.mkdir(`${root}/builds`, { mode: 0o700 });
    const run = await runCli(["cache-init", "cache", "missing", `${root}/builds`], { cwd: root });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /ERROR: Cannot make "missing" mode 0777: No such file or directory/);
    assert.equal((await Deno.stat(`${root}/cache`)).mode! & 0o7777, 0o777);
    assert.equal((await Deno.stat(`${root}/builds`)).mode! & 0o7777, 0o777);

    const none = await runCli(["cache-init"], { cwd: root });
    assert.equal(none.code, 2, none.stdout + none.stderr);
    assert.match(none.stdout, /ERROR: No arguments passed, at least 1 path is required/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-uploader and artifacts-downloader print the transfer meter when TRANSFER_METER_FREQUENCY (or --transfer-meter-frequency) is set, as the official helpers; a bad value is named and the transfer goes on", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    const credentials = ["--url", gitlab.url, "--token", picked.token, "--id", String(job.id)];
    const upload = await runCli(["artifacts-uploader", ...credentials, "--path", "out.txt"], {
      cwd: root,
      env: { TRANSFER_METER_FREQUENCY: "1s" },
    });
    assert.equal(upload.code, 0, upload.stdout + upload.stderr);
    assert.match(upload.stdout, /\rUploading artifacts \d+ B \([\d.]+ .?B\/s\) {16}\n/);

    await Deno.remove(`${root}/out.txt`);
    const download = await runCli(
      ["artifacts-downloader", ...credentials, "--transfer-meter-frequency", "1s"],
      { cwd: root },
    );
    assert.equal(download.code, 0, download.stdout + download.stderr);
    assert.match(download.stdout, /\rDownloading artifacts \d+ B \([\d.]+ .?B\/s\) {16}\n/);
    assert.equal(await Deno.readTextFile(`${root}/out.txt`), "built");

    const bad = await runCli(["artifacts-downloader", ...credentials], {
      cwd: root,
      env: { TRANSFER_METER_FREQUENCY: "often" },
    });
    assert.equal(bad.code, 0, bad.stdout + bad.stderr);
    assert.match(
      bad.stdout,
      /WARNING: TRANSFER_METER_FREQUENCY \(--transfer-meter-frequency\) "often": .*; no transfer meter/,
    );
    assert.doesNotMatch(bad.stdout, /Downloading artifacts \d/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the helpers take every official flag: --compression-level acts, the others are named as not supported instead of failing the call", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    const project = `${root}/project`;
    await Deno.mkdir(project);
    await Deno.writeTextFile(`${project}/big.txt`, "compressible ".repeat(1000));
    const credentials = ["--url", gitlab.url, "--token", picked.token, "--id", String(job.id)];
    const upload = await runCli([
      "artifacts-uploader",
      ...credentials,
      "--path",
      "big.txt",
      "--compression-level",
      "fastest",
      "--verbose",
      "--generate-artifacts-metadata",
      "--runner-id",
      "7",
      "--metadata-parameter",
      "a",
    ], { cwd: project });
    assert.equal(upload.code, 0, upload.stdout + upload.stderr);
    for (const flag of ["verbose", "runner-id", "metadata-parameter"]) {
      assert.match(upload.stdout, new RegExp(`WARNING: --${flag} is not supported by this runner`));
    }
    const [stored] = gitlab.artifactsOf(job.id);
    const [entry] = await readZipDirectory(new BytesReader(stored!.bytes));
    assert.equal(entry?.method, 0, "fastest stores the file");

    const file = `${root}/cache/cache.zip`;
    const archived = await runCli([
      "cache-archiver",
      "--file",
      file,
      "--path",
      "big.txt",
      "--compression-level",
      "fastest",
      "--compression-format",
      "tarzstd",
      "--metadata",
      '{"cachekey":"deps"}',
      "--concurrency",
      "4",
      "--retry",
      "2",
    ], { cwd: project });
    assert.equal(archived.code, 0, archived.stdout + archived.stderr);
    assert.match(
      archived.stdout,
      /WARNING: --compression-format "tarzstd" is not supported by this runner: caches are zip archives/,
    );
    for (const flag of ["metadata", "concurrency", "retry"]) {
      assert.match(
        archived.stdout,
        new RegExp(`WARNING: --${flag} is not supported by this runner`),
      );
    }
    const [cached] = await readZipDirectory(new BytesReader(await Deno.readFile(file)));
    assert.equal(cached?.method, 0, "fastest stores the file");

    const extracted = await runCli(
      ["cache-extractor", "--file", file, "--transfer-buffer-size", "1024", "--retry-time", "1s"],
      { cwd: project },
    );
    assert.equal(extracted.code, 0, extracted.stdout + extracted.stderr);
    assert.match(extracted.stdout, /WARNING: --transfer-buffer-size is not supported/);

    const downloaded = await runCli(
      ["artifacts-downloader", ...credentials, "--retry", "3"],
      { cwd: project },
    );
    assert.equal(downloaded.code, 0, downloaded.stdout + downloaded.stderr);
    assert.match(downloaded.stdout, /WARNING: --retry is not supported/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("artifacts-downloader stages the archive in ARCHIVER_STAGING_DIR (--archiver-staging-dir), as the official helper; one that is no directory is refused naming it", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  const job = gitlab.enqueueJob({ variables: [] });
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const picked = await requestJob(gitlab.url, r.token);
    await Deno.writeTextFile(`${root}/out.txt`, "built");
    const credentials = ["--url", gitlab.url, "--token", picked.token, "--id", String(job.id)];
    const upload = await runCli(["artifacts-uploader", ...credentials, "--path", "out.txt"], {
      cwd: root,
    });
    assert.equal(upload.code, 0, upload.stdout + upload.stderr);
    await Deno.remove(`${root}/out.txt`);
    const staging = `${root}/staging`;
    await Deno.mkdir(staging);

    // GitLab answers after 3 s: the staged file is there meanwhile.
    gitlab.injectFault({ endpoint: "download_artifacts", delayMs: 3_000, times: 1 });
    const download = runCli(["artifacts-downloader", ...credentials], {
      cwd: root,
      env: { ARCHIVER_STAGING_DIR: staging },
    });
    let staged: string[] = [];
    for (let i = 0; i < 50 && staged.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      staged = (await Array.fromAsync(Deno.readDir(staging))).map((e) => e.name);
    }
    const done = await download;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(staged[0] ?? "", /^artifacts-.*\.tmp$/);
    assert.equal(await Deno.readTextFile(`${root}/out.txt`), "built");
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(staging)),
      [],
      "the staged file is removed",
    );

    const missing = await runCli(["artifacts-downloader", ...credentials], {
      cwd: root,
      env: { ARCHIVER_STAGING_DIR: `${root}/none` },
    });
    assert.equal(missing.code, 2, missing.stdout + missing.stderr);
    assert.match(
      missing.stdout,
      /ERROR: ARCHIVER_STAGING_DIR \(--archiver-staging-dir\) ".*\/none": No such file or directory/,
    );
    const file = await runCli(
      ["artifacts-downloader", ...credentials, "--archiver-staging-dir", "out.txt"],
      { cwd: root },
    );
    assert.equal(file.code, 2, file.stdout + file.stderr);
    assert.match(file.stdout, /ERROR: --archiver-staging-dir "out.txt" is not a directory/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
