/** `runner exec --executor docker` end to end: a real dockerd and a local test image. */
import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { SampleProject, summaryRow } from "./_exec_cli.ts";
import { childProcesses } from "../fixtures/child_processes.ts";

const skipReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE))
    ? null
    : `image ${BUSYBOX_TEST_IMAGE} is absent (build it: deno run -A tests/fixtures/docker_images.ts)`);
if (skipReason) {
  // deno-lint-ignore no-console -- the skip reason belongs in the test output
  console.log(`Skipping exec docker tests: ${skipReason}`);
}

Deno.test({
  name: "exec runs a job in a container on the copied working tree, masking secrets",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create(
      {
        ".gitlab-ci.yml": `hello:
  script:
    - echo "hello from $CI_JOB_NAME in $CI_PROJECT_DIR"
    - cat notes.txt
    - echo "token $API_TOKEN"
    - test -d .git && echo "git dir copied"
`,
        "notes.txt": "committed\n",
      },
      { "notes.txt": "committed\nuncommitted\n" },
    );
    const run = await project.exec(
      "--executor",
      "docker",
      "--docker-image",
      BUSYBOX_TEST_IMAGE,
      "--masked-variable",
      "API_TOKEN=docker-s3cret",
    );
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    assert.match(run.stdout, /^hello from hello in \/builds\/local\/0\/local\/demo-app$/m);
    assert.match(run.stdout, /^committed\nuncommitted$/m);
    assert.match(run.stdout, /^token \[MASKED\]$/m);
    assert.ok(!all.includes("docker-s3cret"), "the masked value appears in the output");
    assert.match(run.stdout, /^git dir copied$/m);
    assert.deepEqual(summaryRow(run.stdout, "hello")?.slice(0, 3), ["hello", "test", "passed"]);
  },
});

Deno.test({
  name: "exec asks for --docker-image when a job sets no image on the docker executor",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "hello:\n  script: [echo hi]\n",
    });
    const run = await project.exec("--executor", "docker");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^ERROR: Job "hello" sets no image: pass --docker-image/m);
  },
});

Deno.test({
  name: "exec: a non-root image:docker:user writes its project directory and /builds",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `as-user:
  image:
    name: ${BUSYBOX_TEST_IMAGE}
    docker:
      user: "1000:1000"
  script:
    - id -u
    - echo appended >> notes.txt && touch new-file && mkdir -p out/deep && echo wrote-project
    - touch /builds/beside && echo wrote-builds
`,
      "notes.txt": "committed\n",
    });
    const run = await project.exec("--executor", "docker");
    const all = run.stdout + run.stderr;
    assert.equal(run.code, 0, all);
    assert.match(run.stdout, /^1000$/m);
    assert.match(run.stdout, /^wrote-project$/m);
    assert.match(run.stdout, /^wrote-builds$/m);
  },
});

/** A build job, then a test job with `second` as its script. */
const TWO_JOBS = (second: string) =>
  `stages: [build, test]
first:
  stage: build
  script: [echo first-ran]
second:
  stage: test
  script: [${second}]
`;

interface TwoJobRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Exec's docker host id, read once the first job ran; "" if it never did. */
  hostId: string;
  /** Containers of that host id (the first job's alone) when the second job started; null: it never did. */
  atSecondStart: string[] | null;
  /** Executor processes alive when the second job started. */
  executors: number[];
}

/**
 * `runner exec` of `project` on docker, looking at docker and at exec's
 * executor processes when the second job's header is printed, then calling
 * `then` (with exec's pid). Whatever exec left in docker is removed after.
 */
async function execTwoJobs(
  project: SampleProject,
  then: (pid: number) => void = () => {},
  check: (run: TwoJobRun) => Promise<void>,
): Promise<void> {
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const child = project.spawn(["--executor", "docker", "--docker-image", BUSYBOX_TEST_IMAGE]);
  const stderr = new Response(child.stderr).text();
  const status = child.status;
  const run: TwoJobRun = {
    code: -1,
    stdout: "",
    stderr: "",
    hostId: "",
    atSecondStart: null,
    executors: [],
  };
  try {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      run.stdout += decoder.decode(chunk, { stream: true });
      if (run.hostId === "" && /^first-ran$/m.test(run.stdout)) {
        run.hostId = await hostIdUnder(`${project.root}/cache`);
      }
      if (run.atSecondStart === null && /━━━ second /.test(run.stdout)) {
        run.executors = executorChildren(child.pid);
        const listed = await docker.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`runner.owner.host=${run.hostId}`] }),
        });
        run.atSecondStart = listed.map((c) => c.Names[0] ?? c.Id);
        then(child.pid);
      }
    }
    run.code = (await status).code;
    run.stderr = await stderr;
    await check(run);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited.
    }
    await status;
    await stderr.catch(() => {});
    for (const id of run.hostId ? await ownedBy(run.hostId) : []) {
      for (const rm of [["rm", "-f"], ["network", "rm"], ["volume", "rm"]]) {
        await new Deno.Command("docker", { args: [...rm, id], stdout: "null", stderr: "null" })
          .output();
      }
    }
  }
}

Deno.test({
  name:
    "exec: the next docker job starts while the previous job's containers are removed; exec ends once both jobs' containers are gone and their executor processes exited",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": TWO_JOBS("echo second-ran"),
    });
    await execTwoJobs(project, undefined, async (run) => {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^second-ran$/m);
      assert.notEqual(run.hostId, "", "the first job's output was not seen");
      assert.ok(
        (run.atSecondStart?.length ?? 0) > 0,
        "the first job's containers were gone before the second job started",
      );
      assert.deepEqual(
        await ownedBy(run.hostId),
        [],
        "a container, network or volume outlived exec",
      );
      assert.deepEqual(run.executors.filter(isAlive), [], "an executor process outlived exec");
    });
  },
});

Deno.test({
  name:
    "exec: SIGTERM as the next docker job starts, the previous job's containers still being removed, cancels the pipeline and leaves nothing behind",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": TWO_JOBS("sleep 600"),
    });
    await execTwoJobs(project, (pid) => Deno.kill(pid, "SIGTERM"), async (run) => {
      assert.equal(run.code, 130, run.stdout + run.stderr);
      assert.match(run.stdout, /^Pipeline canceled/m);
      assert.notEqual(run.hostId, "", "the first job's output was not seen");
      assert.ok((run.atSecondStart?.length ?? 0) > 0, "the first job's containers were gone");
      assert.deepEqual(
        await ownedBy(run.hostId),
        [],
        "a container, network or volume outlived exec",
      );
      assert.deepEqual(run.executors.filter(isAlive), [], "an executor process outlived exec");
    });
  },
});

function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/s.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** Pids of the executor processes `parent` started (`executor-process` or its entry module). */
function executorChildren(parent: number): number[] {
  return childProcesses(parent).filter((c) => /executor[-_]/.test(c.cmdline)).map((c) => c.pid);
}

/** Containers and networks labelled with exec's host id (its own state dir: this test's alone). */
async function ownedBy(hostId: string): Promise<string[]> {
  const ids: string[] = [];
  for (const kind of [["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]]) {
    const out = await new Deno.Command("docker", {
      args: [...kind, "--filter", `label=runner.owner.host=${hostId}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    ids.push(...new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== ""));
  }
  return ids;
}

async function hostIdUnder(dir: string): Promise<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isFile && entry.name === "host_id") return (await Deno.readTextFile(path)).trim();
    if (entry.isDirectory) {
      const found = await hostIdUnder(path).catch(() => "");
      if (found) return found;
    }
  }
  return "";
}

Deno.test({
  name: "exec: an executor process killed mid docker job leaves no container or network behind",
  ignore: skipReason !== null,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": `hang:
  services:
    - name: ${BUSYBOX_TEST_IMAGE}
      alias: svc
      command: ["sleep", "600"]
  script:
    - echo started
    - sleep 600
`,
    });
    const child = project.spawn(["--executor", "docker", "--docker-image", BUSYBOX_TEST_IMAGE]);
    const output = child.output();
    let hostId = "";
    try {
      const deadline = Date.now() + 60_000;
      while (hostId === "" || (await ownedBy(hostId)).length < 3) {
        assert.ok(Date.now() < deadline, "the job's containers and network never ran");
        await new Promise((r) => setTimeout(r, 200));
        hostId = await hostIdUnder(`${project.root}/cache`).catch(() => "");
      }
      const executors = executorChildren(child.pid);
      assert.equal(executors.length, 1, `one executor process: ${executors}`);
      Deno.kill(executors[0]!, "SIGKILL");
      const run = await output;
      const stdout = new TextDecoder().decode(run.stdout);
      assert.deepEqual(await ownedBy(hostId), []);
      assert.match(stdout, /Removed what the executor process left in docker: containers /);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited.
      }
      await output.catch(() => {});
      for (const id of hostId ? await ownedBy(hostId) : []) {
        for (const rm of [["rm", "-f"], ["network", "rm"], ["volume", "rm"]]) {
          await new Deno.Command("docker", { args: [...rm, id], stdout: "null", stderr: "null" })
            .output();
        }
      }
    }
  },
});
