/**
 * `runner exec --executor ssh` and `--executor custom` end to end: a real
 * OpenSSH server (tests/fixtures/sshd.ts) and the worked example driver of
 * docs/examples/custom-driver/, the CLI run from source as a real process.
 * The working tree reaches those jobs as an archive their get_sources stage
 * extracts, since exec cannot copy into where they run.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import {
  ensureSshdImage,
  SSHD_TEST_IMAGE_PASSWORD,
  type SshdFixture,
  sshdSkipReason,
  startSshd,
} from "../fixtures/sshd.ts";
import { dockerSkipReason } from "../fixtures/docker_images.ts";
import { SampleProject, summaryRow } from "./_exec_cli.ts";

const sshSkip = await sshdSkipReason();
if (sshSkip) {
  // deno-lint-ignore no-console -- the skip reason belongs in the test output
  console.log(`Skipping exec ssh tests: ${sshSkip}`);
}

const DRIVER = fileURLToPath(new URL("../../docs/examples/custom-driver/", import.meta.url));

const ONE_JOB = {
  committed: {
    ".gitlab-ci.yml": `hello:
  script:
    - echo "in $CI_PROJECT_DIR"
    - cat notes.txt
    - ls
    - test -d .git && git log --format=%s
`,
    "notes.txt": "committed\n",
  },
  uncommitted: { "notes.txt": "committed\nuncommitted\n", "draft.txt": "new\n" },
};

const TWO_JOBS = `stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out && cat notes.txt > out/report.txt && echo built >> out/report.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - cat out/report.txt
`;

/**
 * The official exec's ssh flags for the fixture's server, key authentication;
 * the key files relative to the project, as a user would type them.
 */
function sshFlags(sshd: SshdFixture, project: SampleProject): string[] {
  return [
    "--executor",
    "ssh",
    "--ssh-host",
    sshd.host,
    "--ssh-port",
    String(sshd.port),
    "--ssh-user",
    sshd.user,
    "--ssh-identity-file",
    relative(project.dir, sshd.identityFile),
    "--ssh-known-hosts-file",
    relative(project.dir, sshd.knownHostsFile),
    "--builds-dir",
    join(sshd.workDir, "builds"),
    "--cache-dir",
    join(sshd.workDir, "cache"),
  ];
}

Deno.test({
  name:
    "exec runs a job on an ssh host on the working tree as it is (uncommitted changes in, an earlier run's files out)",
  ignore: sshSkip !== null,
  async fn() {
    await using sshd = await startSshd();
    await using project = await SampleProject.create(ONE_JOB.committed, ONE_JOB.uncommitted);
    const run = await project.exec(...sshFlags(sshd, project));
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    const projectDir = join(sshd.workDir, "builds", "local", "0", "local", "demo-app");
    assert.match(run.stdout, new RegExp(`^in ${projectDir}$`, "m"));
    assert.match(run.stdout, /^committed\nuncommitted$/m);
    assert.match(run.stdout, /^draft\.txt$/m);
    assert.match(run.stdout, /^Initial commit$/m);
    assert.match(run.stdout, /Extracting the working tree from runner exec/);
    assert.deepEqual(summaryRow(run.stdout, "hello")?.slice(0, 3), ["hello", "test", "passed"]);
    // On the ssh host, as the job user; the user's working tree is not written.
    const stat = await Deno.stat(join(projectDir, "notes.txt"));
    assert.equal(stat.uid, Number((await Deno.stat(sshd.workDir)).uid));

    // A file gone from the working tree is gone from the next job's directory.
    await Deno.remove(join(project.dir, "draft.txt"));
    const again = await project.exec(...sshFlags(sshd, project));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.doesNotMatch(again.stdout, /^draft\.txt$/m);
  },
});

Deno.test({
  name: "exec passes artifacts between jobs on an ssh host",
  ignore: sshSkip !== null,
  async fn() {
    await using sshd = await startSshd();
    await using project = await SampleProject.create(
      { ".gitlab-ci.yml": TWO_JOBS, "notes.txt": "committed\n" },
      { "notes.txt": "edited\n" },
    );
    const run = await project.exec(...sshFlags(sshd, project));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^edited\nbuilt$/m);
    assert.deepEqual(summaryRow(run.stdout, "build")?.slice(0, 3), ["build", "build", "passed"]);
    assert.deepEqual(summaryRow(run.stdout, "test")?.slice(0, 3), ["test", "test", "passed"]);
  },
});

Deno.test({
  name: "exec masks an --ssh-password in the output and never prints it",
  ignore: sshSkip !== null,
  async fn() {
    await using sshd = await startSshd();
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `hello:\n  script:\n    - echo "password is ${sshd.password}"\n`,
    });
    const flags = sshFlags(sshd, project);
    flags.splice(flags.indexOf("--ssh-identity-file"), 2, "--ssh-password", sshd.password);
    const run = await project.exec(...flags);
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    assert.match(run.stdout, /^password is \[MASKED\]$/m);
    assert.ok(!all.includes(sshd.password), "the password appears in the output");
  },
});

Deno.test({
  name: "exec takes the ssh flags from their variables (SSH_HOST, SSH_PASSWORD…), naming them",
  ignore: sshSkip !== null,
  async fn() {
    await using sshd = await startSshd();
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "hello:\n  script: [echo over ssh]\n",
    });
    const run = await project.execWithEnv(
      {
        SSH_HOST: sshd.host,
        SSH_PORT: String(sshd.port),
        SSH_USER: sshd.user,
        SSH_PASSWORD: sshd.password,
        KNOWN_HOSTS_FILE: sshd.knownHostsFile,
      },
      "--executor",
      "ssh",
      "--builds-dir",
      join(sshd.workDir, "builds"),
    );
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    assert.match(run.stdout, /^over ssh$/m);
    assert.match(run.stderr, /^Using SSH_PASSWORD as --ssh-password/m);
    assert.ok(!all.includes(sshd.password), "the password appears in the output");
  },
});

/** The example driver's flags, relative to the project as a user would type them. */
function customFlags(root: string): string[] {
  const rel = (file: string) => join("..", "driver", file);
  return [
    "--executor",
    "custom",
    "--custom-config-exec",
    rel("config.sh"),
    "--custom-prepare-exec",
    rel("prepare.sh"),
    "--custom-run-exec",
    rel("run.sh"),
    "--custom-cleanup-exec",
    rel("cleanup.sh"),
    "--env",
    `CUSTOM_DRIVER_ROOT=${root}`,
  ];
}

/** The example driver copied beside the project (`../driver/`), and a driver root for its jobs. */
async function withDriver(project: SampleProject): Promise<string> {
  const dir = join(project.root, "driver");
  await Deno.mkdir(dir);
  for await (const entry of Deno.readDir(DRIVER)) {
    await Deno.copyFile(join(DRIVER, entry.name), join(dir, entry.name));
    await Deno.chmod(join(dir, entry.name), 0o755);
  }
  const root = join(project.root, "driver-root");
  await Deno.mkdir(root);
  return root;
}

Deno.test("exec runs a job through a custom executor's driver on the working tree as it is", async () => {
  await using project = await SampleProject.create(ONE_JOB.committed, ONE_JOB.uncommitted);
  const root = await withDriver(project);
  const run = await project.exec(...customFlags(root));
  const all = run.stdout + run.stderr;
  assert.equal(run.code, 0, all);
  assert.match(run.stdout, /^in .*\/driver-root\/job-\d+\/builds\/.*demo-app$/m);
  assert.match(run.stdout, /^committed\nuncommitted$/m);
  assert.match(run.stdout, /^draft\.txt$/m);
  assert.match(run.stdout, /^Initial commit$/m);
  assert.deepEqual(summaryRow(run.stdout, "hello")?.slice(0, 3), ["hello", "test", "passed"]);
  assert.equal(
    await project.status(),
    " M notes.txt\n?? draft.txt\n",
    "the working tree was written",
  );
});

Deno.test("exec passes artifacts between jobs through a custom executor's driver", async () => {
  await using project = await SampleProject.create(
    { ".gitlab-ci.yml": TWO_JOBS, "notes.txt": "committed\n" },
    { "notes.txt": "edited\n" },
  );
  const root = await withDriver(project);
  const run = await project.exec(...customFlags(root));
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^edited\nbuilt$/m);
  assert.deepEqual(summaryRow(run.stdout, "test")?.slice(0, 3), ["test", "test", "passed"]);
});

const dockerSkip = await dockerSkipReason();

Deno.test({
  name:
    "exec runs jobs on the docker+ssh executor on the working tree as it is, passing an artifact",
  ignore: dockerSkip !== null,
  async fn() {
    const { tag } = await ensureSshdImage();
    await using project = await SampleProject.create(
      {
        ".gitlab-ci.yml": TWO_JOBS.replace(
          "    - cat out/report.txt",
          '    - cat out/report.txt\n    - ls\n    - echo "in $CI_PROJECT_DIR"',
        ),
        "notes.txt": "committed\n",
      },
      { "notes.txt": "edited\n", "draft.txt": "new\n" },
    );
    const run = await project.exec(
      "--executor",
      "docker+ssh",
      "--docker-image",
      tag,
      "--ssh-user",
      "root",
      "--ssh-password",
      SSHD_TEST_IMAGE_PASSWORD,
      "--ssh-disable-strict-host-key-checking",
    );
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    assert.match(run.stdout, /^edited\nbuilt$/m);
    assert.match(run.stdout, /^draft\.txt$/m);
    assert.match(run.stdout, /^in \/builds\/local\/demo-app$/m);
    assert.deepEqual(summaryRow(run.stdout, "test")?.slice(0, 3), ["test", "test", "passed"]);
    assert.ok(!all.includes(SSHD_TEST_IMAGE_PASSWORD), "the password appears in the output");
  },
});
