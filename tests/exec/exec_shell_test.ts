/**
 * `runner exec` end to end on the shell executor: the CLI from source, real
 * git, real bash, real executor subprocesses.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stripAnsi } from "../../src/exec/exec_output.ts";
import { MAIN, SampleProject, summaryRow } from "./_exec_cli.ts";

const SECRET = "s3cr3t-Value-42";

const PIPELINE = `stages: [build, test, deploy]

variables:
  GREETING: hello

build:
  stage: build
  variables:
    TARGET: linux
  script:
    - echo "$GREETING $TARGET from $CI_JOB_NAME on $CI_COMMIT_REF_NAME"
    - cat notes.txt
    - echo "token is $API_TOKEN"
    - echo "file var says $FROM_FILE"

unit:
  stage: test
  needs: [build]
  script:
    - echo "unit runs in $CI_JOB_STAGE with $CLI_VAR"
    - test ! -e leftover.txt && echo "fresh workspace"
    - touch leftover.txt

lint:
  stage: test
  allow_failure: true
  script:
    - echo "lint is unhappy"
    - exit 3

publish:
  stage: deploy
  script:
    - echo "publishing"

release:
  stage: deploy
  when: manual
  script:
    - echo "releasing"
`;

async function sample(): Promise<SampleProject> {
  return await SampleProject.create(
    { ".gitlab-ci.yml": PIPELINE, "notes.txt": "committed line\n" },
    { "notes.txt": "committed line\nuncommitted line\n", "ci.env": "FROM_FILE=dotenv file\n" },
  );
}

Deno.test("exec runs a multi-stage pipeline on the working tree and prints logs and a summary", async () => {
  await using project = await sample();
  const before = await project.status();
  const run = await project.exec(
    "--variable",
    "CLI_VAR=from-cli",
    "--masked-variable",
    `API_TOKEN=${SECRET}`,
    "--variables-file",
    "ci.env",
  );
  const all = run.stdout + run.stderr;
  assert.equal(run.code, 0, all);
  // Variables from the YAML, the command line and the variables file; predefined values.
  assert.match(run.stdout, /^hello linux from build on main$/m);
  assert.match(run.stdout, /^unit runs in test with from-cli$/m);
  assert.match(run.stdout, /^file var says dotenv file$/m);
  // The uncommitted change is what the job sees.
  assert.match(run.stdout, /^committed line\nuncommitted line$/m);
  // Masked everywhere.
  assert.match(run.stdout, /^token is \[MASKED\]$/m);
  assert.ok(!all.includes(SECRET), "the masked value appears in the output");
  // Each job starts from a fresh copy.
  assert.match(run.stdout, /^fresh workspace$/m);
  // Logs are readable: no section markers, no colours when not on a terminal.
  assert.ok(!run.stdout.includes("section_start"), "section markers in the output");
  assert.ok(!run.stdout.includes("\x1b["), "ANSI escapes in piped output");
  // In turn: build, then unit (needs build), then lint, then publish.
  const order = ["build", "unit", "lint", "publish"].map((j) =>
    run.stdout.indexOf(`━━━ ${j} (stage `)
  );
  assert.ok(order.every((at) => at >= 0), run.stdout);
  assert.deepEqual([...order].sort((a, b) => a - b), order);
  assert.ok(!run.stdout.includes("releasing"), "the manual job ran");
  // The summary table.
  assert.deepEqual(summaryRow(run.stdout, "build")?.slice(0, 3), ["build", "build", "passed"]);
  assert.deepEqual(summaryRow(run.stdout, "lint")?.slice(0, 3), [
    "lint",
    "test",
    "failed (allowed): script failure, exit code 3",
  ]);
  assert.deepEqual(summaryRow(run.stdout, "publish")?.slice(0, 3), [
    "publish",
    "deploy",
    "passed",
  ]);
  assert.deepEqual(summaryRow(run.stdout, "release"), [
    "release",
    "deploy",
    "skipped: manual job; name it to run it",
    "-",
  ]);
  assert.match(summaryRow(run.stdout, "unit")?.[3] ?? "", /^\d+\.\ds$/);
  assert.match(run.stdout, /^Pipeline passed$/m);
  // The working tree is left as it was.
  assert.equal(await project.status(), before);
});

Deno.test("exec --list prints the jobs in run order and the manual job it would not run", async () => {
  await using project = await sample();
  const run = await project.exec("--list");
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.split("\n");
  assert.match(lines[0]!, /^#\s+JOB\s+STAGE\s+WHEN\s+NEEDS$/);
  assert.match(lines[1]!, /^1\s+build\s+build\s+on_success\s+-$/);
  assert.match(lines[2]!, /^2\s+unit\s+test\s+on_success\s+build$/);
  assert.match(lines[3]!, /^3\s+lint\s+test\s+on_success, may fail\s+\(earlier stages\)$/);
  assert.match(lines[4]!, /^4\s+publish\s+deploy/);
  assert.match(run.stdout, /^release\s+deploy\s+manual job; name it to run it$/m);
  assert.ok(!run.stdout.includes("━━━"), "--list ran jobs");
});

Deno.test("exec runs a manual job when it is named, alone", async () => {
  await using project = await sample();
  const run = await project.exec("release");
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^releasing$/m);
  assert.deepEqual(summaryRow(run.stdout, "release")?.slice(0, 3), ["release", "deploy", "passed"]);
  assert.deepEqual(summaryRow(run.stdout, "build")?.slice(0, 3), [
    "build",
    "build",
    "skipped: not selected",
  ]);
});

Deno.test("exec exits 1 when a job fails, retries, times out and skips later stages", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, test, deploy]
flaky:
  stage: build
  retry: 1
  script:
    - if [ ! -e "$MARKER" ]; then touch "$MARKER"; echo "first attempt fails"; exit 1; fi
    - echo "second attempt passes"
slow:
  stage: test
  timeout: 3 seconds
  allow_failure: true
  script:
    # Short: the shell executor cannot yet kill a stage's process group from
    # the executor process (Deno.kill needs unscoped --allow-run), so the
    # stage ends only when sleep does.
    - sleep 8
broken:
  stage: test
  script:
    - echo "about to fail"
    - exit 7
deploy:
  stage: deploy
  script: [echo deploying]
rescue:
  stage: deploy
  when: on_failure
  script: [echo "rescue after failure"]
`,
  });
  const run = await project.exec("--variable", `MARKER=${join(project.root, "marker")}`);
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, /^first attempt fails$/m);
  assert.match(run.stdout, /^━━━ flaky \(stage build, attempt 2 of 2\) ━━━$/m);
  assert.match(run.stdout, /^second attempt passes$/m);
  assert.deepEqual(summaryRow(run.stdout, "flaky")?.slice(0, 3), ["flaky", "build", "passed"]);
  assert.deepEqual(summaryRow(run.stdout, "slow")?.slice(0, 3), [
    "slow",
    "test",
    "failed (allowed): job execution timeout",
  ]);
  assert.deepEqual(summaryRow(run.stdout, "broken")?.slice(0, 3), [
    "broken",
    "test",
    "failed: script failure, exit code 7",
  ]);
  assert.deepEqual(summaryRow(run.stdout, "deploy")?.slice(0, 3), [
    "deploy",
    "deploy",
    'skipped: "broken" failed',
  ]);
  assert.ok(!/^deploying$/m.test(run.stdout), "deploy ran after a failure");
  assert.match(run.stdout, /^rescue after failure$/m);
  assert.match(run.stdout, /^Pipeline failed: "broken" failed$/m);
});

Deno.test("exec runs independent jobs in parallel with --concurrent, prefixing their lines", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `
ping:
  script:
    - touch "$SHARED/ping"
    - for i in $(seq 600); do [ -e "$SHARED/pong" ] && break; sleep 0.1; done
    - test -e "$SHARED/pong" && echo "ping saw pong"
pong:
  script:
    - for i in $(seq 600); do [ -e "$SHARED/ping" ] && break; sleep 0.1; done
    - test -e "$SHARED/ping" && touch "$SHARED/pong" && echo "pong saw ping"
`,
  });
  const run = await project.exec(
    "--concurrent",
    "2",
    "--color",
    "--variable",
    `SHARED=${project.root}`,
  );
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const plain = stripAnsi(run.stdout);
  // Each waited for the other: they ran at the same time.
  assert.match(plain, /^\[ping\] ping saw pong$/m);
  assert.match(plain, /^\[pong\] pong saw ping$/m);
  assert.ok(run.stdout.includes("\x1b["), "--color kept no colours");
  for (const line of plain.split("\n")) {
    if (line === "" || /^(JOB|ping|pong|Pipeline)\b/.test(line)) continue;
    assert.match(line, /^\[(ping|pong)\] /, `unprefixed job line: ${JSON.stringify(line)}`);
  }
});

Deno.test("a second exec of the same project waits for the first to end instead of sharing its build directory", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `
job:
  script:
    - echo "start $RUN $(date +%s%N)" >> "$SHARED/log"
    - sleep 2
    - echo "end $RUN $(date +%s%N)" >> "$SHARED/log"
`,
  });
  const first = project.spawn(["--variable", `SHARED=${project.root}`, "--variable", "RUN=a"]);
  // The second starts once the first's job does.
  const log = join(project.root, "log");
  for (let i = 0; i < 300; i++) {
    if ((await Deno.readTextFile(log).catch(() => "")).includes("start a")) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const second = project.spawn(["--variable", `SHARED=${project.root}`, "--variable", "RUN=b"]);
  const [a, b] = await Promise.all([first.output(), second.output()]);
  const text = (out: Deno.CommandOutput) => new TextDecoder().decode(out.stdout);
  assert.equal(a.code, 0, text(a));
  assert.equal(b.code, 0, text(b));
  assert.match(
    new TextDecoder().decode(b.stderr),
    /Waiting for the other runner exec of this project to end/,
  );
  const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) =>
    l.split(" ")[0] + " " + l.split(" ")[1]
  );
  assert.deepEqual(lines, ["start a", "end a", "start b", "end b"]);
});

Deno.test("exec stops running jobs on Ctrl-C, prints the summary and exits 130", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build, test]
wait:
  stage: build
  script:
    - echo "waiting now"
    - sleep 30
later:
  stage: test
  script: [echo "never"]
`,
  });
  const { code, stdout, stderr } = await signalOnceWaiting(project, "SIGINT");
  assert.equal(code, 130, stdout + stderr);
  assert.match(stderr, /Interrupted: stopping the running jobs/);
  assert.equal(summaryRow(stdout, "wait")?.[2], "canceled");
  assert.deepEqual(summaryRow(stdout, "later"), ["later", "test", "canceled", "-"]);
  assert.match(stdout, /^Pipeline canceled$/m);
});

Deno.test("exec stops running jobs on a hangup (terminal closed), leaves no temporary directory and exits 130", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": "wait:\n  script:\n    - echo waiting now\n    - sleep 30\n",
  });
  const { code, stdout, stderr, leftInTmp } = await signalOnceWaiting(project, "SIGHUP");
  assert.equal(code, 130, stdout + stderr);
  assert.match(stderr, /Interrupted: stopping the running jobs/);
  assert.equal(summaryRow(stdout, "wait")?.[2], "canceled");
  assert.deepEqual(leftInTmp, []);
});

/**
 * Runs exec in `project` (TMPDIR of its own), sends `signal` once a job
 * printed "waiting now", and reads everything to the end.
 */
async function signalOnceWaiting(project: SampleProject, signal: Deno.Signal) {
  const tmp = join(project.root, "tmp");
  await Deno.mkdir(tmp);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "exec"],
    cwd: project.dir,
    env: { ...project.env(), TMPDIR: tmp },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const decoder = new TextDecoder();
  let stdout = "";
  let isSent = false;
  for await (const chunk of child.stdout) {
    stdout += decoder.decode(chunk, { stream: true });
    if (!isSent && stdout.includes("\nwaiting now\n")) {
      child.kill(signal);
      isSent = true;
    }
  }
  const { code } = await child.status;
  const leftInTmp = [...Deno.readDirSync(tmp)].map((e) => e.name);
  return { code, stdout, stderr: await stderr, leftInTmp };
}

Deno.test("exec interrupted while it plans runs no job, leaves no temporary directory and exits 130", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": "a:\n  script: [echo job-ran]\n",
  });
  // Planning waits on the variables file, a named pipe written only after Ctrl-C.
  const fifo = join(project.root, "vars.env");
  const tmp = join(project.root, "tmp");
  await Deno.mkdir(tmp);
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "exec", "--variables-file", fifo],
    cwd: project.dir,
    env: { ...project.env(), TMPDIR: tmp },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  // Until the executor process it starts early (in the planning phase) has its temporary directory.
  while ([...Deno.readDirSync(tmp)].length === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 300));
  // Read and write: opening does not wait for a reader, which an exec killed by the signal is not.
  const pipe = await Deno.open(fifo, { read: true, write: true });
  await pipe.write(new TextEncoder().encode("A=1\n"));
  pipe.close();
  const out = await output;
  const decoder = new TextDecoder();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  assert.equal(out.code, 130, stdout + stderr);
  assert.match(stderr, /^Interrupted: no job was started$/m);
  assert.doesNotMatch(stdout, /job-ran/);
  assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), []);
});

Deno.test("exec rejects an invalid .gitlab-ci.yml naming file, line and key, with exit code 2", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `stages: [build]
build:
  stage: build
  script:
    - echo ok
  tags: [a]
  timeout: soon
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, /^ERROR: \.gitlab-ci\.yml:7: jobs\.build\.timeout: .+/m);
  assert.equal(run.stdout, "");
});

Deno.test("exec warns about unknown keywords and still runs the pipeline", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `job:
  script: [echo ran]
  colour: blue
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stderr, /^WARNING: \.gitlab-ci\.yml:3: .*colour/m);
  assert.match(run.stdout, /^ran$/m);
});

Deno.test("exec reports a cycle in needs and exits 2", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": `a:
  script: [echo a]
  needs: [b]
b:
  script: [echo b]
  needs: [a]
`,
  });
  const run = await project.exec();
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(
    run.stderr,
    /^ERROR: \.gitlab-ci\.yml:\d+: jobs\.a\.needs: needs form a cycle: a → b → a$/m,
  );
});

Deno.test("exec says which job is unknown and which flag is wrong", async () => {
  await using project = await sample();
  const unknown = await project.exec("nope");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^ERROR: Job "nope" is not defined; jobs: .*build/m);
  const badVar = await project.exec("--variable", "1BAD");
  assert.equal(badVar.code, 2);
  assert.match(badVar.stderr, /^ERROR: Invalid variable "1BAD"/m);
  const badExecutor = await project.exec("--executor", "kubernetes");
  assert.equal(badExecutor.code, 2);
  assert.match(
    badExecutor.stderr,
    /Executor "kubernetes" is not supported by exec: use shell, docker, ssh, custom or docker\+ssh/,
  );
});

/**
 * Artifacts and dotenv reports travel through the executor's artifact stages
 * to exec's local endpoint; those stages must be wired into the executor
 * process for this to pass.
 */
const ARTIFACT_STAGES_WIRED = /hooks\s*[:,]/.test(
  await Deno.readTextFile(join(MAIN, "..", "executor_process.ts")),
);

Deno.test({
  name: "exec passes artifacts and dotenv variables from build to test",
  ignore: !ARTIFACT_STAGES_WIRED,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out && echo "built from $(cat notes.txt)" > out/result.txt
    - echo "BUILD_VERSION=1.2.3" > build.env
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
test:
  stage: test
  script:
    - cat out/result.txt
    - echo "version $BUILD_VERSION"
`,
      "notes.txt": "v1",
    });
    const run = await project.exec();
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built from v1$/m);
    assert.match(run.stdout, /^version 1\.2\.3$/m);
  },
});
if (!ARTIFACT_STAGES_WIRED) {
  // deno-lint-ignore no-console -- the skip reason belongs in the test output
  console.log(
    "Skipping the exec artifacts test: src/cli/executor_process.ts passes no artifact stage hooks to runBuild yet (upload_artifacts/download_artifacts are not wired)",
  );
}

Deno.test("exec prints plain log lines by default and the official line stamps with FF_TIMESTAMPS=true (a variable or --env)", async () => {
  await using project = await SampleProject.create({
    ".gitlab-ci.yml": "only:\n  script:\n    - echo plain line\n    - echo to stderr >&2\n",
  });
  const plain = await project.exec();
  assert.equal(plain.code, 0, plain.stdout + plain.stderr);
  assert.match(plain.stdout, /^plain line$/m);
  assert.doesNotMatch(plain.stdout, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z /);

  const stamped = await project.exec("--variable", "FF_TIMESTAMPS=true");
  assert.equal(stamped.code, 0, stamped.stdout + stamped.stderr);
  const stamp = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z`;
  assert.match(stamped.stdout, new RegExp(`^${stamp} 01O plain line$`, "m"));
  assert.match(stamped.stdout, new RegExp(`^${stamp} 01E to stderr$`, "m"));
  assert.match(stamped.stdout, new RegExp(`^${stamp} 00O[ +]Job succeeded$`, "m"));
  // `--env` sets the runner's environment, which the flags are resolved from as well.
  const byEnv = await project.exec("--env", "FF_TIMESTAMPS=true");
  assert.equal(byEnv.code, 0, byEnv.stdout + byEnv.stderr);
  assert.match(byEnv.stdout, new RegExp(`^${stamp} 01O plain line$`, "m"));
  const byFlag = await project.exec("--feature-flags", "FF_TIMESTAMPS");
  assert.equal(byFlag.code, 0, byFlag.stdout + byFlag.stderr);
  assert.match(byFlag.stdout, new RegExp(`^${stamp} 01O plain line$`, "m"));
});
