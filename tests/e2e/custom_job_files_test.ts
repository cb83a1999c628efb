/**
 * End to end: the custom executor moves a job's files as the official runner
 * does, through the runner's helper commands (`cache-extractor`,
 * `artifacts-downloader`, `cache-archiver`, `artifacts-uploader`) that the
 * stage scripts call where the job runs. Driven by the documented example
 * driver (docs/examples/custom-driver/), which gives every job a fresh
 * throwaway directory: whatever the second job finds came through artifacts
 * and cache.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";

const EXAMPLE = fileURLToPath(new URL("../../docs/examples/custom-driver/", import.meta.url));
const TIMEOUT = { timeoutMs: 180_000 };

Deno.test("custom executor: artifacts, dependencies and cache go through the runner's helper commands", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const root = await Deno.makeTempDir({ prefix: "runner-custom-files-" });
  try {
    const custom = [
      "  [runners.custom]",
      `    config_exec = "${join(EXAMPLE, "config.sh")}"`,
      `    prepare_exec = "${join(EXAMPLE, "prepare.sh")}"`,
      `    run_exec = "${join(EXAMPLE, "run.sh")}"`,
      `    cleanup_exec = "${join(EXAMPLE, "cleanup.sh")}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "custom" })
      }${custom}\n`,
    });
    const variables = [
      { key: "GIT_STRATEGY", value: "none" },
      { key: "CUSTOM_DRIVER_ROOT", value: root },
    ];
    const cache = [{
      key: "deps",
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
      "fallback_keys": [],
    }];
    const job1 = gitlab.enqueueJob({
      name: "build",
      script: [
        "mkdir -p out vendor",
        "echo built > out/result.txt",
        "echo lib-v1 > vendor/lib.txt",
      ],
      artifacts: [{ name: "$CI_JOB_NAME-out", paths: ["out/"], when: "on_success" }],
      cache,
      variables,
    });
    const s1 = await gitlab.waitForJobFinished(job1.id, TIMEOUT);
    assert.equal(s1.status, "success", s1.trace + runner.log);
    assert.match(s1.trace, /Creating cache deps\.\.\.[\s\S]*Created cache/);
    assert.match(s1.trace, /Uploading artifacts\.\.\.[\s\S]*out: found 2 matching artifact files/);
    const [stored] = gitlab.artifactsOf(job1.id);
    assert.ok(stored, "job 1 uploaded its artifacts through artifacts-uploader");
    assert.equal(stored.fileName, "build-out.zip", "the name is expanded");
    // The payload's empty format and type are sent as nothing, GitLab's defaults (§6.1).
    const [upload] = gitlab.requestsTo("upload_artifacts");
    assert.doesNotMatch(upload?.url.search ?? "", /artifact_format|artifact_type/);

    const job2 = gitlab.enqueueJob({
      script: ["cat out/result.txt vendor/lib.txt"],
      dependencies: [{
        id: job1.id,
        name: "build",
        token: job1.token,
        "artifacts_file": { filename: "artifacts.zip", size: stored.bytes.length },
      }],
      cache,
      variables,
    });
    const s2 = await gitlab.waitForJobFinished(job2.id, TIMEOUT);
    assert.equal(s2.status, "success", s2.trace + runner.log);
    assert.match(s2.trace, /Checking cache for deps\.\.\.[\s\S]*Successfully extracted cache/);
    assert.match(s2.trace, new RegExp(`Downloading artifacts for build \\(${job1.id}\\)`));
    // Once, by the stage: the helper, which knows no job name, does not say it again.
    assert.equal(s2.trace.split("Downloading artifacts for ").length, 2, s2.trace);
    assert.match(s2.trace, /\nbuilt\nlib-v1\n/);
    assert.doesNotMatch(s2.trace, /not supported with the "custom" executor/);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("custom executor: [runners.artifact] response_header_timeout reaches artifacts-uploader, which ends a try GitLab does not answer", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const root = await Deno.makeTempDir({ prefix: "runner-custom-files-" });
  try {
    const custom = [
      "  [runners.artifact]",
      `    response_header_timeout = "1s"`,
      "  [runners.custom]",
      `    config_exec = "${join(EXAMPLE, "config.sh")}"`,
      `    prepare_exec = "${join(EXAMPLE, "prepare.sh")}"`,
      `    run_exec = "${join(EXAMPLE, "run.sh")}"`,
      `    cleanup_exec = "${join(EXAMPLE, "cleanup.sh")}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "custom" })
      }${custom}\n`,
    });
    // The first try's answer comes after 5 s, in a job that would otherwise wait for it.
    gitlab.injectFault({ endpoint: "upload_artifacts", delayMs: 5_000, times: 1 });
    const job = gitlab.enqueueJob({
      script: ["mkdir -p out", "echo built > out/result.txt"],
      artifacts: [{ paths: ["out/"], when: "on_success" }],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "CUSTOM_DRIVER_ROOT", value: root },
      ],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /no answer within 1 s \(--response-header-timeout\)/);
    assert.equal(gitlab.requestsTo("upload_artifacts").length, 2);
    assert.equal(gitlab.artifactsOf(job.id).length, 1, "the second try's archive is stored");
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("custom executor: artifact paths and name reach artifacts-uploader unexpanded, so a variable the script set through GITLAB_ENV counts, as with the official runner", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const root = await Deno.makeTempDir({ prefix: "runner-custom-files-" });
  try {
    const custom = [
      "  [runners.custom]",
      `    config_exec = "${join(EXAMPLE, "config.sh")}"`,
      `    prepare_exec = "${join(EXAMPLE, "prepare.sh")}"`,
      `    run_exec = "${join(EXAMPLE, "run.sh")}"`,
      `    cleanup_exec = "${join(EXAMPLE, "cleanup.sh")}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "custom" })
      }${custom}\n`,
    });
    const job = gitlab.enqueueJob({
      script: [
        `echo "OUT_DIR=dist" >> "$GITLAB_ENV"`,
        "mkdir -p dist",
        "echo built > dist/result.txt",
      ],
      artifacts: [{ name: "$OUT_DIR-files", paths: ["$OUT_DIR/"], when: "on_success" }],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "CUSTOM_DRIVER_ROOT", value: root },
      ],
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(state.trace, /dist: found 2 matching artifact files/);
    assert.deepEqual(gitlab.artifactsOf(job.id).map((a) => a.fileName), ["dist-files.zip"]);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
