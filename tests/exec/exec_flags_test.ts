/**
 * The official `gitlab-runner exec` flags (its runner settings, with their
 * environment variables, `--timeout` and `--cicd-config-file`) given to
 * `runner exec`: each acts on the jobs, or is refused naming it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { SampleProject, summaryRow } from "./_exec_cli.ts";
import { radosgwSkipReason, startRadosgw } from "../fixtures/radosgw.ts";

const dockerSkip = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is absent`);

function assertRejected(run: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, "a stack trace was printed");
}

Deno.test("exec's official runner flags and their variables act on shell jobs: env, pre/post build scripts, builds and cache directories", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `job:
  cache:
    key: k
    paths: [cached.txt]
  script:
    - echo "GREETING=$GREETING FROM_VAR=$FROM_VAR"
    - echo "dir $CI_PROJECT_DIR"
    - echo kept > cached.txt
`,
  });
  const builds = join(project.root, "my-builds");
  const run = await project.execWithEnv(
    { RUNNER_POST_BUILD_SCRIPT: "echo after-script-from-variable" },
    "--env",
    "GREETING=hello",
    "--env",
    "FROM_VAR=flag",
    "--pre-build-script",
    "echo before-script-from-flag",
    // Relative to where exec was started, as the official exec took it.
    "--builds-dir",
    "../my-builds",
    "--cache-dir",
    join(project.root, "my-cache"),
  );
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^GREETING=hello FROM_VAR=flag$/m);
  assert.match(run.stdout, /^before-script-from-flag$/m);
  assert.match(run.stdout, /^after-script-from-variable$/m);
  // A variable exec acts on is named, not its value.
  assert.match(
    run.stderr,
    /^Using RUNNER_POST_BUILD_SCRIPT as --post-build-script \(a variable of the official gitlab-runner exec\)$/m,
  );
  assert.doesNotMatch(run.stderr, /Using .* as --(env|pre-build-script)/);
  const dir = /^dir (.+)$/m.exec(run.stdout)?.[1] ?? "";
  assert.ok(dir.startsWith(`${builds}/`), `the job ran in ${dir}, not under ${builds}`);
  assert.ok((await Deno.stat(join(dir, ".gitlab-ci.yml"))).isFile, "the project was copied there");
  const cached = [];
  for await (const entry of Deno.readDir(join(project.root, "my-cache"))) cached.push(entry.name);
  assert.ok(cached.length > 0, "the cache was stored in --cache-dir");
});

Deno.test("exec --timeout caps every job's timeout, as a runner's maximum timeout; --cicd-config-file names the CI file", async () => {
  await using project = await SampleProject.create({
    "ci/other.yml": `slow:
  timeout: 1h
  script:
    - echo "timeout $CI_JOB_TIMEOUT"
    - sleep 30
`,
  });
  const started = Date.now();
  const run = await project.exec("--cicd-config-file", "ci/other.yml", "--timeout", "2");
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.ok(Date.now() - started < 25_000, "the job was stopped at the cap");
  assert.deepEqual(summaryRow(run.stdout, "slow")?.slice(0, 3), [
    "slow",
    "test",
    "failed: job execution timeout",
  ]);
  assert.match(run.stdout, /^timeout 2$/m);
  assertRejected(await project.exec("--list", "--timeout", "0"), /^ERROR: --timeout must be 1/m);
});

Deno.test("exec refuses an official flag it does not take, saying so and what to use instead; from a variable, it warns and runs", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": "a:\n  script: [echo ran]\n",
  });
  const official = "is an official flag of gitlab-runner exec that runner exec does not take";
  const cases: Array<[string[], RegExp]> = [
    [
      ["--ssh-host", "example.com"],
      /^ERROR: --ssh-host is for the ssh executor: add --executor ssh \(the shell executor does not read it\)$/m,
    ],
    [
      ["--custom-run-exec", "/bin/true"],
      /^ERROR: --custom-run-exec is for the custom executor: add --executor custom \(the shell executor does not read it\)$/m,
    ],
    [
      ["--pre-get-sources-script", "echo"],
      new RegExp(
        `^ERROR: --pre-get-sources-script ${official}: it would never run: .*GIT_STRATEGY=none.*; use --pre-build-script$`,
        "m",
      ),
    ],
    [
      ["--post-clone-script", "echo"],
      new RegExp(`^ERROR: --post-clone-script ${official}: .*; use --post-build-script$`, "m"),
    ],
    [
      ["--clone-url", "https://example.com"],
      new RegExp(`^ERROR: --clone-url ${official}: .*nothing is cloned$`, "m"),
    ],
    [["--runner-monitoring", "x"], new RegExp(`^ERROR: --runner-monitoring ${official}`, "m")],
    [
      ["--docker-privileged"],
      /^ERROR: --docker-privileged is for the docker executors: add --executor docker or docker\+ssh/m,
    ],
    [
      ["--kubernetes-image", "alpine"],
      /^ERROR: Unknown flag: --kubernetes-image: an official flag of the kubernetes executor \(\[runners\.kubernetes\]\), which Runner does not have$/m,
    ],
    // The working tree is never written, and a builds directory in it would be copied into jobs.
    [
      ["--builds-dir", "out"],
      /^ERROR: The builds directory "out" \(--builds-dir\) is inside the project ".*": exec never writes the working tree/m,
    ],
    // exec binds the copy of the project at the builds directory.
    [
      ["--executor", "docker", "--docker-volumes", "/srv/data:/builds/"],
      /^ERROR: The volume "\/srv\/data:\/builds\/" \(--docker-volumes\) is mounted at the builds directory "\/builds", where exec binds the copy of the project/m,
    ],
    // A value every job would fail on is refused, naming the flag.
    [
      ["--shell", "fish"],
      /^ERROR: Flag --shell: key runners\[0\]\.shell = "fish" is not supported/m,
    ],
    [
      ["--executor", "docker", "--docker-pull-policy", "sometimes"],
      /^ERROR: Flag --docker-pull-policy: key .*"sometimes" is not valid/m,
    ],
  ];
  for (const [args, message] of cases) {
    assertRejected(await project.exec("--list", ...args), message);
  }

  // A directory from a variable is named by the variable.
  assertRejected(
    await project.execWithEnv({ RUNNER_BUILDS_DIR: "out" }, "--list"),
    /^ERROR: The builds directory "out" \(RUNNER_BUILDS_DIR\) is inside the project/m,
  );
  assertRejected(
    await project.exec("--cache-dir", "/proc/no-such-dir/cache"),
    /^ERROR: Cannot create the cache directory "\/proc\/no-such-dir\/cache" \(--cache-dir\): /m,
  );

  const run = await project.execWithEnv({
    SSH_HOST: "example.com",
    RUNNER_PRE_CLONE_SCRIPT: "echo",
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(
    run.stderr,
    /^WARNING: SSH_HOST \(--ssh-host, an official flag of gitlab-runner exec\) is not used: it is for the ssh executor/m,
  );
  assert.match(
    run.stderr,
    /^WARNING: RUNNER_PRE_CLONE_SCRIPT \(--pre-clone-script, .*use --pre-build-script$/m,
  );
  assert.match(run.stdout, /^ran$/m);
  // An accepted key Runner does not act on is named in a warning with its flag.
  const unsupported = await project.exec("--list", "--step-runner-image", "x");
  assert.equal(unsupported.code, 0, unsupported.stderr);
  assert.match(
    unsupported.stderr,
    /^WARNING: Flag --step-runner-image: key runners\.step_runner_image is accepted but not supported$/m,
  );
});

Deno.test("a job's GIT_CLONE_PATH (--custom_build_dir-enabled) gets the copy of the project, as a clone would land there", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `job:
  variables:
    GIT_CLONE_PATH: $CI_BUILDS_DIR/custom/$CI_PROJECT_NAME
  script:
    - pwd
    - cat notes.txt
`,
    "notes.txt": "the project's notes\n",
  });
  const run = await project.exec("--custom_build_dir-enabled");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\/builds\/custom\/demo-app$/m);
  assert.match(run.stdout, /^the project's notes$/m);
  // Without the flag the shell executor refuses GIT_CLONE_PATH, as the official runner.
  const refused = await project.exec();
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(
    refused.stdout,
    /setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature/,
  );
});

Deno.test("a job's GIT_CLONE_PATH that is the builds directory itself is refused, not run without the project's files", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `job:
  variables:
    GIT_CLONE_PATH: $CI_BUILDS_DIR
  script:
    - cat notes.txt
`,
    "notes.txt": "the project's notes\n",
  });
  const run = await project.exec("--custom_build_dir-enabled");
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(
    run.stdout,
    /the GIT_CLONE_PATH=".*" is the builds directory ".*": runner exec copies the project/,
  );
  assert.match(run.stdout, /failed: runner configuration error/);
  assert.doesNotMatch(run.stdout, /notes\.txt: No such file/);
});

Deno.test({
  name:
    "exec's docker flags and their variables act on docker jobs: image, volumes, pull policy, env, builds directory",
  ignore: dockerSkip !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `job:
  script:
    - echo "dir $CI_PROJECT_DIR"
    - cat /data/mounted.txt
    - echo "GREETING=$GREETING"
cloned-elsewhere:
  variables:
    GIT_CLONE_PATH: $CI_BUILDS_DIR/elsewhere/app
  script:
    - echo "at $PWD"
    - cat notes.txt
`,
      "notes.txt": "notes of the project\n",
    });
    const data = join(project.root, "data");
    await Deno.mkdir(data);
    await Deno.writeTextFile(join(data, "mounted.txt"), "from the host volume\n");
    const run = await project.execWithEnv(
      { DOCKER_IMAGE: BUSYBOX_TEST_IMAGE },
      "--executor",
      "docker",
      "--docker-volumes",
      `${data}:/data:ro`,
      "--docker-pull-policy",
      "never",
      "--env",
      "GREETING=hello",
      "--builds-dir",
      "/ci-builds",
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`Using Docker executor with image ${BUSYBOX_TEST_IMAGE}`));
    assert.match(run.stderr, /^Using DOCKER_IMAGE as --docker-image /m);
    assert.match(run.stdout, /Using locally found image version due to "never" pull policy/);
    assert.match(run.stdout, /^dir \/ci-builds\//m);
    assert.match(run.stdout, /^from the host volume$/m);
    assert.match(run.stdout, /^GREETING=hello$/m);
    // custom_build_dir is on for docker: the copy is where the job's GIT_CLONE_PATH says.
    assert.match(run.stdout, /^at \/ci-builds\/elsewhere\/app$/m);
    assert.match(run.stdout, /^notes of the project$/m);
  },
});

const radosgwSkip = await radosgwSkipReason();

Deno.test({
  name:
    "exec's --cache-type s3 flags keep the jobs' cache in S3: a later job restores what an earlier one saved",
  ignore: radosgwSkip !== null,
  async fn() {
    await using gw = await startRadosgw();
    await gw.createBucket("exec-cache");
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `stages: [one, two]
.cache: &cache
  cache:
    key: shared-key
    paths: [vendor/]
save:
  stage: one
  <<: *cache
  script:
    - mkdir -p vendor && echo "saved by the first job" > vendor/lib.txt
restore:
  stage: two
  <<: *cache
  script:
    - cat vendor/lib.txt
`,
    });
    const s3 = [
      "--cache-type",
      "s3",
      "--cache-s3-server-address",
      gw.address,
      "--cache-s3-access-key",
      gw.accessKey,
      "--cache-s3-secret-key",
      gw.secretKey,
      "--cache-s3-bucket-name",
      "exec-cache",
      "--cache-s3-insecure",
    ];
    const saved = await project.exec("save", ...s3, "--cache-dir", join(project.root, "c1"));
    assert.equal(saved.code, 0, saved.stdout + saved.stderr);
    assert.match(saved.stdout, /^Uploading cache\.zip to http:\/\/127\.0\.0\.1:\d+\/exec-cache\//m);
    // Another local cache directory: the archive can only come from S3.
    const run = await project.exec("restore", ...s3, "--cache-dir", join(project.root, "c2"));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^Successfully extracted cache$/m);
    assert.match(run.stdout, /^saved by the first job$/m);
    assert.doesNotMatch(run.stdout, /WARNING/);
    // The official runner's object name, with exec's short token and project id.
    assert.deepEqual(await gw.listObjects("exec-cache"), ["runner/local/project/0/shared-key"]);
  },
});
