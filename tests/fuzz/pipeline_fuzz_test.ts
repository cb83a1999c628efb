/** Hostile .gitlab-ci.yml (with local includes): loadPipeline loads it or throws a CiConfigError. */
import assert from "node:assert/strict";
import { CiConfigError } from "../../src/pipeline/ci_config_error.ts";
import { loadPipeline } from "../../src/pipeline/load_pipeline.ts";
import { MemoryProjectFiles } from "../../src/pipeline/memory_project_files.ts";
import type { GitState } from "../../src/pipeline/git_state.ts";
import { JobSelectionError, planPipeline } from "../../src/pipeline/pipeline_plan.ts";
import {
  assertClearError,
  forEachInput,
  fuzzIterations,
  fuzzSeed,
  type Prng,
} from "./_fuzz_input.ts";

const CI = `stages: [build, test, deploy]
variables:
  GLOBAL: "1"
include:
  - local: ci/templates.yml
default:
  image: alpine:3
  before_script: [echo before]
.base: &base
  tags: [linux]
  retry: 2
build:
  <<: *base
  stage: build
  script:
    - echo build
    - !reference [.shared, script]
  artifacts:
    paths: [dist/]
    expire_in: 1 week
  cache:
    key: { files: [package-lock.json] }
    paths: [node_modules/]
test:
  extends: .tmpl
  stage: test
  needs: [build]
  parallel:
    matrix:
      - NODE: ["18", "20"]
  rules:
    - if: '$CI_COMMIT_BRANCH == "main" && $GLOBAL =~ /1/'
      when: always
    - exists: [package.json]
deploy:
  stage: deploy
  script: echo deploy
  timeout: 1h 30m
  when: manual
  environment: { name: prod }
`;

const GIT: GitState = {
  sha: "3c8b1f0e2d4a6b8c0e1f3a5b7c9d1e3f5a7b9c0d",
  beforeSha: "0000000000000000000000000000000000000000",
  ref: "main",
  refType: "branch",
  defaultBranch: "main",
  commitMessage: "Fuzz",
  commitAuthor: "Ada <ada@example.com>",
  commitTimestamp: "2026-01-01T00:00:00Z",
  remotePath: "acme/app",
  changedFiles: ["package.json"],
};

const TEMPLATES = `.tmpl:
  script: [echo tmpl]
  variables: { T: "x" }
.shared:
  script: [echo shared]
`;

const SNIPPETS = [
  "&a [*a]",
  "*undefined_alias",
  "!reference [nope, script]",
  "!!binary aGVsbG8=",
  "!!python/object:os.system",
  "{ extends: [.a, .b] }",
  "[[[[[[[[[[[[[[[[[[[[",
  "? complex key",
  "<<: *base",
  "--- \n...",
  "\t",
  "extends: .tmpl",
  "include: ../../../etc/passwd",
  "include: { local: ci/templates.yml }",
  "parallel: 999999",
  "when: sometimes",
  "rules: [{ if: '$A == (' }]",
  "needs: [{ job: nowhere }]",
  "timeout: forever",
  "rules: []",
  "rules: [{ exists: [''] }]",
  "rules: [{ changes: [$UNSET] }]",
  "script: []",
  "trigger: { include: ci/templates.yml, strategy: depend }",
  "trigger: group/other",
  "trigger: { include: .gitlab-ci.yml }",
  "needs: [{ project: a/b, job: c, ref: main }]",
  "needs: [{ job: test, parallel: { matrix: [{ NODE: $[[ matrix.NODE ]] }] } }]",
  "dependencies: [build]",
  "environment: { name: review/$CI_COMMIT_REF_NAME, deployment_tier: nope }",
  "coverage: '/(/'",
  "include: { local: ci/$CI_COMMIT_REF_NAME.yml, rules: [{ if: $X == 'y' }] }",
  "include: { local: 'ci/**.yml', inputs: { a: 1 } }",
  "cache: { paths: vendor/ }",
  "extends: .from-a-project-include",
  "include: { project: g/p, file: t.yml }",
];

function mutate(rng: Prng, text: string): string {
  if (rng.chance(0.4)) {
    const lines = text.split("\n");
    const at = rng.int(0, lines.length - 1);
    const indent = /^\s*/.exec(lines[at] ?? "")?.[0] ?? "";
    lines.splice(at, rng.int(0, 1), indent + rng.pick(SNIPPETS));
    return lines.join("\n");
  }
  return rng.mutateText(text);
}

Deno.test(".gitlab-ci.yml: random and mutated files never crash loadPipeline; each error is a CiConfigError", async () => {
  const seen = { accepted: 0, refused: 0 };
  await forEachInput(
    "loadPipeline",
    { iterations: fuzzIterations(300), seed: fuzzSeed() },
    (rng) => ({
      ".gitlab-ci.yml": mutate(rng, CI),
      "ci/templates.yml": rng.chance(0.3) ? mutate(rng, TEMPLATES) : TEMPLATES,
      "package.json": "{}",
      "package-lock.json": "{}",
    }),
    async (files) => {
      // exec loads then plans: neither may fail with anything but a clear error.
      try {
        const memory = new MemoryProjectFiles(files);
        const pipeline = await loadPipeline("/src/app", {
          files: memory,
          includeContext: () => Promise.resolve({ git: GIT, variables: [] }),
        });
        await planPipeline(pipeline, { git: GIT, files: memory, newToken: () => "t" });
        seen.accepted++;
      } catch (err) {
        assertClearError(err, err instanceof JobSelectionError ? JobSelectionError : CiConfigError);
        seen.refused++;
      }
    },
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});
