import assert from "node:assert/strict";
import { CiConfigError, formatWarning } from "./ci_config_error.ts";
import { loadPipeline } from "./load_pipeline.ts";
import { MemoryProjectFiles } from "./memory_project_files.ts";

function load(files: Record<string, string>) {
  return loadPipeline("/src/app", { files: new MemoryProjectFiles(files) });
}

async function loadError(files: Record<string, string>): Promise<string> {
  const error = await load(files).then(() => null, (e) => e);
  assert.ok(error instanceof CiConfigError, `expected a CiConfigError, got ${error}`);
  return error.message;
}

Deno.test("YAML anchors, aliases and merge keys are resolved, own keys beating merged ones", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
.base: &base
  stage: build
  script: [echo base]
  variables: { A: "1" }
job:
  <<: *base
  script: [echo own]
`,
  });
  const job = p.jobs[0]!;
  assert.equal(job.stage, "build");
  assert.deepEqual(job.script, ["echo own"]);
  assert.deepEqual(job.variables.map((v) => [v.key, v.value]), [["A", "1"]]);
});

Deno.test("invalid YAML names the file and line", async () => {
  const message = await loadError({ ".gitlab-ci.yml": "job:\n  script: [echo\n  stage: x\n" });
  assert.match(message, /^\.gitlab-ci\.yml:\d+: invalid YAML/);
});

Deno.test("a script of the wrong type is an error naming file, line and key", async () => {
  const yaml = ["stages: [build, test]", "", "build:", "  script: make", ""]
    .concat(Array(8).fill("# padding"))
    .concat(["test:", "  script:", "    key: value", ""]).join("\n");
  assert.equal(
    await loadError({ ".gitlab-ci.yml": yaml }),
    ".gitlab-ci.yml:15: jobs.test.script: expected a string or an array of strings",
  );
});

Deno.test("unknown job keywords are warnings naming file, line and key", async () => {
  const p = await load({ ".gitlab-ci.yml": "job:\n  script: echo\n  scirpt: oops\n" });
  assert.deepEqual(p.warnings.map(formatWarning), [
    '.gitlab-ci.yml:3: jobs.job.scirpt: unknown keyword "scirpt", ignored',
  ]);
});

Deno.test("include: string, local and glob are merged, the including file winning", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
include:
  - ci/base.yml
  - local: /ci/more/*.yml
variables: { WHO: main }
job:
  script: [echo main]
`,
    "ci/base.yml":
      "variables: { WHO: base, ONLY_BASE: b }\njob:\n  stage: build\n  script: [echo base]\n",
    "ci/more/a.yml": "extra_a:\n  script: echo a\n",
    "ci/more/b.yml": "include: ci/nested.yml\nextra_b:\n  script: echo b\n",
    "ci/nested.yml": "nested:\n  script: echo nested\n",
  });
  // Files merge in include order; a nested include comes before the file that includes it.
  assert.deepEqual(p.jobs.map((j) => j.name), ["job", "extra_a", "nested", "extra_b"]);
  assert.deepEqual(p.jobs[0]!.script, ["echo main"]);
  assert.equal(p.jobs[0]!.stage, "build");
  assert.deepEqual(p.variables.map((v) => `${v.key}=${v.value}`), ["WHO=main", "ONLY_BASE=b"]);
  assert.deepEqual(p.files, [
    ".gitlab-ci.yml",
    "ci/base.yml",
    "ci/more/a.yml",
    "ci/more/b.yml",
    "ci/nested.yml",
  ]);
});

Deno.test("remote, project and template includes are skipped with a warning", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
include:
  - project: group/ci
    file: /t.yml
  - remote: https://example.com/ci.yml
  - template: Auto-DevOps.gitlab-ci.yml
job: { script: echo }
`,
  });
  const text = p.warnings.map(formatWarning).join("\n");
  assert.match(
    text,
    /\.gitlab-ci\.yml:3: include\[0\]\.project: project include "group\/ci" is not supported locally/,
  );
  assert.match(text, /include\[1\]\.remote: remote include/);
  assert.match(text, /include\[2\]\.template: template include/);
});

Deno.test("a missing local include is an error naming the include", async () => {
  assert.equal(
    await loadError({ ".gitlab-ci.yml": "include: ci/missing.yml\njob: { script: echo }\n" }),
    '.gitlab-ci.yml:1: include: local file "ci/missing.yml" does not exist',
  );
});

Deno.test("extends merges hashes deeply over several levels and replaces arrays", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
.a:
  variables: { A: a, SHARED: a }
  script: [echo a]
  tags: [a]
.b:
  extends: .a
  variables: { B: b, SHARED: b }
  tags: [b1, b2]
job:
  extends: [.b]
  variables: { SHARED: job }
`,
  });
  const job = p.jobs[0]!;
  assert.deepEqual(job.variables.map((v) => `${v.key}=${v.value}`), ["A=a", "SHARED=job", "B=b"]);
  assert.deepEqual(job.script, ["echo a"]);
  assert.deepEqual(job.tags, ["b1", "b2"]);
});

Deno.test("circular extends is an error naming the chain", async () => {
  const message = await loadError({
    ".gitlab-ci.yml":
      ".a:\n  extends: .b\n.b:\n  extends: .a\njob:\n  extends: .a\n  script: echo\n",
  });
  assert.match(message, /extends: circular dependency detected: .*\.a → \.b → \.a/);
});

Deno.test("extends of an unknown job is an error", async () => {
  assert.equal(
    await loadError({ ".gitlab-ci.yml": "job:\n  extends: .nope\n  script: echo\n" }),
    '.gitlab-ci.yml:2: jobs.job.extends: unknown job or hidden job ".nope"',
  );
});

Deno.test("extends chains of 11 levels load and of 12 are an error, whatever the order of the jobs", async () => {
  // `job` extends .l<n>, which extends .l<n-1> … .l1, which has no extends: n levels.
  const chain = (levels: number, isBaseFirst: boolean) => {
    const jobs = [".l1:\n  script: [echo]\n"];
    for (let i = 2; i <= levels; i++) jobs.push(`.l${i}:\n  extends: .l${i - 1}\n`);
    jobs.push(`job:\n  extends: .l${levels}\n`);
    return { ".gitlab-ci.yml": (isBaseFirst ? jobs : jobs.reverse()).join("") };
  };
  for (const isBaseFirst of [true, false]) {
    const p = await load(chain(11, isBaseFirst));
    assert.deepEqual(p.jobs.map((j) => j.script), [["echo"]]);
    assert.match(
      await loadError(chain(12, isBaseFirst)),
      /^\.gitlab-ci\.yml:\d+: jobs\.job\.extends: nested more than 11 levels deep$/,
    );
  }
});

Deno.test("a float is refused where GitLab wants text or an integer; integers keep every digit", async () => {
  const refused: Array<[string, RegExp]> = [
    [
      "variables:\n  PYTHON_VERSION: 3.10\njob:\n  script: [echo]\n",
      /^\.gitlab-ci\.yml:2: variables\.PYTHON_VERSION: expected a string or an integer, got a float \(quote it to keep it as written\)$/,
    ],
    [
      "job:\n  script: [echo]\n  variables:\n    V: 1.0\n",
      /^\.gitlab-ci\.yml:4: jobs\.job\.variables\.V: .*got a float/,
    ],
    [
      "job:\n  script: [echo]\n  parallel: 2.0\n",
      /:3: jobs\.job\.parallel: expected an integer, got a float$/,
    ],
    [
      "job:\n  script: [echo]\n  parallel:\n    matrix:\n      - V: [1, 1.5]\n",
      /:5: jobs\.job\.parallel\.matrix\[0\]\.V: expected a string, got a float$/,
    ],
  ];
  for (const [yaml, pattern] of refused) {
    assert.match(await loadError({ ".gitlab-ci.yml": yaml }), pattern);
  }
  const p = await load({
    ".gitlab-ci.yml":
      'variables:\n  ID: 12345678901234567890\n  HEX: 0x1F\n  QUOTED: "3.10"\njob:\n  script: [echo]\n',
  });
  assert.deepEqual(p.variables.map((v) => [v.key, v.value]), [
    ["ID", "12345678901234567890"],
    ["HEX", "31"],
    ["QUOTED", "3.10"],
  ]);
});

Deno.test("a parallel:matrix that generates more than 200 jobs is an error; 200 load", async () => {
  const matrix = (a: number, b: number) => {
    const values = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(", ")}]`;
    return {
      ".gitlab-ci.yml": `job:\n  script: [echo]\n  parallel:\n    matrix:\n` +
        `      - A: ${values(a)}\n        B: ${values(b)}\n      - C: ${values(b)}\n`,
    };
  };
  const p = await load(matrix(19, 10)); // 190 + 10
  assert.equal(p.jobs[0]!.parallel?.kind, "matrix");
  assert.equal(
    await loadError(matrix(15, 15)), // 225 + 15
    ".gitlab-ci.yml:4: jobs.job.parallel.matrix: generates 240 jobs, more than 200",
  );
});

Deno.test("coverage: must be a /regex/; one JavaScript cannot compile is a warning naming it", async () => {
  assert.equal(
    await loadError({ ".gitlab-ci.yml": "job:\n  script: [echo]\n  coverage: 'Total (\\d+)%'\n" }),
    '.gitlab-ci.yml:3: jobs.job.coverage: "Total (\\d+)%" is not a regular expression: write it as /pattern/',
  );
  const p = await load({ ".gitlab-ci.yml": "job:\n  script: [echo]\n  coverage: '/(unclosed/'\n" });
  assert.deepEqual(p.warnings.map(formatWarning), [
    ".gitlab-ci.yml:3: jobs.job.coverage: /(unclosed/ cannot be used locally, no coverage is shown: " +
    "Invalid regular expression: /(unclosed/: Unterminated group",
  ]);
  const ok = await load({
    ".gitlab-ci.yml": "job:\n  script: [echo]\n  coverage: '/Total (\\d+)%/i'\n",
  });
  assert.deepEqual([ok.jobs[0]!.coverage, ok.warnings], ["/Total (\\d+)%/i", []]);
});

Deno.test("a blank job name or one longer than 255 characters is an error, as in GitLab", async () => {
  assert.equal(
    await loadError({ ".gitlab-ci.yml": 'a:\n  script: [echo]\n"":\n  script: [echo]\n' }),
    ".gitlab-ci.yml:3: jobs: a job name can't be blank",
  );
  const long = "x".repeat(256);
  assert.equal(
    await loadError({ ".gitlab-ci.yml": `${long}:\n  script: [echo]\n` }),
    `.gitlab-ci.yml:1: jobs.${"x".repeat(40)}…: the job name is 256 characters long, more than 255`,
  );
  const p = await load({ ".gitlab-ci.yml": `${"x".repeat(255)}:\n  script: [echo]\n` });
  assert.equal(p.jobs[0]!.name.length, 255);
});

Deno.test("stages: must be an array, as in GitLab", async () => {
  assert.equal(
    await loadError({
      ".gitlab-ci.yml": "stages: build\njob:\n  stage: build\n  script: [echo]\n",
    }),
    ".gitlab-ci.yml:1: stages: expected an array of strings, got a string",
  );
  const p = await load({
    ".gitlab-ci.yml": "stages: [build]\njob:\n  stage: build\n  script: [echo]\n",
  });
  assert.deepEqual(p.stages, [".pre", "build", ".post"]);
});

Deno.test("workflow:rules take when: always or never only, as in GitLab", async () => {
  assert.equal(
    await loadError({
      ".gitlab-ci.yml": "workflow:\n  rules:\n    - when: manual\njob:\n  script: [echo]\n",
    }),
    '.gitlab-ci.yml:3: workflow.rules[0].when: unknown value "manual"; expected one of always, never',
  );
  const p = await load({
    ".gitlab-ci.yml": "workflow:\n  rules:\n    - when: always\njob:\n  script: [echo]\n",
  });
  assert.equal(p.workflow.rules?.[0]?.when, "always");
});

Deno.test("environment: an unknown key or action is an error, as in GitLab", async () => {
  const env = (lines: string) => ({
    ".gitlab-ci.yml": `job:\n  script: [echo]\n  environment:\n    name: review\n${lines}`,
  });
  assert.equal(
    await loadError(env("    action: deploy\n")),
    '.gitlab-ci.yml:5: jobs.job.environment.action: unknown value "deploy"; expected one of start, stop, prepare, verify, access',
  );
  assert.match(
    await loadError(env("    nmae: typo\n")),
    /^\.gitlab-ci\.yml:5: jobs\.job\.environment\.nmae: unknown key; expected one of name, url, action, on_stop, auto_stop_in, kubernetes, deployment_tier$/,
  );
  const p = await load(
    env("    action: prepare\n    on_stop: stop_review\n    auto_stop_in: 1 day\n"),
  );
  assert.equal(p.jobs[0]!.environment?.action, "prepare");
});

Deno.test("artifacts:expire_in must be a duration or never, as in GitLab", async () => {
  const artifacts = (expireIn: string) => ({
    ".gitlab-ci.yml":
      `job:\n  script: [echo]\n  artifacts:\n    paths: [out]\n    expire_in: ${expireIn}\n`,
  });
  assert.equal(
    await loadError(artifacts("soon")),
    '.gitlab-ci.yml:5: jobs.job.artifacts.expire_in: "soon" is not a duration (like "1 week" or "30 days") or never',
  );
  for (const ok of ["never", "1 week", "3 mins 4 sec", "2h30m"]) {
    assert.equal((await load(artifacts(ok))).jobs[0]!.artifacts?.expireIn, ok);
  }
});

Deno.test("unquoted values are read as GitLab's YAML 1.1 parser reads them", async () => {
  const p = await load({
    ".gitlab-ci.yml": `variables:
  OCTAL: 010
  NOT_OCTAL: 08
  YAML_12_OCTAL: 0o10
  UNDERSCORES: 1_000
  EXPONENT: 1e3
  SYMBOL: :name
  QUOTED: "yes"
job:
  script: [echo]
  allow_failure: yes
  interruptible: on
`,
  });
  assert.deepEqual(p.variables.map((v) => [v.key, v.value]), [
    ["OCTAL", "8"],
    ["NOT_OCTAL", "08"],
    ["YAML_12_OCTAL", "0o10"],
    ["UNDERSCORES", "1000"],
    ["EXPONENT", "1e3"],
    ["SYMBOL", "name"],
    ["QUOTED", "yes"],
  ]);
  assert.equal(p.jobs[0]!.allowFailure?.isAllowed, true);
  assert.equal(p.jobs[0]!.interruptible, true);
  // GitLab refuses a boolean variable value, and a date anywhere.
  assert.equal(
    await loadError({ ".gitlab-ci.yml": "variables:\n  DEBUG: yes\njob:\n  script: [echo]\n" }),
    ".gitlab-ci.yml:2: variables.DEBUG: expected a string or an integer, got a boolean",
  );
  assert.equal(
    await loadError({
      ".gitlab-ci.yml": "variables:\n  DAY: 2024-01-01\njob:\n  script: [echo]\n",
    }),
    ".gitlab-ci.yml:2: invalid YAML: 2024-01-01 is a date, which GitLab's YAML parser refuses: quote it",
  );
});

Deno.test("a file with an empty document is a pipeline with no jobs, like an empty file", async () => {
  for (const text of ["", "# comment\n", "---\n", "--- ~\n"]) {
    assert.equal(
      await loadError({ ".gitlab-ci.yml": text }),
      ".gitlab-ci.yml:1: the pipeline defines no jobs",
      JSON.stringify(text),
    );
  }
});

Deno.test("a trigger job with a script job's keys, or delayed, is an error, as in GitLab", async () => {
  const trigger = (extra: string) => ({
    ".gitlab-ci.yml": `a:\n  trigger:\n    include: child.yml\n${extra}`,
    "child.yml": "c:\n  script: [echo]\n",
  });
  assert.equal(
    await loadError(trigger("  script: [echo parent]\n")),
    ".gitlab-ci.yml:4: jobs.a.script: not allowed in a trigger job: it starts a pipeline and runs no script",
  );
  assert.match(
    await loadError(trigger("  artifacts:\n    paths: [x]\n")),
    /:4: jobs\.a\.artifacts: not allowed/,
  );
  assert.equal(
    await loadError(trigger("  when: delayed\n  start_in: 1 hour\n")),
    ".gitlab-ci.yml:4: jobs.a.when: a trigger job cannot be delayed",
  );
  const p = await load(trigger("  when: manual\n"));
  assert.equal(p.jobs[0]!.isTrigger, true);
});

Deno.test("a global variable's value must be one of its options, as in GitLab", async () => {
  const yaml = (value: string) => ({
    ".gitlab-ci.yml":
      `variables:\n  ENV:\n    value: ${value}\n    options: [staging, production]\n` +
      "job:\n  script: [echo]\n",
  });
  assert.equal(
    await loadError(yaml("qa")),
    '.gitlab-ci.yml:3: variables.ENV.value: "qa" is not one of its options (staging, production)',
  );
  assert.deepEqual((await load(yaml("staging"))).variables.map((v) => v.value), ["staging"]);
});

Deno.test("a job timeout of a month or more is an error, as in GitLab", async () => {
  const yaml = (timeout: string) => ({
    ".gitlab-ci.yml": `job:\n  script: [echo]\n  timeout: ${timeout}\n`,
  });
  assert.equal(
    await loadError(yaml("1000 years")),
    '.gitlab-ci.yml:3: jobs.job.timeout: "1000 years" is more than GitLab\'s limit of 1 month',
  );
  assert.equal((await load(yaml("30 days"))).jobs[0]!.timeout, 30 * 86400);
});

Deno.test("inherit:default names default: keywords only, as in GitLab", async () => {
  assert.match(
    await loadError({
      ".gitlab-ci.yml": "job:\n  script: [echo]\n  inherit:\n    default: [image, imagee]\n",
    }),
    /^\.gitlab-ci\.yml:4: jobs\.job\.inherit\.default: "imagee" is not a default: keyword \(after_script, /,
  );
});

Deno.test("a lone string where GitLab wants an array is an error naming the key", async () => {
  const cases: Array<[string, string]> = [
    ["  tags: docker\n", "jobs.job.tags"],
    ["  dependencies: build\n", "jobs.job.dependencies"],
    ["  only: main\n", "jobs.job.only"],
    ["  except:\n    refs: main\n", "jobs.job.except.refs"],
    ["  rules:\n    - changes: src/**/*\n", "jobs.job.rules[0].changes"],
    ["  rules:\n    - exists: Dockerfile\n", "jobs.job.rules[0].exists"],
  ];
  for (const [yaml, key] of cases) {
    assert.match(
      await loadError({ ".gitlab-ci.yml": `job:\n  script: [echo]\n${yaml}` }),
      new RegExp(
        `^\\.gitlab-ci\\.yml:\\d+: ${
          key.replace(/[.[\]]/g, "\\$&")
        }: expected an array of strings, got a string$`,
      ),
      yaml,
    );
  }
});

Deno.test("with needs, each dependency must be needed too, as in GitLab", async () => {
  const yaml = (deps: string) => ({
    ".gitlab-ci.yml": "stages: [a, b]\nx:\n  stage: a\n  script: [echo]\ny:\n  stage: a\n" +
      `  script: [echo]\nz:\n  stage: b\n  script: [echo]\n  needs: [x]\n  dependencies: ${deps}\n`,
  });
  assert.equal(
    await loadError(yaml("[x, y]")),
    '.gitlab-ci.yml:12: jobs.z.dependencies: "y" should be part of needs',
  );
  assert.deepEqual((await load(yaml("[x]"))).jobs[2]!.dependencies, ["x"]);
});

Deno.test("hooks: and id_tokens: are warned about, in a job or in default:", async () => {
  const p = await load({
    ".gitlab-ci.yml": `default:
  hooks:
    pre_get_sources_script: [echo default]
  id_tokens:
    TOKEN: { aud: https://example.com }
job:
  script: [echo]
  hooks:
    pre_get_sources_script: [echo job]
`,
  });
  assert.deepEqual(p.warnings.map((w) => `${w.location.line} ${w.key}`), [
    "2 default.hooks",
    "4 default.id_tokens",
    "8 jobs.job.hooks",
  ]);
  assert.match(p.warnings[0]!.message, /run around the git fetch, which exec does not do/);
});

Deno.test("rules:changes:compare_to and rules:exists:project are warned about, not silently ignored", async () => {
  const p = await load({
    ".gitlab-ci.yml": `job:
  script: [echo]
  rules:
    - changes:
        paths: [src/**]
        compare_to: refs/heads/main
    - exists:
        paths: [Dockerfile]
        project: group/other
`,
  });
  assert.deepEqual(p.warnings.map(formatWarning), [
    ".gitlab-ci.yml:6: jobs.job.rules[0].changes.compare_to: ignored: changes are the working tree's against HEAD (docs/exec.md)",
    ".gitlab-ci.yml:9: jobs.job.rules[1].exists.project: another project's files cannot be seen locally: this project's are checked",
  ]);
});

Deno.test("types: is an error, as GitLab removed it in 15.0", async () => {
  assert.equal(
    await loadError({
      ".gitlab-ci.yml": "types: [build]\njob:\n  stage: build\n  script: [echo]\n",
    }),
    ".gitlab-ci.yml:1: types: was removed in GitLab 15.0: use stages",
  );
});

Deno.test("aliases that expand to millions of values are an error, not a hang", async () => {
  // Ten levels of ten aliases: 10^10 values once expanded.
  let yaml = ".l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (let i = 1; i < 10; i++) {
    yaml += `.l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]\n`;
  }
  yaml += "job:\n  script: [echo]\n  variables:\n    X: *l9\n";
  assert.match(
    await loadError({ ".gitlab-ci.yml": yaml }),
    /^\.gitlab-ci\.yml:\d+: invalid YAML: more than 1000000 values once its aliases are expanded/,
  );
});

Deno.test("!reference that expands to millions of values is an error naming it, not a hang", async () => {
  // Eight levels of ten references to the level below: 10^8 script lines.
  let yaml = ".l0:\n  script: [x, x, x, x, x, x, x, x, x, x]\n";
  for (let i = 1; i < 8; i++) {
    yaml += `.l${i}:\n  script: [${
      Array(10).fill(`!reference [.l${i - 1}, script]`).join(", ")
    }]\n`;
  }
  yaml += "job:\n  script: !reference [.l7, script]\n";
  assert.match(
    await loadError({ ".gitlab-ci.yml": yaml }),
    /^\.gitlab-ci\.yml:\d+: !reference \[\.l\d, script\]: expands the file to more than 1000000 values/,
  );
});

Deno.test("only:kubernetes and only:changes:compare_to are warned about, not silently ignored", async () => {
  const p = await load({
    ".gitlab-ci.yml": `job:
  script: [echo]
  only:
    kubernetes: active
    changes:
      paths: [src/**]
      compare_to: refs/heads/main
`,
  });
  assert.deepEqual(p.warnings.map((w) => `${w.location.line} ${w.key}`), [
    "4 jobs.job.only.kubernetes",
    "7 jobs.job.only.changes.compare_to",
  ]);
});

Deno.test("!reference resolves nested references across included files", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
include: ci/setup.yml
job:
  before_script:
    - !reference [.setup, script]
    - echo own
  script: !reference [.setup, more]
  variables: !reference [.setup, variables]
`,
    "ci/setup.yml": `
.setup:
  script: [echo one, !reference [.base, script]]
  more: [echo more]
  variables: { X: "1" }
.base:
  script: [echo base]
`,
  });
  const job = p.jobs[0]!;
  assert.deepEqual(job.beforeScript, ["echo one", "echo base", "echo own"]);
  assert.deepEqual(job.script, ["echo more"]);
  assert.deepEqual(job.variables.map((v) => v.key), ["X"]);
});

Deno.test("!reference to a missing key or in a cycle is an error", async () => {
  assert.equal(
    await loadError({
      ".gitlab-ci.yml": ".a: { script: [x] }\njob:\n  script: !reference [.a, after]\n",
    }),
    '.gitlab-ci.yml:3: !reference [.a, after]: ".a.after" is not defined',
  );
  assert.match(
    await loadError({
      ".gitlab-ci.yml":
        ".a:\n  s: !reference [.b, s]\n.b:\n  s: !reference [.a, s]\njob:\n  script: !reference [.a, s]\n",
    }),
    /circular reference: \.b\.s → \.a\.s → \.b\.s/,
  );
});

Deno.test("default keywords apply unless the job sets them or inherit turns them off", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
variables: { G1: "1", G2: "2" }
default:
  image: ruby:3.3
  before_script: [echo default]
  timeout: 2 hours
one:
  script: echo
two:
  image: { name: alpine, entrypoint: [""], pull_policy: [if-not-present] }
  inherit:
    default: [timeout]
    variables: [G2]
  script: echo
`,
  });
  const [one, two] = p.jobs;
  assert.equal(one!.image?.name, "ruby:3.3");
  assert.deepEqual(one!.beforeScript, ["echo default"]);
  assert.equal(one!.timeout, 7200);
  assert.equal(one!.inheritVariables, true);
  assert.equal(two!.image?.name, "alpine");
  assert.deepEqual(two!.image?.entrypoint, [""]);
  assert.deepEqual(two!.beforeScript, []);
  assert.equal(two!.timeout, 7200);
  assert.deepEqual(two!.inheritVariables, ["G2"]);
});

Deno.test("job keywords are read with GitLab's shapes", async () => {
  const p = await load({
    ".gitlab-ci.yml": `
job:
  script: echo
  variables:
    PLAIN: 1
    RAW: { value: "$HOME", expand: false, description: d }
  allow_failure: { exit_codes: [3, 4] }
  retry: { max: 2, when: [script_failure], exit_codes: 137 }
  timeout: 90 minutes
  services: [postgres:16, { name: redis:7, alias: cache }]
  needs: [{ job: build, artifacts: false }, other]
  cache:
    - key: deps-$CI_COMMIT_REF_SLUG
      paths: [vendor/]
      policy: pull
      fallback_keys: [deps-main]
  artifacts:
    name: out
    paths: [out/]
    exclude: [out/*.tmp]
    expire_in: 1 week
    when: always
    reports:
      junit: [a.xml, b.xml]
      coverage_report: { coverage_format: cobertura, path: cov.xml }
build: { stage: build, script: echo }
other: { stage: build, script: echo }
`,
  });
  const job = p.jobs[0]!;
  assert.deepEqual(job.variables, [
    { key: "PLAIN", value: "1", isRaw: false, description: "" },
    { key: "RAW", value: "$HOME", isRaw: true, description: "d" },
  ]);
  assert.deepEqual(job.allowFailure, { isAllowed: true, exitCodes: [3, 4] });
  assert.deepEqual(job.retry, { max: 2, when: ["script_failure"], exitCodes: [137] });
  assert.equal(job.timeout, 5400);
  assert.deepEqual(job.services.map((s) => [s.name, s.alias]), [["postgres:16", ""], [
    "redis:7",
    "cache",
  ]]);
  assert.deepEqual(job.needs?.map((n) => [n.job, n.artifacts]), [["build", false], [
    "other",
    true,
  ]]);
  assert.deepEqual(job.cache[0]?.key, { kind: "text", value: "deps-$CI_COMMIT_REF_SLUG" });
  assert.equal(job.cache[0]?.policy, "pull");
  assert.deepEqual(job.artifacts?.reports, [
    { type: "junit", paths: ["a.xml", "b.xml"] },
    { type: "cobertura", paths: ["cov.xml"] },
  ]);
});

Deno.test("bad values are errors naming file, line and key", async () => {
  const cases: Array<[string, string]> = [
    [
      "job:\n  script: echo\n  timeout: soon\n",
      '.gitlab-ci.yml:3: jobs.job.timeout: "soon" is not a duration (like "1h 30m" or "45 minutes")',
    ],
    [
      "job:\n  script: echo\n  retry: 5\n",
      ".gitlab-ci.yml:3: jobs.job.retry: expected an integer from 0 to 2, got 5",
    ],
    [
      "job:\n  script: echo\n  stage: lint\n",
      '.gitlab-ci.yml:3: jobs.job.stage: stage "lint" is not defined in stages (.pre, build, test, deploy, .post)',
    ],
    [
      "job:\n  stage: test\n",
      ".gitlab-ci.yml:1: jobs.job: a job needs a script: or trigger: keyword",
    ],
    [
      "job:\n  script: echo\n  when: sometimes\n",
      '.gitlab-ci.yml:3: jobs.job.when: unknown value "sometimes"; expected one of on_success, on_failure, always, manual, delayed',
    ],
    [
      "job:\n  script: echo\n  variables: [A]\n",
      ".gitlab-ci.yml:3: jobs.job.variables: expected a hash, got an array",
    ],
    [
      "job:\n  script: echo\n  rules:\n    - iff: $X\n",
      ".gitlab-ci.yml:4: jobs.job.rules[0].iff: unknown key; expected one of if, changes, exists, when, start_in, allow_failure, variables, needs",
    ],
  ];
  for (const [yaml, expected] of cases) {
    assert.equal(await loadError({ ".gitlab-ci.yml": yaml }), expected);
  }
});

Deno.test("the fixture's included files are listed with the main file first", async () => {
  const p = await load({ ".gitlab-ci.yml": "job: { script: echo }\n" });
  assert.deepEqual(p.files, [".gitlab-ci.yml"]);
  assert.deepEqual(p.stages, [".pre", "build", "test", "deploy", ".post"]);
});
