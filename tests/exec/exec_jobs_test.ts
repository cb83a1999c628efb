/**
 * `runner exec` runs jobs with what GitLab gives them: predefined variables,
 * artifacts, dotenv reports, coverage and the blocking of manual jobs.
 * Pipelines follow GitLab's CI/CD YAML reference.
 */
import assert from "node:assert/strict";
import { SampleProject, summaryRow } from "./_exec_cli.ts";

Deno.test("artifacts:paths are variable-expanded, so the consumer job gets the files", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, test]
variables:
  OUT_DIR: dist
build:
  stage: build
  script:
    - mkdir -p "$OUT_DIR/bin" reports
    - echo binary > "$OUT_DIR/bin/app"
    - echo report > reports/summary.txt
  artifacts:
    paths:
      - \${OUT_DIR}/bin/
      - $CI_PROJECT_DIR/reports/summary.txt
test:
  stage: test
  script:
    - cat dist/bin/app reports/summary.txt
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stdout, /No files to upload/);
  assert.match(run.stdout, /^binary\nreport$/m);
});

Deno.test("environment variables: slug with GitLab's suffix after expansion, tier from the name, CI_NODE_TOTAL=1", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `review:
  script:
    - echo "slug=$CI_ENVIRONMENT_SLUG name=$CI_ENVIRONMENT_NAME tier=$CI_ENVIRONMENT_TIER"
    - echo "total=$CI_NODE_TOTAL index=\${CI_NODE_INDEX:-unset}"
  environment:
    name: review/$CI_COMMIT_REF_NAME
production:
  script:
    - echo "slug=$CI_ENVIRONMENT_SLUG tier=$CI_ENVIRONMENT_TIER"
  environment: production
canary:
  script:
    - echo "canary tier=$CI_ENVIRONMENT_TIER"
  environment:
    name: canary
    deployment_tier: production
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  // sha256("review/main") in base 36 ends in "yi2y9f"; the name changed when slugged, so it is added.
  assert.match(run.stdout, /^slug=review-main-yi2y9f name=review\/main tier=development$/m);
  assert.match(run.stdout, /^total=1 index=unset$/m);
  // A name that is already a slug keeps it as is.
  assert.match(run.stdout, /^slug=production tier=production$/m);
  assert.match(run.stdout, /^canary tier=production$/m);
});

Deno.test("a rules: when: manual job (allow_failure false) blocks later stages; allow_failure: true does not", async () => {
  const pipeline = (allowFailure: string) =>
    `stages: [build, deploy, verify]
build:
  stage: build
  script: [echo built]
deploy:
  stage: deploy
  script: [echo deployed]
  rules:
    - when: manual${allowFailure}
verify:
  stage: verify
  script: [echo verified]
independent:
  stage: verify
  needs: [build]
  script: [echo independent]
`;
  await using project = await SampleProject.create({ ".gitlab-ci.yml": pipeline("") });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stdout, /^verified$/m);
  assert.match(run.stdout, /^independent$/m, "jobs with needs do not wait for stages");
  assert.match(
    summaryRow(run.stdout, "verify")?.[2] ?? "",
    /skipped: blocked by manual job "deploy"/,
  );
  await project.write({
    ".gitlab-ci.yml": pipeline("\n      allow_failure: true"),
  });
  const allowed = await project.exec();
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
  assert.match(allowed.stdout, /^verified$/m);
});

Deno.test("artifacts:reports:dotenv with two files passes both files' variables on", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, deploy]
build:
  stage: build
  script:
    - printf 'BUILD_VERSION=1.2.3' > build.env
    - echo 'BUILD_URL=https://example.com/1.2.3' > deploy.env
  artifacts:
    reports:
      dotenv: [build.env, deploy.env]
deploy:
  stage: deploy
  script:
    - echo "version $BUILD_VERSION at $BUILD_URL"
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stdout, /Invalid dotenv report/);
  assert.match(run.stdout, /^version 1\.2\.3 at https:\/\/example\.com\/1\.2\.3$/m);
});

Deno.test("exec shows the coverage a job's coverage: regex finds, as GitLab's job page would", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `unit:
  script:
    - 'echo "Statements   : 71.3% ( 500/701 )"'
    - 'echo "Lines        : 82.56% ( 1000/1211 )"'
  coverage: '/Lines\\s*:\\s*(\\d+\\.?\\d*)%/'
lint:
  script: [echo lint]
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^JOB\s+STAGE\s+STATUS\s+DURATION\s+COVERAGE$/m);
  assert.equal(summaryRow(run.stdout, "unit")?.[4], "82.56%");
  assert.equal(summaryRow(run.stdout, "lint")?.[4], "-");
});

Deno.test("a trigger:include:local child pipeline runs after its trigger job's earlier stages; strategy: depend holds later stages", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, child, deploy]
build:
  stage: build
  script: [echo "parent build"]
microservice:
  stage: child
  variables:
    SERVICE: billing
  trigger:
    include: ci/child.yml
    strategy: depend
deploy:
  stage: deploy
  script: [echo "parent deploy"]
`,
    "ci/child.yml": `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "parent_pipeline"
stages: [test, package]
child-test:
  stage: test
  script: [echo "child test of $SERVICE from $CI_PIPELINE_SOURCE"]
child-package:
  stage: package
  script: [echo "child package"]
`,
  });
  const listed = await project.exec("--list");
  assert.equal(listed.code, 0, listed.stdout + listed.stderr);
  assert.match(listed.stdout, /^1\s+build\s+build/m);
  assert.match(
    listed.stdout,
    /^2\s+microservice\/child-test\s+test\s+on_success\s+\(earlier stages\)$/m,
  );
  assert.match(listed.stdout, /^3\s+microservice\/child-package\s+package/m);
  assert.match(listed.stdout, /^4\s+deploy\s+deploy/m);

  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const order = [
    "parent build",
    "child test of billing from parent_pipeline",
    "child package",
    "parent deploy",
  ]
    .map((line) => run.stdout.search(new RegExp(`^${line}$`, "m")));
  assert.ok(order.every((at) => at >= 0), run.stdout);
  assert.deepEqual([...order].sort((a, b) => a - b), order, "runs in pipeline order");
  assert.deepEqual(summaryRow(run.stdout, "microservice/child-test")?.slice(0, 3), [
    "microservice/child-test",
    "test",
    "passed",
  ]);
});
