import assert from "node:assert/strict";
import type { GitState } from "./git_state.ts";
import { loadPipeline } from "./load_pipeline.ts";
import { planPipeline } from "./pipeline_plan.ts";
import { renderPlanList } from "./plan_list.ts";
import { MemoryProjectFiles } from "./memory_project_files.ts";

const GIT: GitState = {
  sha: "0123456789abcdef0123456789abcdef01234567",
  beforeSha: "0000000000000000000000000000000000000000",
  ref: "main",
  refType: "branch",
  defaultBranch: "main",
  commitMessage: "",
  commitAuthor: "",
  commitTimestamp: "",
  changedFiles: [],
  remotePath: "",
};

Deno.test("--list shows jobs in run order, then jobs not run, then warnings", async () => {
  const files = new MemoryProjectFiles({
    ".gitlab-ci.yml": `
build: { stage: build, script: echo }
lint: { stage: test, needs: [], script: echo, allow_failure: true }
test: { stage: test, needs: [build, lint], script: echo, retry: 2 }
deploy: { stage: deploy, when: manual, script: echo, colour: blue }
`,
  });
  const pipeline = await loadPipeline("/p", { files });
  const text = renderPlanList(await planPipeline(pipeline, { git: GIT, files }));
  assert.equal(
    text,
    [
      "#  JOB    STAGE  WHEN                  NEEDS",
      "1  build  build  on_success            -",
      "2  lint   test   on_success, may fail  (none)",
      "3  test   test   on_success, retry 2   build, lint",
      "",
      "Not run:",
      "JOB     STAGE   REASON",
      "deploy  deploy  manual job; name it to run it",
      "",
      "Warnings:",
      '  .gitlab-ci.yml:5: jobs.deploy.colour: unknown keyword "colour", ignored',
      "",
    ].join("\n"),
  );
});
