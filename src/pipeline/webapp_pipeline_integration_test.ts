// Loads the sample pipeline in testdata/webapp from disk (needs --allow-read).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { variableValue } from "../job/job_spec.ts";
import { formatWarning } from "./ci_config_error.ts";
import type { GitState } from "./git_state.ts";
import { loadPipeline } from "./load_pipeline.ts";
import { planPipeline } from "./pipeline_plan.ts";
import { renderPlanList } from "./plan_list.ts";
import { MemoryProjectFiles } from "./memory_project_files.ts";

const DIR = fileURLToPath(new URL("./testdata/webapp/", import.meta.url));
const FILES = [
  ".gitlab-ci.yml",
  "ci/templates.yml",
  "ci/deploy.yml",
  "package-lock.json",
  "docs/index.md",
];

async function project(): Promise<MemoryProjectFiles> {
  const files: Record<string, string> = {};
  for (const f of FILES) files[f] = await Deno.readTextFile(DIR + f);
  return new MemoryProjectFiles(files);
}

function git(
  ref: string,
  refType: "branch" | "tag" = "branch",
  changedFiles: string[] = [],
): GitState {
  return {
    sha: "0123456789abcdef0123456789abcdef01234567",
    beforeSha: "0000000000000000000000000000000000000000",
    ref,
    refType,
    defaultBranch: "main",
    commitMessage: "Ship it",
    commitAuthor: "Ada <ada@example.com>",
    commitTimestamp: "2024-05-01T10:00:00Z",
    changedFiles,
    remotePath: "",
  };
}

Deno.test("the webapp sample pipeline plans like GitLab on a feature branch", async () => {
  const files = await project();
  const pipeline = await loadPipeline(DIR, { files });
  assert.deepEqual(pipeline.files, [".gitlab-ci.yml", "ci/templates.yml", "ci/deploy.yml"]);
  assert.deepEqual(pipeline.warnings.map(formatWarning), []);
  const plan = await planPipeline(pipeline, {
    git: git("feature/x", "branch", ["e2e/login.spec.ts"]),
    files,
    newToken: () => "t",
  });
  assert.deepEqual(plan.stages, [".pre", "build", "test", "package", "deploy", ".post"]);
  assert.deepEqual(plan.jobs.map((j) => j.name), [
    "build",
    "lint",
    "unit: [20, alpine]",
    "unit: [22, alpine]",
    "docs",
    "package",
  ]);
  assert.deepEqual(plan.skipped.map((s) => `${s.name}: ${s.reason}`), [
    "deploy: rules: no rule matched",
    "e2e 1/2: manual job; name it to run it",
    "e2e 2/2: manual job; name it to run it",
  ]);
  const by = new Map(plan.jobs.map((j) => [j.name, j]));
  const build = by.get("build")!;
  // extends + default + !reference + include + anchors
  assert.deepEqual(build.jobSpec.steps[0]!.script, [
    'echo "default before"',
    'echo "setting up $APP_NAME"',
    "npm ci",
    "npm run build",
  ]);
  assert.equal(build.jobSpec.image.name, "node:22-alpine");
  assert.equal(variableValue(build.jobSpec, "NODE_ENV"), "development");
  assert.equal(variableValue(build.jobSpec, "GREETING"), "hello $APP_NAME");
  assert.match(build.jobSpec.cache[0]!.key, /^node-[0-9a-f]{40}$/);
  assert.equal(build.retry.max, 1);
  const unit = by.get("unit: [22, alpine]")!;
  assert.deepEqual(unit.needs, ["build"]);
  assert.equal(variableValue(unit.jobSpec, "NODE"), "22");
  assert.equal(variableValue(unit.jobSpec, "NODE_ENV"), "test");
  assert.equal(by.get("lint")!.allowFailure.isAllowed, true);
  assert.deepEqual(by.get("lint")!.waitsFor, []);
  assert.deepEqual(by.get("package")!.needs, ["build", "unit: [20, alpine]", "unit: [22, alpine]"]);
  assert.equal(by.get("package")!.timeout, 5400);
});

Deno.test("the webapp sample pipeline runs e2e and a manual deploy on main, deploys tags", async () => {
  const files = await project();
  const pipeline = await loadPipeline(DIR, { files });
  const main = await planPipeline(pipeline, { git: git("main"), files, jobs: ["deploy"] });
  assert.equal(main.jobs[0]!.when, "manual");
  const full = await planPipeline(pipeline, { git: git("main"), files });
  assert.ok(full.jobs.some((j) => j.name === "e2e 2/2"));
  const tag = await planPipeline(pipeline, { git: git("v1.4.0", "tag"), files });
  const deploy = tag.jobs.find((j) => j.name === "deploy")!;
  assert.equal(deploy.when, "on_success");
  assert.equal(variableValue(deploy.jobSpec, "CI_COMMIT_TAG"), "v1.4.0");
  assert.equal(variableValue(deploy.jobSpec, "CI_ENVIRONMENT_URL"), "https://example.com");
  const list = renderPlanList(full);
  assert.match(list, /^#\s+JOB\s+STAGE\s+WHEN\s+NEEDS$/m);
  assert.match(list, /^1\s+build\s+build\s+on_success, retry 1\s+-$/m);
  assert.match(list, /^7\s+docs\s+test\s+on_success, retry 1\s+\(earlier stages\)$/m);
  assert.match(list, /^2\s+lint\s+test\s+on_success, may fail, retry 1\s+\(none\)$/m);
  assert.match(list, /^deploy\s+deploy\s+manual job; name it to run it$/m);
});
