/**
 * `runner exec` reads `.gitlab-ci.yml` as GitLab does: what GitLab rejects is
 * an error naming file, line and key (exit 2, no stack trace); what GitLab
 * accepts runs. Pipelines follow GitLab's CI/CD YAML reference.
 */
import assert from "node:assert/strict";
import { SampleProject } from "./_exec_cli.ts";

async function list(files: Record<string, string>, ...args: string[]) {
  await using project = await SampleProject.create(files);
  return await project.exec("--list", ...args);
}

function assertRejected(
  run: { code: number; stdout: string; stderr: string },
  pattern: RegExp,
): void {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, "a stack trace was printed");
}

Deno.test("exec rejects script: [] as GitLab does (script can't be blank)", async () => {
  const run = await list({ ".gitlab-ci.yml": "build:\n  script: []\n" });
  assertRejected(run, /^ERROR: \.gitlab-ci\.yml:2: jobs\.build\.script: can't be blank$/m);
});

Deno.test("exec rejects a CI file that is not UTF-8 or holds a control character, naming file and line", async () => {
  // Latin-1 "café" in an included file, a NUL in the main file: GitLab's YAML
  // parser refuses both; a key file for cache:key:files may hold any bytes.
  const latin1 = new Uint8Array([...new TextEncoder().encode("b:\n  script: echo caf"), 0xe9, 10]);
  const binary = new Uint8Array([0xff, 0xfe, 0, 1, 0x80]);
  const run = async (main: string) => {
    await using project = await SampleProject.create({ ".gitlab-ci.yml": main });
    await Deno.mkdir(`${project.dir}/ci`);
    await Deno.writeFile(`${project.dir}/ci/latin1.yml`, latin1);
    await Deno.writeFile(`${project.dir}/key.bin`, binary);
    return await project.exec("--list");
  };
  assertRejected(
    await run("include: ci/latin1.yml\na:\n  script: echo\n"),
    /^ERROR: ci\/latin1\.yml:2: the file is not UTF-8 text \(byte 0xE9\)$/m,
  );
  assertRejected(
    await run("a:\n  script: echo\n\nb:\n  script: echo \0 nul\n"),
    /^ERROR: \.gitlab-ci\.yml:5: invalid YAML: control character U\+0000 is not allowed$/m,
  );
  const ok = await run("a:\n  script: echo\n  cache:\n    key:\n      files: [key.bin]\n");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^1\s+a\s+test/m);
});

Deno.test("exec refuses --docker-image without --executor docker instead of ignoring it", async () => {
  const files = { ".gitlab-ci.yml": "a:\n  script: [echo]\n" };
  assertRejected(
    await list(files, "--docker-image", "alpine:3"),
    /^ERROR: --docker-image is for the docker executors: add --executor docker or docker\+ssh \(the shell executor runs jobs on this host\)$/m,
  );
  const docker = await list(files, "--executor", "docker", "--docker-image", "alpine:3");
  assert.equal(docker.code, 0, docker.stderr);
});

Deno.test("exec rejects an include:local path that leaves the project, naming the include", async () => {
  assertRejected(
    await list({ ".gitlab-ci.yml": "a:\n  script: [echo]\ninclude:\n  - local: ../outside.yml\n" }),
    /^ERROR: \.gitlab-ci\.yml:4: include\[0\]: local file "\.\.\/outside\.yml" is outside the project$/m,
  );
});

Deno.test("exec rejects a variables file that is not UTF-8, naming file and line", async () => {
  await using project = await SampleProject.create({ ".gitlab-ci.yml": "a:\n  script: [echo]\n" });
  await Deno.writeFile(
    `${project.dir}/vars.env`,
    new Uint8Array([...new TextEncoder().encode("A=1\nB=caf"), 0xe9, 10]),
  );
  assertRejected(
    await project.exec("--list", "--variables-file", "vars.env"),
    /^ERROR: vars\.env:2: the file is not UTF-8 text \(byte 0xE9\)$/m,
  );
});

Deno.test("exec accepts scripts nested 10 levels deep through !reference and rejects 11", async () => {
  // Each hidden job wraps the previous one in one more array level.
  const levels = (n: number) => {
    let yaml = ".l1:\n  script: [echo deep]\n";
    for (let i = 2; i < n; i++) {
      yaml += `.l${i}:\n  script: [!reference [.l${i - 1}, script]]\n`;
    }
    return yaml + `job:\n  script: [!reference [.l${n - 1}, script]]\n`;
  };
  const ok = await list({ ".gitlab-ci.yml": levels(10) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^1\s+job\s+test/m);
  const tooDeep = await list({ ".gitlab-ci.yml": levels(11) });
  assertRejected(tooDeep, /^ERROR: \.gitlab-ci\.yml:\d+: jobs\.job\.script: .*10 levels/m);
});

Deno.test("exec rejects more than 150 includes, repeats and self-includes counted", async () => {
  const many: Record<string, string> = {
    ".gitlab-ci.yml": "include:\n" +
      Array.from({ length: 151 }, (_, i) => `  - local: ci/f${i}.yml\n`).join(""),
  };
  for (let i = 0; i < 151; i++) many[`ci/f${i}.yml`] = `job${i}:\n  script: [echo ${i}]\n`;
  assertRejected(await list(many), /^ERROR: \.gitlab-ci\.yml:\d+: include\[150\]: more than 150/m);
  const self = await list({
    ".gitlab-ci.yml": "include: ci/loop.yml\njob:\n  script: [echo]\n",
    "ci/loop.yml": "include: ci/loop.yml\n",
  });
  assertRejected(self, /^ERROR: ci\/loop\.yml:1: include: more than 150 includes$/m);
});

Deno.test("exec rejects cache:paths and artifacts:paths given as a string", async () => {
  const cache = await list({
    ".gitlab-ci.yml": "job:\n  script: [echo]\n  cache:\n    key: k\n    paths: vendor/\n",
  });
  assertRejected(cache, /^ERROR: \.gitlab-ci\.yml:5: jobs\.job\.cache\.paths: expected an array/m);
  const artifacts = await list({
    ".gitlab-ci.yml": "job:\n  script: [echo]\n  artifacts:\n    paths: out/\n",
  });
  assertRejected(artifacts, /jobs\.job\.artifacts\.paths: expected an array/);
});

Deno.test("exec rejects rules: [] and a rules:if GitLab cannot parse, even in a rule never reached", async () => {
  assertRejected(
    await list({ ".gitlab-ci.yml": "job:\n  script: [echo]\n  rules: []\n" }),
    /^ERROR: \.gitlab-ci\.yml:3: jobs\.job\.rules: expected at least one rule$/m,
  );
  const badIf = await list({
    ".gitlab-ci.yml": `job:
  script: [echo]
  rules:
    - when: always
    - if: '$CI_COMMIT_BRANCH = "main"'
`,
  });
  assertRejected(
    badIf,
    /^ERROR: \.gitlab-ci\.yml:5: jobs\.job\.rules\[1\]\.if: invalid expression/m,
  );
});

Deno.test("exec does not crash on an empty rules:exists pattern or a rules:changes pattern that expands to nothing", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `empty-exists:
  script: [echo]
  rules:
    - exists: [""]
    - when: manual
matrix-changes:
  script: [echo "$WATCH"]
  parallel:
    matrix:
      - WATCH: ["api/**/*", ""]
  rules:
    - changes: [$WATCH]
`,
    "api/main.go": "package main\n",
  }, { "api/main.go": "package main // edited\n" });
  const run = await project.exec("--list");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stderr, /TypeError|FATAL/);
  // The empty pattern matches nothing, so the second rule decides.
  assert.match(run.stdout, /^empty-exists\s+test\s+manual job; name it to run it$/m);
  // Rules see each instance's matrix value: api/ changed, "" matches nothing.
  assert.match(run.stdout, /^1\s+matrix-changes: \[api\/\*\*\/\*\]\s+test/m);
  assert.match(run.stdout, /^matrix-changes: \[\]\s+test\s+rules: no rule matched$/m);
});

Deno.test("exec's changes: sees the working tree's changes in workflow rules, include rules and only/except", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `include:
  - local: ci/api.yml
    rules:
      - changes: [api/**/*]
  - local: ci/docs.yml
    rules:
      - changes: [docs/**/*]
workflow:
  rules:
    - changes: [api/**/*]
only-api:
  script: [echo]
  only:
    changes: [api/**/*]
except-api:
  script: [echo]
  except:
    changes: [api/**/*]
`,
    "ci/api.yml": "from-api-include:\n  script: [echo]\n",
    "ci/docs.yml": "from-docs-include:\n  script: [echo]\n",
    "api/main.go": "package main\n",
    "docs/index.md": "# Docs\n",
  }, { "api/main.go": "package main // edited\n" });
  const run = await project.exec("--list");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stderr, /TypeError|FATAL/);
  assert.match(run.stdout, /^\d+\s+from-api-include\s+test/m);
  assert.match(run.stdout, /^\d+\s+only-api\s+test/m);
  assert.match(run.stdout, /^except-api\s+test\s+/m);
  assert.doesNotMatch(run.stdout, /from-docs-include/);
});

Deno.test("exec accepts include:local with a variable in the path", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml":
      "include:\n  - local: ci/$CI_COMMIT_REF_NAME.yml\n  - local: ci/${FLAVOUR}.yml\n",
    "ci/main.yml": "from-branch:\n  script: [echo branch]\n",
    "ci/extra.yml": "from-variable:\n  script: [echo variable]\n",
  });
  const run = await project.exec("--list", "--variable", "FLAVOUR=extra");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^1\s+from-branch\s+test/m);
  assert.match(run.stdout, /^2\s+from-variable\s+test/m);
});

Deno.test("exec accepts dependencies on a same-stage job that is also in needs, and passes its artifacts", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build]
compile:
  stage: build
  script: [mkdir -p out, echo built > out/bin.txt]
  artifacts:
    paths: [out/]
package:
  stage: build
  needs: [compile]
  dependencies: [compile]
  script: [cat out/bin.txt]
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^built$/m);
});

Deno.test("include:local wildcards match as GitLab documents: ** spans folders, **/ needs one", async () => {
  const files = {
    "configs/a.yml": "top-a:\n  script: [echo]\n",
    "configs/sub/b.yml": "sub-b:\n  script: [echo]\n",
    "configs/sub/deeper/c.yml": "deep-c:\n  script: [echo]\n",
    "configs/skip.yaml": "yaml-ext:\n  script: [echo]\n",
  };
  const all = await list({ ...files, ".gitlab-ci.yml": "include: 'configs/**.yml'\n" });
  assert.equal(all.code, 0, all.stderr);
  for (const job of ["top-a", "sub-b", "deep-c"]) {
    assert.match(all.stdout, new RegExp(`\\s${job}\\s`));
  }
  assert.doesNotMatch(all.stdout, /yaml-ext/);
  const sub = await list({ ...files, ".gitlab-ci.yml": "include: 'configs/**/*.yml'\n" });
  assert.equal(sub.code, 0, sub.stderr);
  assert.match(sub.stdout, /\ssub-b\s/);
  assert.match(sub.stdout, /\sdeep-c\s/);
  assert.doesNotMatch(sub.stdout, /top-a/);
  const one = await list({ ...files, ".gitlab-ci.yml": "include: 'configs/*.yml'\n" });
  assert.match(one.stdout, /\stop-a\s/);
  assert.doesNotMatch(one.stdout, /sub-b|deep-c/);
});

Deno.test("include:rules decide whether a file is included", async () => {
  const files = {
    ".gitlab-ci.yml": `include:
  - local: ci/main-only.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
  - local: ci/never.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
        when: never
      - when: always
  - local: ci/when-docs.yml
    rules:
      - exists: [docs/index.md]
base:
  script: [echo]
`,
    "ci/main-only.yml": "main-job:\n  script: [echo]\n",
    "ci/never.yml": "never-job:\n  script: [echo]\n",
    "ci/when-docs.yml": "docs-job:\n  script: [echo]\n",
  };
  const run = await list(files);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\smain-job\s/);
  assert.doesNotMatch(run.stdout, /never-job|docs-job/);
  assert.doesNotMatch(run.stdout + run.stderr, /not evaluated/);
});

Deno.test("spec:inputs are interpolated into $[[ inputs.X ]] with defaults, types and options", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `include:
  - local: templates/test.yml
    inputs:
      job-prefix: unit
      parallelism: 2
      flags: [--fast, --quiet]
`,
    "templates/test.yml": `spec:
  inputs:
    job-prefix:
    stage:
      default: test
      options: [test, deploy]
    parallelism:
      type: number
    flags:
      type: array
      default: []
---
"$[[ inputs.job-prefix ]]-tests":
  stage: $[[ inputs.stage ]]
  parallel: $[[ inputs.parallelism ]]
  script:
    - echo "prefix $[[ inputs.job-prefix | truncate(0, 2) ]] flags $[[ inputs.flags ]]"
`,
  });
  const listed = await project.exec("--list");
  assert.equal(listed.code, 0, listed.stdout + listed.stderr);
  assert.match(listed.stdout, /^1\s+unit-tests 1\/2\s+test/m);
  assert.match(listed.stdout, /^2\s+unit-tests 2\/2\s+test/m);
  const run = await project.exec("unit-tests 1/2");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^\$ echo "prefix un flags \["--fast","--quiet"\]"$/m);

  await project.write({
    ".gitlab-ci.yml":
      "include:\n  - local: templates/test.yml\n    inputs:\n      job-prefix: x\n      parallelism: two\n",
  });
  assertRejected(
    await project.exec("--list"),
    /^ERROR: \.gitlab-ci\.yml:5: spec\.inputs\.parallelism: provided value is not a number$/m,
  );
  await project.write({
    ".gitlab-ci.yml":
      "include:\n  - local: templates/test.yml\n    inputs:\n      parallelism: 2\n",
  });
  assertRejected(
    await project.exec("--list"),
    /spec\.inputs\.job-prefix: required value has not been provided/,
  );
});

Deno.test("needs:parallel:matrix takes $[[ matrix.X ]] (the job's own value) and arrays of values", async () => {
  const run = await list({
    ".gitlab-ci.yml": `stages: [build, test]
build:
  stage: build
  script: [echo "$OS $ARCH"]
  parallel:
    matrix:
      - OS: [linux, mac]
        ARCH: [amd64, arm64]
test:
  stage: test
  script: [echo test]
  parallel:
    matrix:
      - OS: [linux, mac]
  needs:
    - job: build
      parallel:
        matrix:
          - OS: $[[ matrix.OS ]]
            ARCH: [amd64, arm64]
package:
  stage: test
  script: [echo]
  needs:
    - job: build
      parallel:
        matrix:
          - OS: [linux, mac]
            ARCH: arm64
`,
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(
    run.stdout,
    /^\d+\s+test: \[linux\]\s+test\s+on_success\s+build: \[linux, amd64\], build: \[linux, arm64\]$/m,
  );
  assert.match(
    run.stdout,
    /^\d+\s+test: \[mac\]\s+test\s+on_success\s+build: \[mac, amd64\], build: \[mac, arm64\]$/m,
  );
  assert.match(
    run.stdout,
    /^\d+\s+package\s+test\s+on_success\s+build: \[linux, arm64\], build: \[mac, arm64\]$/m,
  );
});

Deno.test("needs:project skips only the jobs that depend on it; the others are listed and run", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, test]
unit:
  stage: build
  script: [echo unit ran]
integration:
  stage: build
  script: [echo]
  needs:
    - project: group/library
      job: build-lib
      ref: main
      artifacts: true
report:
  stage: test
  needs: [integration]
  script: [echo]
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^unit ran$/m);
  const listed = await project.exec("--list");
  assert.match(
    listed.stdout,
    /^integration\s+build\s+needs:project "group\/library" needs GitLab; not run locally$/m,
  );
  assert.match(listed.stdout, /^report\s+test\s+needs "integration", which is not run$/m);
});

Deno.test("a job extending a template from an include:project exec cannot fetch is left out in one line; the rest lists", async () => {
  const run = await list({
    ".gitlab-ci.yml": `include:
  - local: ci/build.yml
  - project: group/ci-templates
    file: /templates/deploy.yml
  - component: $CI_SERVER_FQDN/group/components/lint@1.0
deploy:
  extends: .deploy-template
  script: [echo deploy]
smoke:
  needs: [deploy]
  script: [echo smoke]
`,
    "ci/build.yml": "build:\n  script: [echo build]\n",
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^1\s+build\s+test/m);
  assert.match(
    run.stdout,
    /^\s+\.gitlab-ci\.yml: extends: not run, their templates come from includes exec skipped: deploy \(extends "\.deploy-template"\)$/m,
  );
  assert.match(run.stdout, /^smoke\s+test\s+needs "deploy", which is not run$/m);
  assert.equal(run.stdout.match(/\.deploy-template/g)?.length, 1, "said once");
});

Deno.test("exec says why there is no job to run, naming each job and its reason", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `downstream:
  trigger:
    project: group/deployer
docs:
  script: [echo]
  rules:
    - if: $CI_COMMIT_TAG
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stderr, /^No job to run:$/m);
  assert.match(
    run.stderr,
    /^ {2}downstream: multi-project pipeline "group\/deployer" needs GitLab; not run locally$/m,
  );
  assert.match(run.stderr, /^ {2}docs: rules: no rule matched$/m);
});

Deno.test("a child pipeline that triggers itself stops at GitLab's depth of two child levels", async () => {
  const run = await list({
    ".gitlab-ci.yml": "parent:\n  script: [echo]\nspawn:\n  trigger:\n    include: ci/self.yml\n",
    "ci/self.yml": "work:\n  script: [echo]\nagain:\n  trigger:\n    include: ci/self.yml\n",
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\sspawn\/work\s/);
  assert.match(run.stdout, /\sspawn\/again\/work\s/);
  assert.match(
    run.stdout,
    /^spawn\/again\/again\s+test\s+child pipelines nest at most 2 levels deep \(GitLab's limit\)$/m,
  );
});

Deno.test("remote, template, project and component includes are each skipped with one warning line naming file, line and key", async () => {
  const run = await list({
    ".gitlab-ci.yml": `include:
  - remote: https://example.com/ci.yml
  - template: Auto-DevOps.gitlab-ci.yml
  - project: group/ci-templates
    file: /templates/deploy.yml
  - component: $CI_SERVER_FQDN/group/components/lint@1.0
build:
  script: [echo build]
`,
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^1\s+build\s+test/m);
  const expected: [number, string, string][] = [
    [2, "include[0].remote", 'remote include "https://example.com/ci.yml"'],
    [3, "include[1].template", 'template include "Auto-DevOps.gitlab-ci.yml"'],
    [4, "include[2].project", 'project include "group/ci-templates"'],
    [6, "include[3].component", 'component include "$CI_SERVER_FQDN/group/components/lint@1.0"'],
  ];
  for (const [line, key, what] of expected) {
    const text =
      `.gitlab-ci.yml:${line}: ${key}: ${what} is not supported locally (it needs GitLab); ` +
      "skipped, so jobs it defines are missing";
    const lines = (run.stdout + run.stderr).split("\n").filter((l) => l.trim() === text);
    assert.equal(lines.length, 1, `${key} said once:\n${run.stdout}${run.stderr}`);
  }
});

Deno.test("exec refuses a --project-dir that does not exist or is a file, naming the flag", async () => {
  await using project = await SampleProject.create({ ".gitlab-ci.yml": "a:\n  script: [echo]\n" });
  for (const args of [[], ["--list"]]) {
    assertRejected(
      await project.exec(...args, "--project-dir", ".gitlab-ci.yml"),
      /^ERROR: The project directory ".*\/demo-app\/\.gitlab-ci\.yml" is not a directory \(--project-dir\)$/m,
    );
    assertRejected(
      await project.exec(...args, "--project-dir", "missing"),
      /^ERROR: The project directory ".*\/demo-app\/missing" does not exist \(--project-dir\)$/m,
    );
  }
});

Deno.test("exec given the executor as first argument, as the official exec took it, says to use --executor", async () => {
  await using project = await SampleProject.create({ ".gitlab-ci.yml": "a:\n  script: [echo]\n" });
  assertRejected(
    await project.exec("docker", "a"),
    /^ERROR: Job "docker" is not defined; jobs: a\. The executor is no argument of runner exec, as it was of gitlab-runner exec \(exec docker JOB\): use --executor docker$/m,
  );
  assertRejected(
    await project.exec("--list", "ssh", "a"),
    /^ERROR: Job "ssh" is not defined; jobs: a\. .*\(exec ssh JOB\): use --executor ssh$/m,
  );
  assertRejected(
    await project.exec("--list", "kubernetes", "a"),
    /^ERROR: Job "kubernetes" is not defined; jobs: a\. .*: exec runs jobs with --executor shell, docker, ssh, custom or docker\+ssh$/m,
  );
  // A job of that name is a job.
  await project.write({ ".gitlab-ci.yml": "shell:\n  script: [echo from-job]\n" });
  const run = await project.exec("shell");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /from-job/);
});

Deno.test("exec started in a subdirectory of the project names the directory that has the CI file", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": "a:\n  script: [echo]\n",
    "src/main.c": "",
  });
  assertRejected(
    await project.exec("--list", "--project-dir", "src"),
    /^ERROR: No "\.gitlab-ci\.yml" in ".*\/demo-app\/src": it is in ".*\/demo-app" \(run exec there, or pass --project-dir\)$/m,
  );
});
