import assert from "node:assert/strict";
import { type JobSpec, parseJobSpec, variableValue } from "../job/job_spec.ts";
import { CiConfigError } from "./ci_config_error.ts";
import type { GitState } from "./git_state.ts";
import { withDotenvVariables } from "./job_spec_builder.ts";
import { loadPipeline } from "./load_pipeline.ts";
import {
  isReadingChanges,
  JobSelectionError,
  type PlanOptions,
  planPipeline,
} from "./pipeline_plan.ts";
import { MemoryProjectFiles } from "./memory_project_files.ts";
import { parseVariableArgument } from "./exec_variable.ts";

const GIT: GitState = {
  sha: "3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
  beforeSha: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
  ref: "feature/Login-Form",
  refType: "branch",
  defaultBranch: "main",
  commitMessage: "Add login form\n\nWith validation.",
  commitAuthor: "Ada <ada@example.com>",
  commitTimestamp: "2024-05-01T10:00:00+02:00",
  changedFiles: ["src/login.ts"],
  remotePath: "acme/widget",
};

async function plan(
  yaml: string,
  options: Partial<PlanOptions> = {},
  extra: Record<string, string> = {},
) {
  const files = new MemoryProjectFiles({ ".gitlab-ci.yml": yaml, ...extra });
  const pipeline = await loadPipeline("/home/ada/widget", { files });
  let n = 0;
  return await planPipeline(pipeline, {
    git: GIT,
    files,
    newToken: () => `tok-${++n}`,
    now: new Date("2024-05-01T08:00:00Z"),
    ...options,
  });
}

async function planError(yaml: string, options: Partial<PlanOptions> = {}): Promise<Error> {
  const error = await plan(yaml, options).then(() => null, (e) => e);
  assert.ok(error instanceof Error, "expected an error");
  return error;
}

const v = (spec: JobSpec, key: string) => variableValue(spec, key);

Deno.test("jobs run in stage order, needs letting a job start early", async () => {
  const p = await plan(`
stages: [build, test, deploy]
deploy: { stage: deploy, script: echo }
unit: { stage: test, script: echo }
build: { stage: build, script: echo }
lint: { stage: test, needs: [], script: echo }
pack: { stage: deploy, needs: [build], script: echo }
`);
  // Plan order is stage order, then file order; waitsFor says what may start early.
  assert.deepEqual(p.jobs.map((j) => j.name), ["build", "unit", "lint", "deploy", "pack"]);
  const byName = new Map(p.jobs.map((j) => [j.name, j]));
  assert.deepEqual(byName.get("lint")!.waitsFor, []);
  assert.deepEqual(byName.get("lint")!.needs, []);
  assert.deepEqual(byName.get("unit")!.waitsFor, ["build"]);
  assert.equal(byName.get("unit")!.needs, null);
  assert.deepEqual(byName.get("deploy")!.waitsFor.sort(), ["build", "lint", "unit"]);
  assert.deepEqual(byName.get("pack")!.waitsFor, ["build"]);
  assert.deepEqual(p.jobs.map((j) => j.jobSpec.id), [1, 2, 3, 4, 5]);
});

Deno.test("needs that form a cycle are an error naming the cycle", async () => {
  const error = await planError(`
a: { script: echo, needs: [c] }
b: { script: echo, needs: [a] }
c: { script: echo, needs: [b] }
`);
  assert.ok(error instanceof CiConfigError);
  assert.equal(error.message, ".gitlab-ci.yml:2: jobs.a.needs: needs form a cycle: a → c → b → a");
});

Deno.test("needs on an unknown job or a later stage are errors", async () => {
  assert.equal(
    (await planError("a: { script: echo, needs: [nope] }\n")).message,
    '.gitlab-ci.yml:1: jobs.a.needs: "nope" is not a job of this pipeline',
  );
  assert.equal(
    (await planError(
      "a: { stage: build, script: echo, needs: [b] }\nb: { stage: test, script: echo }\n",
    )).message,
    '.gitlab-ci.yml:1: jobs.a.needs: "b" is in a later stage ("test" comes after "build")',
  );
});

Deno.test("manual jobs are skipped unless named, and jobs needing them too", async () => {
  const yaml = `
build: { stage: build, script: echo }
release: { stage: deploy, when: manual, script: echo }
notify: { stage: .post, needs: [release], script: echo }
`;
  const p = await plan(yaml);
  assert.deepEqual(p.jobs.map((j) => j.name), ["build"]);
  assert.deepEqual(p.skipped.map((s) => `${s.name}: ${s.reason}`), [
    "release: manual job; name it to run it",
    'notify: needs "release", which is not run',
  ]);
  const named = await plan(yaml, { jobs: ["release"] });
  assert.deepEqual(named.jobs.map((j) => j.name), ["release"]);
  assert.equal(named.jobs[0]!.when, "manual");
  assert.equal(named.jobs[0]!.allowFailure.isAllowed, true, "manual jobs may fail by default");
  assert.equal(v(named.jobs[0]!.jobSpec, "CI_JOB_MANUAL"), "true");
});

Deno.test("named jobs run alone unless their needs are asked for", async () => {
  const yaml = `
build: { stage: build, script: echo }
test: { stage: test, needs: [build], script: echo }
other: { stage: test, script: echo }
`;
  const alone = await plan(yaml, { jobs: ["test"] });
  assert.deepEqual(alone.jobs.map((j) => j.name), ["test"]);
  assert.deepEqual(alone.jobs[0]!.notes, [
    'needs "build", which is not selected: its artifacts are missing',
  ]);
  const withNeeds = await plan(yaml, { jobs: ["test"], isNeedsIncluded: true });
  assert.deepEqual(withNeeds.jobs.map((j) => j.name), ["build", "test"]);
  assert.deepEqual(withNeeds.jobs[1]!.artifactsFrom, ["build"]);
  const error = await planError(yaml, { jobs: ["tset"] });
  assert.ok(error instanceof JobSelectionError);
  assert.equal(error.message, 'Job "tset" is not defined; jobs: build, test, other');
});

Deno.test("parallel and parallel:matrix expand into GitLab's job names and variables", async () => {
  const p = await plan(`
shard: { script: echo, parallel: 3 }
matrix:
  script: echo
  parallel:
    matrix:
      - RUBY: ["3.2", "3.3"]
        DB: [pg]
      - RUBY: jruby
after:
  stage: deploy
  script: echo
  needs:
    - job: matrix
      parallel:
        matrix:
          - RUBY: "3.3"
            DB: pg
`);
  assert.deepEqual(p.jobs.map((j) => j.name), [
    "shard 1/3",
    "shard 2/3",
    "shard 3/3",
    "matrix: [3.2, pg]",
    "matrix: [3.3, pg]",
    "matrix: [jruby]",
    "after",
  ]);
  const second = p.jobs[1]!.jobSpec;
  assert.equal(v(second, "CI_NODE_INDEX"), "2");
  assert.equal(v(second, "CI_NODE_TOTAL"), "3");
  const m = p.jobs[4]!.jobSpec;
  assert.equal(v(m, "RUBY"), "3.3");
  assert.equal(v(m, "DB"), "pg");
  assert.equal(v(m, "CI_NODE_TOTAL"), "3");
  assert.deepEqual(p.jobs[6]!.needs, ["matrix: [3.3, pg]"]);
});

Deno.test("rules decide inclusion, when, allow_failure and variables", async () => {
  const yaml = `
a:
  script: echo
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
    - if: $CI_COMMIT_REF_NAME =~ /^feature\\//
      when: manual
      variables: { FROM_RULE: "yes" }
b:
  script: echo
  rules:
    - changes: [docs/**/*]
c:
  script: echo
  rules:
    - if: $DEPLOY == "1"
      allow_failure: true
    - when: never
`;
  const p = await plan(yaml, { jobs: ["a"] });
  const a = p.jobs[0]!;
  assert.equal(a.when, "manual");
  assert.equal(
    a.allowFailure.isAllowed,
    false,
    "a rule's when: manual does not imply allow_failure",
  );
  assert.equal(v(a.jobSpec, "FROM_RULE"), "yes");
  assert.deepEqual(
    p.skipped.filter((s) => s.when === "never").map((s) => `${s.name}: ${s.reason}`),
    [
      "b: rules: no rule matched",
      "c: rules: rule 2 says when: never",
    ],
  );
  const withVar = await plan(yaml, {
    variables: [{ key: "DEPLOY", value: "1", isMasked: false, isFile: false, isRaw: false }],
  });
  assert.deepEqual(withVar.jobs.map((j) => j.name), ["c"]);
  assert.equal(withVar.jobs[0]!.allowFailure.isAllowed, true);
  const error = await planError(yaml, { jobs: ["b"] });
  assert.equal(error.message, 'Job "b" is not in the pipeline: rules: no rule matched');
});

Deno.test("workflow:rules can stop the pipeline or add variables", async () => {
  const stopped = await plan(`
workflow:
  rules:
    - if: $CI_COMMIT_TAG
job: { script: echo }
`);
  assert.equal(stopped.isCreated, false);
  assert.deepEqual(stopped.notes, ["The pipeline is not created: workflow:rules: no rule matched"]);
  const p = await plan(`
workflow:
  name: "Pipeline for $CI_COMMIT_REF_NAME"
  rules:
    - if: $CI_COMMIT_BRANCH
      variables: { FLAVOUR: branch }
job: { script: echo }
`);
  assert.equal(p.isCreated, true);
  assert.equal(v(p.jobs[0]!.jobSpec, "FLAVOUR"), "branch");
  assert.equal(v(p.jobs[0]!.jobSpec, "CI_PIPELINE_NAME"), "Pipeline for $CI_COMMIT_REF_NAME");
});

Deno.test("variables follow GitLab's precedence and exec variables can be masked", async () => {
  const p = await plan(
    `
variables: { LEVEL: global, GLOBAL_ONLY: g, CI_COMMIT_REF_NAME: overridden }
job:
  script: echo
  variables: { LEVEL: job, RAW: { value: "$HOME", expand: false } }
`,
    {
      variables: [
        { key: "LEVEL", value: "file", isMasked: false, isFile: false, isRaw: false },
        { key: "TOKEN", value: "s3cr3t-value", isMasked: true, isFile: false, isRaw: false },
        { key: "LEVEL", value: "cli", isMasked: false, isFile: false, isRaw: false },
      ],
    },
  );
  const spec = p.jobs[0]!.jobSpec;
  assert.equal(v(spec, "LEVEL"), "cli");
  assert.equal(v(spec, "GLOBAL_ONLY"), "g");
  assert.equal(v(spec, "CI_COMMIT_REF_NAME"), "overridden");
  assert.equal(spec.variables.find((x) => x.key === "RAW")?.raw, true);
  assert.equal(spec.variables.find((x) => x.key === "TOKEN")?.masked, true);
  assert.equal(spec.variables.find((x) => x.key === "CI_JOB_TOKEN")?.masked, true);
  assert.equal(spec.variables.at(-1)?.key, "GIT_STRATEGY");
  assert.equal(v(spec, "GIT_STRATEGY"), "none");
  const withDotenv = withDotenvVariables(p.jobs[0]!, [{ key: "LEVEL", value: "dotenv" }, {
    key: "BUILD_ID",
    value: "7",
  }]);
  assert.equal(v(withDotenv, "BUILD_ID"), "7");
  assert.equal(v(withDotenv, "LEVEL"), "cli", "--variable beats dotenv");
  const yamlOnly = await plan("job:\n  script: echo\n  variables: { LEVEL: job }\n");
  assert.equal(
    v(withDotenvVariables(yamlOnly.jobs[0]!, [{ key: "LEVEL", value: "dotenv" }]), "LEVEL"),
    "dotenv",
  );
});

Deno.test("predefined CI variables describe the local commit, project and job", async () => {
  const p = await plan(
    "build:\n  script: echo\n  environment: { name: review/$CI_COMMIT_REF_SLUG, url: https://x }\n",
  );
  const spec = p.jobs[0]!.jobSpec;
  const expected: Record<string, string> = {
    CI: "true",
    GITLAB_CI: "true",
    CI_JOB_NAME: "build",
    CI_JOB_STAGE: "test",
    CI_JOB_ID: "1",
    CI_COMMIT_SHA: GIT.sha,
    CI_COMMIT_SHORT_SHA: "3c8b1f0e",
    CI_COMMIT_REF_NAME: "feature/Login-Form",
    CI_COMMIT_REF_SLUG: "feature-login-form",
    CI_COMMIT_BRANCH: "feature/Login-Form",
    CI_COMMIT_TITLE: "Add login form",
    CI_DEFAULT_BRANCH: "main",
    CI_PIPELINE_ID: "1",
    CI_PIPELINE_SOURCE: "push",
    CI_PROJECT_NAME: "widget",
    CI_PROJECT_PATH: "acme/widget",
    CI_PROJECT_NAMESPACE: "acme",
    // GitLab expands the name with the job's variables (expanded_environment_name).
    CI_ENVIRONMENT_NAME: "review/feature-login-form",
    CI_NODE_TOTAL: "1",
    CI_JOB_TOKEN: "tok-1",
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(v(spec, key), value, key);
  assert.equal(v(spec, "CI_COMMIT_TAG"), undefined);
  assert.equal(spec.gitInfo.repoUrl, "/home/ada/widget");
  assert.equal(spec.gitInfo.sha, GIT.sha);
});

Deno.test("artifacts flow from earlier stages, needs and dependencies", async () => {
  const p = await plan(`
a: { stage: build, script: echo, artifacts: { paths: [a/] } }
b: { stage: build, script: echo }
c: { stage: test, script: echo }
d: { stage: test, script: echo, dependencies: [b] }
e: { stage: test, script: echo, needs: [{ job: a, artifacts: false }, b] }
f: { stage: deploy, script: echo, dependencies: [] }
`);
  const by = new Map(p.jobs.map((j) => [j.name, j]));
  assert.deepEqual(by.get("c")!.artifactsFrom, ["a", "b"]);
  assert.deepEqual(by.get("d")!.artifactsFrom, ["b"]);
  assert.deepEqual(by.get("e")!.artifactsFrom, ["b"]);
  assert.deepEqual(by.get("f")!.artifactsFrom, []);
  assert.deepEqual(
    by.get("c")!.jobSpec.dependencies.map((d) => [d.id, d.name]),
    [[by.get("a")!.jobSpec.id, "a"], [by.get("b")!.jobSpec.id, "b"]],
  );
});

Deno.test("the payload has GitLab's steps, image, artifacts, cache and features", async () => {
  const p = await plan(
    `
default:
  before_script: [echo before]
job:
  image: { name: "node:22", entrypoint: [""], pull_policy: always, docker: { platform: linux/amd64, user: 1000 } }
  services: [{ name: "postgres:16", alias: db, command: [postgres, -c, fsync=off] }]
  script: [npm test]
  after_script: [echo after]
  timeout: 1h 30m
  artifacts:
    name: out
    paths: [dist/]
    expire_in: 1 week
    reports: { junit: rspec.xml, dotenv: build.env }
  cache:
    - key: { files: [package-lock.json], prefix: npm }
      paths: [node_modules/]
    - key: plain
      paths: [.cache/]
      policy: pull
`,
    {},
    { "package-lock.json": '{"lockfileVersion": 3}' },
  );
  const spec = p.jobs[0]!.jobSpec;
  assert.equal(spec.timeout, 5400);
  assert.deepEqual(spec.steps, [
    {
      name: "script",
      script: ["echo before", "npm test"],
      timeout: 5400,
      when: "on_success",
      allowFailure: false,
    },
    {
      name: "after_script",
      script: ["echo after"],
      timeout: 5400,
      when: "always",
      allowFailure: false,
    },
  ]);
  assert.equal(spec.image.name, "node:22");
  assert.deepEqual(spec.image.entrypoint, [""]);
  assert.deepEqual(spec.image.pullPolicy, ["always"]);
  assert.equal(spec.image.dockerPlatform, "linux/amd64");
  assert.equal(spec.image.dockerUser, "1000");
  assert.deepEqual(spec.services.map((s) => [s.name, s.alias, s.command.join(" ")]), [
    ["postgres:16", "db", "postgres -c fsync=off"],
  ]);
  assert.deepEqual(
    spec.artifacts.map((a) => [a.artifactType, a.artifactFormat, a.name, a.when, a.paths.join()]),
    [
      ["archive", "zip", "out", "on_success", "dist/"],
      ["junit", "gzip", "junit.xml", "always", "rspec.xml"],
      ["dotenv", "gzip", ".env", "always", "build.env"],
    ],
  );
  assert.match(spec.cache[0]!.key, /^npm-[0-9a-f]{40}$/);
  assert.equal(spec.cache[1]!.key, "plain");
  assert.equal(spec.cache[1]!.policy, "pull");
  assert.equal(spec.features.traceSections, true);
  assert.ok(spec.features.failureReasons.includes("script_failure"));
});

Deno.test("cache key:files changes when the file content changes", async () => {
  const yaml = "job:\n  script: echo\n  cache: { key: { files: [lock] }, paths: [x] }\n";
  const one = await plan(yaml, {}, { lock: "1" });
  const two = await plan(yaml, {}, { lock: "2" });
  const none = await plan(yaml);
  assert.notEqual(one.jobs[0]!.jobSpec.cache[0]!.key, two.jobs[0]!.jobSpec.cache[0]!.key);
  assert.equal(none.jobs[0]!.jobSpec.cache[0]!.key, "default");
});

Deno.test("the payload survives a round trip through parseJobSpec unchanged", async () => {
  const p = await plan(`
job:
  image: alpine:3
  services: [redis:7]
  script: [echo hi]
  after_script: [echo bye]
  artifacts: { paths: [out/], reports: { junit: j.xml } }
  cache: { key: k, paths: [c/] }
  variables: { A: "1" }
next: { stage: deploy, script: echo }
`);
  for (const job of p.jobs) {
    assert.deepEqual(parseJobSpec(JSON.parse(JSON.stringify(toWire(job.jobSpec)))), job.jobSpec);
  }
});

/** The JSON GitLab would send for `spec` (snake_case wire names, §3 of the API spec). */
function toWire(spec: JobSpec): unknown {
  const variable = (x: JobSpec["variables"][number]) => ({ ...x });
  const image = (i: JobSpec["image"]) => ({
    "name": i.name,
    "alias": i.alias,
    "command": i.command,
    "entrypoint": i.entrypoint,
    "ports": i.ports,
    "variables": i.variables.map(variable),
    "pull_policy": i.pullPolicy,
    "executor_opts": { "docker": { "platform": i.dockerPlatform, "user": i.dockerUser } },
  });
  return {
    "id": spec.id,
    "token": spec.token,
    "allow_git_fetch": spec.allowGitFetch,
    "job_info": {
      "name": spec.jobInfo.name,
      "stage": spec.jobInfo.stage,
      "pipeline_id": spec.jobInfo.pipelineId,
      "project_id": spec.jobInfo.projectId,
      "project_name": spec.jobInfo.projectName,
      "project_full_path": spec.jobInfo.projectFullPath,
      "namespace_id": spec.jobInfo.namespaceId,
      "user_id": spec.jobInfo.userId,
      "time_in_queue_seconds": spec.jobInfo.timeInQueueSeconds,
      "project_jobs_running_on_instance_runners_count":
        spec.jobInfo.projectJobsRunningOnInstanceRunnersCount,
      "queue_size": spec.jobInfo.queueSize,
      "queue_depth": spec.jobInfo.queueDepth,
    },
    "git_info": {
      "repo_url": spec.gitInfo.repoUrl,
      "repo_object_format": spec.gitInfo.repoObjectFormat,
      "ref": spec.gitInfo.ref,
      "sha": spec.gitInfo.sha,
      "before_sha": spec.gitInfo.beforeSha,
      "ref_type": spec.gitInfo.refType,
      "refspecs": spec.gitInfo.refspecs,
      "depth": spec.gitInfo.depth,
      "protected": spec.gitInfo.protected,
    },
    "runner_info": { "timeout": spec.timeout },
    "variables": spec.variables.map(variable),
    "steps": spec.steps.map((s) => ({
      ...s,
      "allow_failure": s.allowFailure,
      allowFailure: undefined,
    })),
    "image": image(spec.image),
    "services": spec.services.map(image),
    "artifacts": spec.artifacts.map((a) => ({
      "name": a.name,
      "untracked": a.untracked,
      "paths": a.paths,
      "exclude": a.exclude,
      "when": a.when,
      "artifact_type": a.artifactType,
      "artifact_format": a.artifactFormat,
      "expire_in": a.expireIn,
    })),
    "cache": spec.cache.map((c) => ({
      ...c,
      "fallback_keys": c.fallbackKeys,
      fallbackKeys: undefined,
    })),
    "credentials": spec.credentials,
    "dependencies": spec.dependencies.map((d) => ({
      "id": d.id,
      "token": d.token,
      "name": d.name,
      "artifacts_file": d.artifactsFile,
    })),
    "features": {
      "trace_sections": spec.features.traceSections,
      "token_mask_prefixes": spec.features.tokenMaskPrefixes,
      "failure_reasons": spec.features.failureReasons,
    },
    "hooks": spec.hooks,
  };
}

Deno.test("a pipeline reads the changed files only when workflow or job rules, only or except have changes", async () => {
  const readsChanges = async (yaml: string) =>
    isReadingChanges(
      await loadPipeline("/home/ada/widget", {
        files: new MemoryProjectFiles({ ".gitlab-ci.yml": yaml }),
      }),
    );
  assert.equal(
    await readsChanges("a:\n  script: [x]\n  rules:\n    - exists: [x]\n    - if: $A\n"),
    false,
  );
  assert.equal(
    await readsChanges("workflow:\n  rules:\n    - changes: [x]\na:\n  script: [x]\n"),
    true,
  );
  assert.equal(await readsChanges("a:\n  script: [x]\n  rules:\n    - changes: [x]\n"), true);
  assert.equal(await readsChanges("a:\n  script: [x]\n  only:\n    changes: [x]\n"), true);
  assert.equal(await readsChanges("a:\n  script: [x]\n  except:\n    changes: [x]\n"), true);
  // Planned without them, a changes rule is a bug that says so rather than a silent "nothing changed".
  const yaml = "a:\n  script: [x]\n  rules:\n    - changes: [x]\n";
  const error = await planError(yaml, { git: { ...GIT, changedFiles: null } });
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /without the changed files/);
});

Deno.test("start_in is GitLab's: required with when: delayed, at most a week, and named in the note", async () => {
  const refused: Array<[string, RegExp]> = [
    [
      "a:\n  script: echo\n  when: delayed\n",
      /^\.gitlab-ci\.yml:1: jobs\.a\.start_in: required with when: delayed$/,
    ],
    [
      "a:\n  script: echo\n  when: delayed\n  start_in: 2 weeks\n",
      /:4: jobs\.a\.start_in: "2 weeks" is more than 1 week$/,
    ],
    [
      "a:\n  script: echo\n  when: delayed\n  start_in: soon\n",
      /:4: jobs\.a\.start_in: "soon" is not a duration/,
    ],
    [
      "a:\n  script: echo\n  start_in: 5 minutes\n",
      /:3: jobs\.a\.start_in: only allowed with when: delayed$/,
    ],
    [
      "a:\n  script: echo\n  rules:\n    - when: delayed\n",
      /:4: jobs\.a\.rules\[0\]\.start_in: required with when: delayed$/,
    ],
    [
      "a:\n  script: echo\n  rules:\n    - start_in: 1 day\n",
      /:4: jobs\.a\.rules\[0\]\.start_in: only allowed with when: delayed$/,
    ],
  ];
  for (const [yaml, pattern] of refused) {
    const error = await planError(yaml);
    assert.ok(error instanceof CiConfigError, String(error));
    assert.match(error.message, pattern);
  }
  const p = await plan(`
job:
  script: echo
  when: delayed
  start_in: 30 minutes
ruled:
  script: echo
  rules:
    - when: delayed
      start_in: 1 week
`);
  assert.deepEqual(p.jobs.map((j) => [j.name, j.notes]), [
    ["job", ["when: delayed runs at once locally (start_in 30 minutes is not waited for)"]],
    ["ruled", ["when: delayed runs at once locally (start_in 1 week is not waited for)"]],
  ]);
});

Deno.test("a job whose parallel:matrix is empty is listed as not run, with the reason", async () => {
  const p = await plan("a:\n  script: echo\n  parallel:\n    matrix: []\nb:\n  script: echo\n");
  assert.deepEqual(p.jobs.map((j) => j.name), ["b"]);
  assert.deepEqual(p.skipped.map((j) => [j.name, j.reason]), [
    ["a", "parallel:matrix is empty, so it makes no job"],
  ]);
});

Deno.test("naming a hidden job says it is hidden; naming an unknown job lists at most 20 jobs", async () => {
  const yaml = ".template:\n  script: echo\nbig:\n  script: echo\n  parallel: 30\n";
  const hidden = await planError(yaml, { jobs: [".template"] });
  assert.ok(hidden instanceof JobSelectionError);
  assert.equal(
    hidden.message,
    'Job ".template" is hidden: a name starting with "." is a template, never run',
  );
  const unknown = await planError(yaml, { jobs: ["nope"] });
  assert.equal(
    unknown.message,
    `Job "nope" is not defined; jobs: ${
      Array.from({ length: 20 }, (_, i) => `big ${i + 1}/30`).join(", ")
    }, … (10 more)`,
  );
});

Deno.test("a child pipeline given trigger:inputs is listed as not run, not run with its defaults", async () => {
  const p = await plan(
    "a:\n  trigger:\n    include: child.yml\n    inputs: { who: parent }\n",
    {},
    {
      "child.yml":
        "spec:\n  inputs:\n    who: { default: nobody }\n---\nc:\n  script: echo $[[ inputs.who ]]\n",
    },
  );
  assert.deepEqual(p.jobs.map((j) => j.name), []);
  assert.deepEqual(p.skipped.map((j) => [j.name, j.reason]), [
    ["a", "a child pipeline with trigger:inputs needs GitLab; not run locally"],
  ]);
});

Deno.test("a child pipeline gets --variable values only with forward:pipeline_variables, as in GitLab", async () => {
  const child = { "child.yml": "c:\n  script: echo\n" };
  const variables = [
    parseVariableArgument("FROM_CLI=cli"),
    { key: "FROM_FILE", value: "file", isMasked: false, isFile: false, isRaw: false },
  ];
  const seen = async (forward: string) => {
    const p = await plan(
      `a:\n  variables: { FROM_YAML: yaml }\n  trigger:\n    include: child.yml\n${forward}`,
      { variables },
      child,
    );
    const spec = p.jobs.find((j) => j.name === "a/c")!.jobSpec;
    return ["FROM_CLI", "FROM_FILE", "FROM_YAML"].map((k) => v(spec, k) ?? null);
  };
  assert.deepEqual(await seen(""), [null, "file", "yaml"]);
  assert.deepEqual(await seen("    forward:\n      pipeline_variables: true\n"), [
    "cli",
    "file",
    "yaml",
  ]);
});

Deno.test("in a child pipeline the trigger job's variables beat the variables file, as pipeline variables do", async () => {
  const p = await plan(
    "a:\n  variables: { X: from-trigger }\n  trigger:\n    include: child.yml\n",
    { variables: [{ key: "X", value: "from-file", isMasked: false, isFile: false, isRaw: false }] },
    { "child.yml": "c:\n  script: echo\n" },
  );
  assert.equal(v(p.jobs.find((j) => j.name === "a/c")!.jobSpec, "X"), "from-trigger");
});

Deno.test("a job named like a child pipeline's job is refused, naming it, instead of two jobs of one name", async () => {
  const error = await plan(
    'a:\n  trigger:\n    include: child.yml\n"a/c":\n  script: echo\n',
    {},
    { "child.yml": "c:\n  script: echo\n" },
  ).then(() => null, (e) => e);
  assert.ok(error instanceof CiConfigError, String(error));
  assert.match(
    error.message,
    /^\.gitlab-ci\.yml:4: jobs\.a\/c: is also the name exec gives a child pipeline's job/,
  );
});
