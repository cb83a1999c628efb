/**
 * The artifact and cache stages in a real build: runBuild with the shell
 * executor (real bash), the hooks from createJobFileHooks and a JobClient
 * talking real HTTP to the fake GitLab.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { BytesReader } from "../archive/random_access_reader.ts";
import { craftZip, firstBlockSize } from "../archive/crafted_zip.ts";
import { readZipDirectory } from "../archive/zip_reader.ts";
import { runBuild } from "../build/run_build.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { CollectedOutput } from "../executors/executor_contract.ts";
import { ShellExecutor } from "../executors/shell/shell_executor.ts";
import { createRunnerInfo } from "../gitlab/runner_info.ts";
import { JobClient } from "../gitlab/job_client.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import { JobArtifactTransfer } from "./artifact_transfer.ts";
import { createJobFileHooks } from "./job_file_hooks.ts";
import { LocalJobFiles } from "./local_job_files.ts";
import { testEnv } from "../../tests/fixtures/test_env.ts";

const VERSION = {
  name: "gitlab-runner",
  version: "17.5.0",
  revision: "abc",
  os: "linux",
  arch: "amd64",
};
const NO_GIT = { key: "GIT_STRATEGY", value: "none" };

interface World {
  gitlab: FakeGitLab;
  runnerToken: string;
  cwd: string;
}

async function withWorld(
  options: Parameters<typeof FakeGitLab.start>[0],
  fn: (w: World) => Promise<void>,
): Promise<void> {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0, ...options });
  const cwd = await Deno.makeTempDir({ prefix: "job-files-" });
  try {
    await fn({ gitlab, runnerToken: gitlab.createRunner().token, cwd });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

async function pickJob(
  w: World,
  options: Parameters<FakeGitLab["enqueueJob"]>[0],
): Promise<JobSpec> {
  w.gitlab.enqueueJob({ ...options, variables: [NO_GIT, ...(options?.variables ?? [])] });
  const response = await fetch(`${w.gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: w.runnerToken, info: { features: { artifacts: true } } }),
  });
  assert.equal(response.status, 201);
  return parseJobSpec(await response.json());
}

async function run(
  w: World,
  job: JobSpec,
  options: Pick<Parameters<typeof createJobFileHooks>[0], "distributedCache"> = {},
) {
  const output = new CollectedOutput();
  const runner: RunnerConfig = {
    ...defaultRunnerConfig("shell"),
    name: "it",
    url: w.gitlab.url,
    token: "",
  };
  const executor = new ShellExecutor({
    shell: runner.shell,
    buildsDir: runner.buildsDir,
    cacheDir: runner.cacheDir,
    cwd: w.cwd,
    env: testEnv(),
    output,
    killGraceMs: 1000,
  });
  using client = new JobClient({
    url: w.gitlab.url,
    runnerInfo: createRunnerInfo({
      version: "17.5.0",
      revision: "abc",
      executor: "shell",
      shell: "bash",
    }),
  });
  const files = new LocalJobFiles();
  const result = await runBuild({
    job,
    runner,
    shortToken: "t1short0",
    concurrentId: 0,
    concurrentProjectId: 0,
    executor,
    output,
    cancel: { graceful: new AbortController().signal, abort: new AbortController().signal },
    version: VERSION,
    hooks: createJobFileHooks({
      files: () => files,
      artifacts: new JobArtifactTransfer(client),
      featureFlags: {},
      sleep: () => Promise.resolve(),
      ...options,
    }),
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  });
  return { result, log: output.text() };
}

function projectDir(w: World): string {
  return `${w.cwd}/builds/t1short0/0/acme/widget`;
}

async function zipNames(bytes: Uint8Array): Promise<string[]> {
  return (await readZipDirectory(new BytesReader(bytes))).map((e) => e.rawName).sort();
}

Deno.test("artifacts selected with ** and exclude are uploaded as a zip; a dependent job extracts them", async () => {
  await withWorld({}, async (w) => {
    const job1 = await pickJob(w, {
      script: [
        "mkdir -p out/a/b",
        "echo one > out/a/one.txt",
        "echo two > out/a/b/two.txt",
        "echo log > out/a/b/skip.log",
        "echo x > other.txt",
      ],
      artifacts: [{
        name: "build",
        paths: ["out/**/*.txt"],
        exclude: ["out/**/*.log"],
        when: "on_success",
      }],
      variables: [{ key: "ARTIFACT_COMPRESSION_LEVEL", value: "fastest" }],
    });
    const first = await run(w, job1);
    assert.equal(first.result.state, "success", first.log);
    assert.match(first.log, /Uploading artifacts for successful job/);
    assert.match(first.log, /Uploading artifacts as "archive" to coordinator\.\.\. 201 Created/);
    const [stored] = w.gitlab.artifactsOf(job1.id);
    assert.equal(stored?.fileName, "build.zip");
    assert.deepEqual(await zipNames(stored!.bytes), ["out/a/b/two.txt", "out/a/one.txt"]);
    const entries = await readZipDirectory(new BytesReader(stored!.bytes));
    assert.ok(entries.every((e) => e.method === 0), "fastest stores without compression");

    await Deno.remove(projectDir(w), { recursive: true });
    const job2 = await pickJob(w, {
      script: ["cat out/a/one.txt out/a/b/two.txt"],
      dependencies: [{
        id: job1.id,
        name: "build",
        token: job1.token,
        "artifacts_file": { filename: "build.zip", size: stored!.bytes.length },
      }],
    });
    const second = await run(w, job2);
    assert.equal(second.result.state, "success", second.log);
    assert.match(second.log, /Downloading artifacts for build \(\d+\)/);
    assert.match(second.log, /one\ntwo\n/);
    const downloads = w.gitlab.requestsTo("download_artifacts");
    assert.equal(
      downloads[0]?.url.searchParams.get("direct_download"),
      "true",
      "first try asks for direct download",
    );
    assert.equal(downloads[0]?.headers.get("JOB-TOKEN"), job1.token, "with the dependency's token");
  });
});

Deno.test("artifact name, paths and exclude are expanded with the job's variables, as the official runner's helper does", async () => {
  await withWorld({}, async (w) => {
    const job = await pickJob(w, {
      script: [
        "mkdir -p dist/linux",
        "echo bin > dist/linux/app",
        "echo dbg > dist/linux/app.debug",
      ],
      artifacts: [{
        name: "$CI_JOB_NAME-${TARGET}",
        paths: ["$CI_PROJECT_DIR/dist/${TARGET}/"],
        exclude: ["dist/$TARGET/*.debug"],
        when: "on_success",
      }],
      variables: [{ key: "TARGET", value: "linux" }],
      name: "build",
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "success", log);
    assert.doesNotMatch(log, /No files to upload/);
    const [stored] = w.gitlab.artifactsOf(job.id);
    assert.deepEqual(await zipNames(stored!.bytes), ["dist/linux/", "dist/linux/app"]);
    assert.equal(stored!.fileName, "build-linux.zip");
  });
});

Deno.test("artifact name and paths see what the job's script wrote to GITLAB_ENV, as the official upload stage's environment does", async () => {
  await withWorld({}, async (w) => {
    const job = await pickJob(w, {
      script: [
        `echo "TARGET=linux" >> "$GITLAB_ENV"`,
        `echo "  OUT=dist  " >> "$GITLAB_ENV"`,
        "mkdir -p dist/linux",
        "echo bin > dist/linux/app",
      ],
      artifacts: [{ name: "$CI_JOB_NAME-${TARGET}", paths: ["$OUT/$TARGET/"], when: "on_success" }],
      // The script's value wins over the job's, as the later export does.
      variables: [{ key: "TARGET", value: "windows" }],
      name: "build",
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "success", log);
    const [stored] = w.gitlab.artifactsOf(job.id);
    assert.equal(stored?.fileName, "build-linux.zip", log);
    assert.deepEqual(await zipNames(stored!.bytes), ["dist/linux/", "dist/linux/app"]);
  });
});

Deno.test("no matching files logs 'No files to upload' and the job still succeeds", async () => {
  await withWorld({}, async (w) => {
    const job = await pickJob(w, {
      script: ["true"],
      artifacts: [{ paths: ["missing/"], when: "on_success" }],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "success", log);
    assert.match(log, /ERROR: No files to upload/);
    assert.equal(w.gitlab.artifactsOf(job.id).length, 0);
  });
});

Deno.test("when: on_failure artifacts of a failing job are uploaded, on_success ones are not", async () => {
  await withWorld({}, async (w) => {
    const job = await pickJob(w, {
      script: ["echo crash > crash.txt", "echo ok > ok.txt", "exit 4"],
      artifacts: [
        { name: "crash", paths: ["crash.txt"], when: "on_failure" },
        { name: "good", paths: ["ok.txt"], when: "on_success" },
      ],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "failed");
    assert.equal(result.exitCode, 4);
    assert.match(log, /Uploading artifacts for failed job/);
    assert.deepEqual(w.gitlab.artifactsOf(job.id).map((a) => a.fileName), ["crash.zip"]);
  });
});

Deno.test("a cache saved by one job is restored by the next; a missing key falls back to fallback_keys", async () => {
  await withWorld({}, async (w) => {
    const cache = (
      key: string,
      fallback: string[] = [],
    ) => [{
      key,
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
      "fallback_keys": fallback,
    }];
    const job1 = await pickJob(w, {
      script: ["mkdir -p vendor", "echo cached-lib > vendor/lib.txt"],
      cache: cache("deps-$CI_COMMIT_REF_SLUG"),
    });
    const first = await run(w, job1);
    assert.equal(first.result.state, "success", first.log);
    assert.match(first.log, /Creating cache deps-main\.\.\./);
    assert.match(first.log, /Created cache/);
    const archive = `${w.cwd}/cache/acme/widget/deps-main/cache.zip`;
    assert.deepEqual(await zipNames(await Deno.readFile(archive)), ["vendor/", "vendor/lib.txt"]);

    await Deno.remove(projectDir(w), { recursive: true });
    const job2 = await pickJob(w, { script: ["cat vendor/lib.txt"], cache: cache("deps-main") });
    const second = await run(w, job2);
    assert.match(second.log, /Checking cache for deps-main\.\.\./);
    assert.match(second.log, /Successfully extracted cache/);
    assert.match(second.log, /\ncached-lib\n/);

    await Deno.remove(projectDir(w), { recursive: true });
    const job3 = await pickJob(w, {
      script: ["cat vendor/lib.txt"],
      cache: cache("deps-feature", ["deps-main"]),
    });
    const third = await run(w, job3);
    assert.equal(third.result.state, "success", third.log);
    assert.match(
      third.log,
      /Checking cache for deps-feature\.\.\.[\s\S]*Cache file does not exist[\s\S]*Checking cache for deps-main\.\.\./,
    );
    assert.match(third.log, /\ncached-lib\n/);
  });
});

Deno.test("cache paths see what the job's script wrote to GITLAB_ENV, as the official archive stage's environment does; the key does not", async () => {
  await withWorld({}, async (w) => {
    const job = await pickJob(w, {
      script: [
        `echo "DEPS=vendor" >> "$GITLAB_ENV"`,
        "mkdir -p vendor",
        "echo lib > vendor/lib.txt",
      ],
      cache: [{
        key: "deps-$DEPS",
        paths: ["$DEPS/"],
        policy: "pull-push",
        when: "on_success",
        "fallback_keys": [],
      }],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "success", log);
    assert.match(log, /Creating cache deps-\.\.\./);
    const archive = `${w.cwd}/cache/acme/widget/deps-/cache.zip`;
    assert.deepEqual(await zipNames(await Deno.readFile(archive)), ["vendor/", "vendor/lib.txt"]);
  });
});

Deno.test("a hostile dependency archive fails the job with a clear error and writes nothing outside the project", async () => {
  await withWorld({}, async (w) => {
    const evil = craftZip([
      { name: "fine.txt", content: "fine" },
      { name: "../escape.txt", content: "escaped" },
    ]);
    const linkOut = craftZip([{ name: "out", kind: "symlink", content: "../../../../.." }, {
      name: "out/x",
      content: "x",
    }]);
    const dep1 = w.gitlab.createFinishedJob({ artifact: evil });
    const job = await pickJob(w, {
      script: ["echo should-not-run"],
      dependencies: [{
        id: dep1.id,
        name: "evil",
        token: dep1.token,
        "artifacts_file": { filename: "artifacts.zip", size: evil.length },
      }],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "failed");
    assert.equal(result.failureReason, "script_failure");
    assert.match(log, /Extracting artifacts of evil|ERROR: .*escape\.txt/);
    assert.doesNotMatch(log, /\nshould-not-run/);
    await assert.rejects(Deno.stat(`${projectDir(w)}/../escape.txt`), Deno.errors.NotFound);

    const dep2 = w.gitlab.createFinishedJob({ artifact: linkOut });
    const job2 = await pickJob(w, {
      script: ["echo should-not-run"],
      dependencies: [{
        id: dep2.id,
        name: "links",
        token: dep2.token,
        "artifacts_file": { filename: "artifacts.zip", size: linkOut.length },
      }],
    });
    const second = await run(w, job2);
    assert.equal(second.result.state, "failed");
    assert.match(second.log, /ERROR: .*"out"/);
    await assert.rejects(Deno.lstat(`${projectDir(w)}/out`), Deno.errors.NotFound);

    const job3 = await pickJob(w, { script: ["echo next-job-fine"] });
    const third = await run(w, job3);
    assert.equal(third.result.state, "success", third.log);
  });
});

Deno.test("GitLab answering 413 to the upload fails the job naming the size limit", async () => {
  await withWorld({ artifactSizeLimitBytes: 1000 }, async (w) => {
    const job = await pickJob(w, {
      script: ["head -c 200000 /dev/urandom > big.bin"],
      artifacts: [{ paths: ["big.bin"], when: "on_success" }],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "failed");
    assert.equal(result.failureReason, "script_failure");
    assert.match(
      log,
      /ERROR: Uploading artifacts as "archive" to coordinator\.\.\. too large archive/,
    );
    assert.match(log, /413/);
    assert.equal(w.gitlab.requestsTo("upload_artifacts").length, 1, "413 is not retried");
  });
});

Deno.test('CACHE_REQUEST_TIMEOUT bounds each distributed cache request: 10 minutes unless set above 0 (0 is no "no limit", as in the official helpers), a warning naming a value that is not minutes above 0', async () => {
  await withWorld({}, async (w) => {
    const cache = [{
      key: "deps",
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
    }];
    for (
      const [value, expectedMs] of [
        [undefined, 600_000],
        ["1", 60_000],
        ["0", 600_000],
        ["-3", 600_000],
        ["soon", 600_000],
      ] as const
    ) {
      const timeouts: number[] = [];
      const job = await pickJob(w, {
        script: ["mkdir -p vendor", "echo lib > vendor/lib.txt"],
        cache,
        variables: value === undefined ? [] : [{ key: "CACHE_REQUEST_TIMEOUT", value }],
      });
      const { result, log } = await run(w, job, {
        distributedCache: (local, _log, _signal, _progress, requestTimeoutMs) => {
          timeouts.push(requestTimeoutMs);
          return local;
        },
      });
      assert.equal(result.state, "success", log);
      assert.deepEqual(timeouts, [expectedMs, expectedMs], `${value}`);
      assert.equal(
        log.includes(
          `CACHE_REQUEST_TIMEOUT "${value}" is not a number of minutes above 0; using 10 minutes`,
        ),
        value === "soon" || value === "0" || value === "-3",
        log,
      );
    }
  });
});

Deno.test("FF_USE_FASTZIP compresses a job's artifacts on several threads (a large file in 256 KiB blocks); FASTZIP_ARCHIVER_CONCURRENCY that is no number is named", async () => {
  await withWorld({}, async (w) => {
    const artifacts = [{ name: "out", paths: ["out/"], when: "on_success" }];
    const script = [
      "mkdir -p out",
      `awk 'BEGIN { for (i = 0; i < 130000; i++) print "a line of build output" }' > out/big.log`,
    ];
    for (
      const variables of [
        [{ key: "FF_USE_FASTZIP", value: "true" }],
        [{ key: "FF_USE_FASTZIP", value: "true" }, {
          key: "FASTZIP_ARCHIVER_CONCURRENCY",
          value: "many",
        }],
        [],
      ]
    ) {
      const job = await pickJob(w, { script, artifacts, variables });
      const { result, log } = await run(w, job);
      assert.equal(result.state, "success", log);
      assert.doesNotMatch(log, /FF_USE_FASTZIP=true is not supported/);
      const isNamed = log.includes(
        'WARNING: FASTZIP_ARCHIVER_CONCURRENCY "many" is not a whole number of 1 or more',
      );
      assert.equal(isNamed, variables.length === 2, log);
      const [stored] = w.gitlab.artifactsOf(job.id);
      const entries = await readZipDirectory(new BytesReader(stored!.bytes));
      const big = entries.find((e) => e.rawName === "out/big.log")!;
      assert.equal(big.size, 130000 * 23);
      const isThreaded = variables.length > 0 && navigator.hardwareConcurrency > 1;
      assert.equal(
        firstBlockSize(stored!.bytes, "out/big.log") === 256 << 10,
        isThreaded,
        `${variables}`,
      );
      await Deno.remove(projectDir(w), { recursive: true });
    }
  });
});

Deno.test("FF_USE_FASTZIP restores a cache with FASTZIP_EXTRACTOR_CONCURRENCY threads; a value that is no number, or one without the flag, is named", async () => {
  await withWorld({}, async (w) => {
    const cache = [{
      key: "deps",
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
      "fallback_keys": [],
    }];
    const save = await pickJob(w, {
      script: ["mkdir -p vendor", "seq 1 400000 > vendor/numbers.txt", "echo lib > vendor/lib.txt"],
      cache,
    });
    assert.equal((await run(w, save)).result.state, "success");
    const cases: [{ key: string; value: string }[], RegExp | null][] = [
      [[{ key: "FF_USE_FASTZIP", value: "true" }], null],
      [
        [{ key: "FF_USE_FASTZIP", value: "1" }, {
          key: "FASTZIP_EXTRACTOR_CONCURRENCY",
          value: "lots",
        }],
        /WARNING: FASTZIP_EXTRACTOR_CONCURRENCY "lots" is not a whole number of 1 or more/,
      ],
      [
        [{ key: "FASTZIP_EXTRACTOR_CONCURRENCY", value: "2" }],
        /WARNING: FASTZIP_EXTRACTOR_CONCURRENCY is used only with FF_USE_FASTZIP: using one thread/,
      ],
    ];
    for (const [variables, warning] of cases) {
      await Deno.remove(projectDir(w), { recursive: true });
      const job = await pickJob(w, {
        script: ["cat vendor/lib.txt", "tail -n 1 vendor/numbers.txt"],
        cache: cache.map((c) => ({ ...c, policy: "pull" })),
        variables,
      });
      const { result, log } = await run(w, job);
      assert.equal(result.state, "success", log);
      assert.match(log, /Successfully extracted cache/);
      assert.match(log, /\nlib\n/);
      assert.match(log, /\n400000\n/);
      assert.equal(/WARNING: FASTZIP_EXTRACTOR/.test(log), warning !== null, log);
      if (warning) assert.match(log, warning);
    }
  });
});

Deno.test("TRANSFER_METER_FREQUENCY prints the transfer meter for an artifact upload and download, as the official helpers do", async () => {
  await withWorld({}, async (w) => {
    const meter = { key: "TRANSFER_METER_FREQUENCY", value: "1s" };
    const upload = {
      script: ["echo one > one.txt"],
      artifacts: [{ name: "build", paths: ["one.txt"], when: "on_success" }],
    };
    const job1 = await pickJob(w, { ...upload, variables: [meter] });
    const first = await run(w, job1);
    assert.equal(first.result.state, "success", first.log);
    assert.match(first.log, /\rUploading artifacts \d+ B \([\d.]+ .?B\/s\) {16}\n/);
    const [stored] = w.gitlab.artifactsOf(job1.id);

    const job2 = await pickJob(w, {
      script: ["cat one.txt"],
      dependencies: [{
        id: job1.id,
        name: "build",
        token: job1.token,
        "artifacts_file": { filename: "build.zip", size: stored!.bytes.length },
      }],
      variables: [meter],
    });
    const second = await run(w, job2);
    assert.equal(second.result.state, "success", second.log);
    assert.match(
      second.log,
      new RegExp(`\\rDownloading artifacts ${stored!.bytes.length} B \\([\\d.]+ .?B/s\\) {16}\\n`),
    );

    const quiet = await run(w, await pickJob(w, upload));
    assert.equal(quiet.result.state, "success", quiet.log);
    assert.doesNotMatch(quiet.log, /\rUploading artifacts/);
  });
});

Deno.test("CACHE_FALLBACK_KEY and CACHE_REQUEST_TIMEOUT of type file act by their value, as the official runner reads them (Variables.Value), not by their file's path", async () => {
  await withWorld({}, async (w) => {
    const cache = (key: string) => [{
      key,
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
    }];
    const first = await run(
      w,
      await pickJob(w, {
        script: ["mkdir -p vendor", "echo cached-lib > vendor/lib.txt"],
        cache: cache("deps-main"),
      }),
    );
    assert.equal(first.result.state, "success", first.log);

    await Deno.remove(projectDir(w), { recursive: true });
    const timeouts: number[] = [];
    const fileVariable = (key: string, value: string) => ({ key, value, file: true });
    const second = await run(
      w,
      await pickJob(w, {
        script: ["cat vendor/lib.txt"],
        cache: cache("deps-feature"),
        variables: [
          fileVariable("CACHE_FALLBACK_KEY", "deps-main"),
          fileVariable("CACHE_REQUEST_TIMEOUT", "1"),
        ],
      }),
      {
        distributedCache: (local, _log, _signal, _progress, requestTimeoutMs) => {
          timeouts.push(requestTimeoutMs);
          return local;
        },
      },
    );
    assert.equal(second.result.state, "success", second.log);
    assert.match(second.log, /Checking cache for deps-main\.\.\./);
    assert.match(second.log, /\ncached-lib\n/);
    assert.doesNotMatch(second.log, /CACHE_REQUEST_TIMEOUT/);
    assert.ok(timeouts.length > 0 && timeouts.every((ms) => ms === 60_000), `${timeouts}`);
  });
});
