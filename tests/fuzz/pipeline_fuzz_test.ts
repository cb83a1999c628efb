/** Hostile .gitlab-ci.yml (with local includes): loadPipeline loads it or throws a CiConfigError. */
import assert from "node:assert/strict";
import { CiConfigError } from "../../src/pipeline/ci_config_error.ts";
import { loadPipeline } from "../../src/pipeline/load_pipeline.ts";
import { MemoryProjectFiles } from "../../src/pipeline/memory_project_files.ts";
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
      try {
        await loadPipeline("/src/app", { files: new MemoryProjectFiles(files) });
        seen.accepted++;
      } catch (err) {
        assertClearError(err, CiConfigError);
        seen.refused++;
      }
    },
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});
