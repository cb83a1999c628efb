/**
 * End to end: artifacts and cache through `runner run` against the fake
 * GitLab (real HTTP, real processes, real bash, real git http-backend, real
 * dockerd for the docker variant). Each test asserts what GitLab stores and
 * what the job log shows.
 */
import assert from "node:assert/strict";
import { craftZip } from "../../src/archive/crafted_zip.ts";
import { BytesReader } from "../../src/archive/random_access_reader.ts";
import { readZipDirectory } from "../../src/archive/zip_reader.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { GitRepo } from "../fixtures/git_repo.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";

const NO_GIT = { key: "GIT_STRATEGY", value: "none" };
const TIMEOUT = { timeoutMs: 120_000 };

function config(body: string): string {
  return `concurrent = 1\ncheck_interval = 1\n\n${body}`;
}

async function zipNames(bytes: Uint8Array): Promise<string[]> {
  return (await readZipDirectory(new BytesReader(bytes))).map((e) => e.rawName).sort();
}

/** Every path below `dir`, symlinks not followed. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    out.push(path);
    if (e.isDirectory) out.push(...await walk(path));
  }
  return out;
}

function dependency(job: { id: number; token: string }, name: string, size: number) {
  return {
    id: job.id,
    name,
    token: job.token,
    "artifacts_file": { filename: "artifacts.zip", size },
  };
}

Deno.test("artifacts of job 1 (** and exclude) reach job 2 through dependencies; cache and fallback keys are restored", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const cache = (key: string, fallback: string[] = []) => [
    { key, paths: ["vendor/"], policy: "pull-push", when: "on_success", "fallback_keys": fallback },
  ];

  const job1 = gitlab.enqueueJob({
    script: [
      "mkdir -p out/a/b vendor",
      "echo one > out/a/one.txt",
      "echo two > out/a/b/two.txt",
      "echo noise > out/a/b/noise.log",
      "echo lib-v1 > vendor/lib.txt",
    ],
    artifacts: [{ paths: ["out/**/*.txt"], exclude: ["**/*.log"], when: "on_success" }],
    cache: cache("deps"),
    variables: [NO_GIT],
  });
  const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
  assert.equal(s1.status, "success", s1.trace + runner.log);
  assert.match(s1.trace, /Saving cache for successful job/);
  assert.match(s1.trace, /Uploading artifacts for successful job/);
  const [stored] = gitlab.artifactsOf(job1.id);
  assert.ok(stored, "job 1 uploaded an archive");
  assert.deepEqual(await zipNames(stored.bytes), ["out/a/b/two.txt", "out/a/one.txt"]);

  // The project dir persists with GIT_STRATEGY=none: empty it first, so only
  // the cache and the artifacts can bring the files back.
  const wipe = gitlab.enqueueJob({ script: ["rm -rf out vendor"], variables: [NO_GIT] });
  assert.equal((await gitlab.waitForJobFinished(wipe.id, TIMEOUT)).status, "success");
  const job2 = gitlab.enqueueJob({
    script: ["cat out/a/one.txt out/a/b/two.txt vendor/lib.txt"],
    dependencies: [dependency(job1, "build", stored.bytes.length)],
    cache: cache("deps-$CI_COMMIT_REF_SLUG", ["deps"]),
    variables: [NO_GIT],
  });
  const s2 = await gitlab.waitForJobFinished(job2.id, TIMEOUT);
  assert.equal(s2.status, "success", s2.trace + runner.log);
  assert.match(s2.trace, /Checking cache for deps-main\.\.\./);
  assert.match(s2.trace, /Checking cache for deps\.\.\.[\s\S]*Successfully extracted cache/);
  assert.match(s2.trace, /Downloading artifacts for build/);
  assert.match(s2.trace, /one\ntwo\nlib-v1\n/);
  // The stages come in the official order (§8.2).
  const order = [
    "Restoring cache",
    "Downloading artifacts",
    'Executing "step_script"',
    "Saving cache",
  ]
    .map((s) => s2.trace.indexOf(s));
  assert.deepEqual([...order].sort((a, b) => a - b), order, `stage order in:\n${s2.trace}`);
});

Deno.test("a failing job uploads its when: on_failure artifacts", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo trace > crash.log", "exit 2"],
    artifacts: [{ name: "crash", paths: ["crash.log"], when: "on_failure" }],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.exitCode, 2);
  assert.match(state.trace, /Uploading artifacts for failed job/);
  assert.deepEqual(gitlab.artifactsOf(job.id).map((a) => a.fileName), ["crash.zip"]);
});

Deno.test("a hostile dependency archive fails the job clearly, writes nothing outside, and the runner serves the next job", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const evil = craftZip([
    { name: "../escape.txt", content: "escaped" },
    { name: "up", kind: "symlink", content: "../../../.." },
    { name: "up/planted.txt", content: "planted" },
  ]);
  const dep = gitlab.createFinishedJob({ artifact: evil });
  const job = gitlab.enqueueJob({
    script: ["echo script-ran"],
    dependencies: [dependency(dep, "evil", evil.length)],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "script_failure");
  assert.match(state.trace, /ERROR: .*(escape\.txt|"up")/);
  assert.doesNotMatch(state.trace, /\nscript-ran/);
  for (const path of await walk(runner.dir)) {
    assert.ok(!/(escape|planted)\.txt$/.test(path), `"${path}" was written by the archive`);
  }

  const next = gitlab.enqueueJob({ script: ["echo still-serving"], variables: [NO_GIT] });
  const after = await gitlab.waitForJobFinished(next.id, TIMEOUT);
  assert.equal(after.status, "success", runner.log);
  assert.match(after.trace, /still-serving/);
});

Deno.test("a dependency archive with symlinks (node_modules/.bin) is extracted by the scoped executor process and the links work", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const zip = craftZip([
    { name: "node_modules/pkg/bin/tool", content: "tool-v1\n" },
    { name: "node_modules/.bin/tool", kind: "symlink", content: "../pkg/bin/tool" },
    { name: "current", kind: "symlink", content: "node_modules/pkg" },
  ]);
  const dep = gitlab.createFinishedJob({ artifact: zip });
  const job = gitlab.enqueueJob({
    script: [
      "readlink node_modules/.bin/tool current",
      "cat node_modules/.bin/tool current/bin/tool",
    ],
    dependencies: [dependency(dep, "deps", zip.length)],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /\n\.\.\/pkg\/bin\/tool\nnode_modules\/pkg\n/);
  assert.match(state.trace, /\ntool-v1\ntool-v1\n/);
  // The project directory persists (GIT_STRATEGY=none): extracting again
  // replaces the links that are there.
  const again = gitlab.enqueueJob({
    script: ["readlink node_modules/.bin/tool current"],
    dependencies: [dependency(dep, "deps", zip.length)],
    variables: [NO_GIT],
  });
  const second = await gitlab.waitForJobFinished(again.id, TIMEOUT);
  assert.equal(second.status, "success", second.trace + runner.log);
  assert.match(second.trace, /\n\.\.\/pkg\/bin\/tool\nnode_modules\/pkg\n/);
});

Deno.test("a cache and an artifact holding symlinks that lead out of the project (a venv's bin/python -> /usr/bin/python3, ../../x) are restored with them, as the official runner does", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const cache = [{
    key: "venv",
    paths: [".venv/"],
    policy: "pull-push",
    when: "on_success",
    "fallback_keys": [],
  }];
  const job1 = gitlab.enqueueJob({
    script: [
      "mkdir -p .venv/bin",
      "echo lib > .venv/lib.txt",
      "ln -s /usr/bin/python3 .venv/bin/python",
      "ln -s ../../x .venv/up",
    ],
    artifacts: [{ paths: [".venv/"], when: "on_success" }],
    cache,
    variables: [NO_GIT],
  });
  const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
  assert.equal(s1.status, "success", s1.trace + runner.log);
  const [stored] = gitlab.artifactsOf(job1.id);
  assert.ok(stored, "job 1 uploaded an archive");
  const show = "readlink .venv/bin/python && readlink .venv/up && cat .venv/lib.txt";
  const wipe = () => gitlab.enqueueJob({ script: ["rm -rf .venv"], variables: [NO_GIT] });

  assert.equal((await gitlab.waitForJobFinished(wipe().id, TIMEOUT)).status, "success");
  const fromCache = gitlab.enqueueJob({
    script: [show],
    cache: [{ ...cache[0]!, policy: "pull" }],
    variables: [NO_GIT],
  });
  const s2 = await gitlab.waitForJobFinished(fromCache.id, TIMEOUT);
  assert.equal(s2.status, "success", s2.trace + runner.log);
  assert.match(s2.trace, /Successfully extracted cache/);
  assert.match(s2.trace, /\n\/usr\/bin\/python3\n\.\.\/\.\.\/x\nlib\n/);

  assert.equal((await gitlab.waitForJobFinished(wipe().id, TIMEOUT)).status, "success");
  const fromArtifacts = gitlab.enqueueJob({
    script: [show],
    dependencies: [dependency(job1, "build", stored.bytes.length)],
    variables: [NO_GIT],
  });
  const s3 = await gitlab.waitForJobFinished(fromArtifacts.id, TIMEOUT);
  assert.equal(s3.status, "success", s3.trace + runner.log);
  assert.match(s3.trace, /\n\/usr\/bin\/python3\n\.\.\/\.\.\/x\nlib\n/);
});

Deno.test("GitLab refusing the archive with 413 fails the job with the reason in its log", async () => {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    artifactSizeLimitBytes: 2048,
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["head -c 100000 /dev/urandom > big.bin"],
    artifacts: [{ paths: ["big.bin"], when: "on_success" }],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", runner.log);
  assert.match(state.trace, /too large archive/);
  assert.match(state.trace, /413/);
});

for (
  const [key, expected] of [
    [
      "response_header_timeout",
      /WARNING: Uploading artifacts as "archive" to coordinator\.\.\. failed.*no answer within 1 s \(\[runners\.artifact\] response_header_timeout\)/,
    ],
    [
      "upload_timeout",
      /WARNING: Uploading artifacts as "archive" to coordinator\.\.\. failed.*no answer from GitLab within 1s of the upload's start \(\[runners\.artifact\] upload_timeout\)/,
    ],
  ] as const
) {
  Deno.test(`[runners.artifact] ${key} ends an upload try GitLab does not answer, naming the key, and the next try uploads`, async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: config(`${runnerToml(gitlab.url, r.token)}  [runners.artifact]\n    ${key} = "1s"\n`),
    });
    // The first try's answer comes after 5 s, in a job that would otherwise wait for it.
    gitlab.injectFault({ endpoint: "upload_artifacts", delayMs: 5_000, times: 1 });
    const job = gitlab.enqueueJob({
      script: ["echo built > out.txt"],
      artifacts: [{ paths: ["out.txt"], when: "on_success" }],
      variables: [NO_GIT],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", `${state.trace}\n${runner.log}`);
    assert.match(state.trace, expected);
    assert.match(state.trace, /WARNING: Retrying\.\.\./);
    assert.equal(gitlab.requestsTo("upload_artifacts").length, 2);
    assert.equal(gitlab.artifactsOf(job.id).length, 1, "the second try's archive is stored");
    assert.doesNotMatch(runner.log, /runners\.artifact.*not supported/);
  });
}

Deno.test("a direct download redirected to object storage the executor process may not reach comes through GitLab, saying so", async () => {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    directDownloadRedirect: true,
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const zip = craftZip([{ name: "dist/app.txt", content: "built\n" }]);
  const dep = gitlab.createFinishedJob({ artifact: zip });
  const job = gitlab.enqueueJob({
    script: ["cat dist/app.txt"],
    dependencies: [dependency(dep, "build", zip.length)],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  const storage = new URL(gitlab.objectStorageUrl).host;
  assert.match(
    state.trace,
    new RegExp(
      `WARNING: Direct download from "${storage}" is not possible: this runner's executor process may not connect to that host; downloading through GitLab instead`,
    ),
  );
  assert.match(state.trace, /Downloading artifacts from coordinator\.\.\. ok/);
  assert.doesNotMatch(state.trace, /allow-net|coordinator\.\.\. failed/);
  assert.match(state.trace, /\nbuilt\n/);
});

Deno.test("an upload redirected to a host the executor process may not reach fails at once naming it", async () => {
  await using gitlab = await FakeGitLab.start({
    traceUpdateIntervalSeconds: 1,
    artifactUploadRedirect: true,
    failureReasons: ["script_failure", "runner_system_failure", "runner_configuration_error"],
  });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["echo built > app.txt"],
    artifacts: [{ paths: ["app.txt"], when: "on_success" }],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "failed", state.trace + runner.log);
  assert.equal(state.failureReason, "runner_configuration_error");
  const storage = new URL(gitlab.objectStorageUrl).origin;
  assert.match(
    state.trace,
    new RegExp(
      `Job failed: Uploading artifacts as "archive" failed: GitLab redirected the upload to "${storage}", a host this runner's executor process may not connect to \\(it is granted the host of the runner's url\\); if GitLab moved there, set the runner's url to it`,
    ),
  );
  assert.doesNotMatch(state.trace, /allow-net|Retrying/);
});

Deno.test("git sends the job request's X-Request-Id as X-Gitaly-Correlation-ID and the log names it (FF_USE_GITALY_CORRELATION_ID, on by default); false turns it off", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
  await app.commit({ files: { "README.md": "app\n" } });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const clone = { key: "GIT_STRATEGY", value: "clone" };
  const on = gitlab.enqueueJob({ script: ["cat README.md"], variables: [clone] });
  const state = await gitlab.waitForJobFinished(on.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  const brought = gitlab.requestsTo("request_job").filter((q) => q.status === 201);
  assert.equal(brought.length, 1);
  const id = brought[0]!.headers.get("X-Request-Id") ?? "";
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.match(state.trace, new RegExp(`Gitaly correlation ID: ${id}\\b.*\\n.*Fetching changes`));
  const fetches = gitlab.requestsTo("git");
  assert.ok(fetches.length > 0);
  for (const q of fetches) assert.equal(q.headers.get("X-Gitaly-Correlation-ID"), id);

  const off = gitlab.enqueueJob({
    script: ["cat README.md"],
    variables: [clone, { key: "FF_USE_GITALY_CORRELATION_ID", value: "false" }],
  });
  const offState = await gitlab.waitForJobFinished(off.id, TIMEOUT);
  assert.equal(offState.status, "success", offState.trace + runner.log);
  assert.doesNotMatch(offState.trace, /Gitaly correlation ID|not supported/);
  const later = gitlab.requestsTo("git").slice(fetches.length);
  assert.ok(later.length > 0);
  for (const q of later) assert.equal(q.headers.get("X-Gitaly-Correlation-ID"), null);
});

Deno.test("a depth 1 fetch through git http-backend checks out a shallow clone whose files become artifacts", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
  await app.commit({ files: { "README.md": "old\n" } });
  await app.commit({ files: { "README.md": "new\n", "docs/guide.md": "guide\n" } });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    depth: 1,
    script: ["cat README.md", "git rev-list --count HEAD", "test -f .git/shallow && echo shallow"],
    variables: [{ key: "GIT_STRATEGY", value: "clone" }],
    artifacts: [{ paths: ["docs/"], when: "on_success" }],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /\nnew\n[\s\S]*\n1\n[\s\S]*\nshallow\n/);
  assert.deepEqual(await zipNames(gitlab.artifactsOf(job.id)[0]!.bytes), [
    "docs/",
    "docs/guide.md",
  ]);
});

Deno.test("a project with a recursive submodule on the same GitLab checks out and archives submodule files", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const lib = await GitRepo.create(gitlab.projectRoot, "acme/lib");
  const libSha = await lib.commit({ files: { "lib.txt": "from the submodule\n" } });
  const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
  await app.commit({
    files: { "README.md": "app\n", "lib": { submodule: { url: "../lib.git", sha: libSha } } },
  });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const job = gitlab.enqueueJob({
    script: ["cat README.md lib/lib.txt"],
    variables: [
      { key: "GIT_SUBMODULE_STRATEGY", value: "recursive" },
      { key: "GIT_STRATEGY", value: "clone" },
    ],
    artifacts: [{ paths: ["lib/lib.txt"], when: "on_success" }],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /app\nfrom the submodule\n/);
  assert.deepEqual(await zipNames(gitlab.artifactsOf(job.id)[0]!.bytes), ["lib/lib.txt"]);
});

const dockerSkip = (await dockerSkipReason()) ??
  (await hasImage(BUSYBOX_TEST_IMAGE) ? null : `image ${BUSYBOX_TEST_IMAGE} is absent`);

/** A docker runner (busybox image) for a new runner of `gitlab`. */
function startDockerRunner(gitlab: FakeGitLab): ReturnType<typeof startRunner> {
  const r = gitlab.createRunner({ kind: "created" });
  const docker =
    `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "if-not-present"\n`;
  return startRunner({
    config: config(runnerToml(gitlab.url, r.token, { executor: "docker" }) + docker),
  });
}

Deno.test("docker: a dependency archive with symlinks reaches the build container as symlinks", async () => {
  if (dockerSkip) {
    // deno-lint-ignore no-console -- a skipped test says why (team rule)
    console.log(`SKIPPED: ${dockerSkip}`);
    return;
  }
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using _volumes = cacheVolumesRemoved(gitlab);
  await using runner = await startDockerRunner(gitlab);
  const zip = craftZip([
    { name: "node_modules/pkg/bin/tool", content: "tool-v1\n" },
    { name: "node_modules/.bin/tool", kind: "symlink", content: "../pkg/bin/tool" },
  ]);
  const dep = gitlab.createFinishedJob({ artifact: zip });
  const job = gitlab.enqueueJob({
    script: ["readlink node_modules/.bin/tool", "cat node_modules/.bin/tool"],
    dependencies: [dependency(dep, "deps", zip.length)],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
  assert.match(state.trace, /\n\.\.\/pkg\/bin\/tool\n/);
  assert.match(state.trace, /\ntool-v1\n/);
});

Deno.test("docker: artifacts and cache round trip through the build container", async () => {
  if (dockerSkip) {
    // deno-lint-ignore no-console -- a skipped test says why (team rule)
    console.log(`SKIPPED: ${dockerSkip}`);
    return;
  }
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using _volumes = cacheVolumesRemoved(gitlab);
  await using runner = await startDockerRunner(gitlab);
  const cache = [{
    key: "deps",
    paths: ["vendor/"],
    policy: "pull-push",
    when: "on_success",
    "fallback_keys": [],
  }];
  const job1 = gitlab.enqueueJob({
    script: ["mkdir -p dist/x vendor", "echo built > dist/x/app.txt", "echo lib > vendor/lib.txt"],
    artifacts: [{ paths: ["dist/**"], when: "on_success" }],
    cache,
    variables: [NO_GIT],
  });
  const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
  assert.equal(s1.status, "success", s1.trace + runner.log.slice(-3000));
  const [stored] = gitlab.artifactsOf(job1.id);
  assert.ok(stored);
  assert.deepEqual(await zipNames(stored.bytes), ["dist/", "dist/x/", "dist/x/app.txt"]);

  const job2 = gitlab.enqueueJob({
    script: ["rm -rf dist vendor"],
    variables: [NO_GIT],
  });
  assert.equal((await gitlab.waitForJobFinished(job2.id, TIMEOUT)).status, "success");

  const job3 = gitlab.enqueueJob({
    script: ["cat dist/x/app.txt vendor/lib.txt"],
    dependencies: [dependency(job1, "build", stored.bytes.length)],
    cache: [{ ...cache[0]!, policy: "pull" }],
    variables: [NO_GIT],
  });
  const s3 = await gitlab.waitForJobFinished(job3.id, TIMEOUT);
  assert.equal(s3.status, "success", s3.trace + runner.log.slice(-3000));
  assert.match(s3.trace, /Successfully extracted cache/);
  assert.match(s3.trace, /built\nlib\n/);
});

Deno.test("docker: a cache and an artifact holding symlinks that lead out of the project are restored with them", async () => {
  if (dockerSkip) {
    // deno-lint-ignore no-console -- a skipped test says why (team rule)
    console.log(`SKIPPED: ${dockerSkip}`);
    return;
  }
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using _volumes = cacheVolumesRemoved(gitlab);
  await using runner = await startDockerRunner(gitlab);
  const cache = [{
    key: "venv",
    paths: [".venv/"],
    policy: "pull-push",
    when: "on_success",
    "fallback_keys": [],
  }];
  const job1 = gitlab.enqueueJob({
    script: [
      "mkdir -p .venv/bin",
      "echo lib > .venv/lib.txt",
      "ln -s /usr/bin/python3 .venv/bin/python",
      "ln -s ../../x .venv/up",
    ],
    artifacts: [{ paths: [".venv/"], when: "on_success" }],
    cache,
    variables: [NO_GIT],
  });
  const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
  assert.equal(s1.status, "success", s1.trace + runner.log.slice(-3000));
  const [stored] = gitlab.artifactsOf(job1.id);
  assert.ok(stored);
  const show = "readlink .venv/bin/python && readlink .venv/up && cat .venv/lib.txt";
  const wipe = () => gitlab.enqueueJob({ script: ["rm -rf .venv"], variables: [NO_GIT] });

  assert.equal((await gitlab.waitForJobFinished(wipe().id, TIMEOUT)).status, "success");
  const fromCache = gitlab.enqueueJob({
    script: [show],
    cache: [{ ...cache[0]!, policy: "pull" }],
    variables: [NO_GIT],
  });
  const s2 = await gitlab.waitForJobFinished(fromCache.id, TIMEOUT);
  assert.equal(s2.status, "success", s2.trace + runner.log.slice(-3000));
  assert.match(s2.trace, /Successfully extracted cache/);
  assert.match(s2.trace, /\n\/usr\/bin\/python3\n\.\.\/\.\.\/x\nlib\n/);

  assert.equal((await gitlab.waitForJobFinished(wipe().id, TIMEOUT)).status, "success");
  const fromArtifacts = gitlab.enqueueJob({
    script: [show],
    dependencies: [dependency(job1, "build", stored.bytes.length)],
    variables: [NO_GIT],
  });
  const s3 = await gitlab.waitForJobFinished(fromArtifacts.id, TIMEOUT);
  assert.equal(s3.status, "success", s3.trace + runner.log.slice(-3000));
  assert.match(s3.trace, /\n\/usr\/bin\/python3\n\.\.\/\.\.\/x\nlib\n/);
});

Deno.test("docker: artifact paths and name see what the script wrote to GITLAB_ENV in the build container", async () => {
  if (dockerSkip) {
    // deno-lint-ignore no-console -- a skipped test says why (team rule)
    console.log(`SKIPPED: ${dockerSkip}`);
    return;
  }
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using _volumes = cacheVolumesRemoved(gitlab);
  await using runner = await startDockerRunner(gitlab);
  const job = gitlab.enqueueJob({
    name: "build",
    script: [`echo "OUT_DIR=dist" >> "$GITLAB_ENV"`, "mkdir -p dist", "echo built > dist/app.txt"],
    artifacts: [{ name: "$OUT_DIR-files", paths: ["$OUT_DIR/"], when: "on_success" }],
    variables: [NO_GIT],
  });
  const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
  assert.equal(state.status, "success", state.trace + runner.log.slice(-3000));
  const [stored] = gitlab.artifactsOf(job.id);
  assert.equal(stored?.fileName, "dist-files.zip", state.trace);
  assert.deepEqual(await zipNames(stored.bytes), ["dist/", "dist/app.txt"]);
});
