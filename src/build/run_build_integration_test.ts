/**
 * runBuild with the real ShellExecutor, real bash and real git against the
 * fake GitLab's smart-HTTP git server, which demands the job token.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { GitRepo } from "../../tests/fixtures/git_repo.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { CollectedOutput } from "../executors/executor_contract.ts";
import { ShellExecutor } from "../executors/shell/shell_executor.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import { type BuildResult, runBuild } from "./run_build.ts";
import { testEnv } from "../../tests/fixtures/test_env.ts";

const VERSION = {
  name: "gitlab-runner",
  version: "17.5.0",
  revision: "abc12345",
  os: "linux",
  arch: "amd64",
};
const SHORT_TOKEN = "t1short0";

interface World {
  gitlab: FakeGitLab;
  repo: GitRepo;
  runnerToken: string;
  cwd: string;
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const repo = await GitRepo.create(gitlab.projectRoot, "acme/widget");
  const cwd = await Deno.makeTempDir({ prefix: "run-build-" });
  try {
    await fn({ gitlab, repo, runnerToken: gitlab.createRunner().token, cwd });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/** Queues a job and picks it up over the runner API, as the poller would. */
async function pickJob(
  w: World,
  options: Parameters<FakeGitLab["enqueueJob"]>[0],
): Promise<JobSpec> {
  w.gitlab.enqueueJob(options);
  const response = await fetch(`${w.gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: w.runnerToken, info: { features: { refspecs: true } } }),
  });
  assert.equal(response.status, 201);
  return parseJobSpec(await response.json());
}

async function run(
  w: World,
  job: JobSpec,
  options: {
    runner?: Partial<RunnerConfig>;
    graceful?: AbortSignal;
    abort?: AbortSignal;
    output?: CollectedOutput;
    env?: Record<string, string>;
  } = {},
): Promise<{ result: BuildResult; log: string }> {
  const output = options.output ?? new CollectedOutput();
  const runner: RunnerConfig = {
    ...defaultRunnerConfig("shell"),
    name: "it-runner",
    url: w.gitlab.url,
    token: "",
    ...options.runner,
  };
  const executor = new ShellExecutor({
    shell: runner.shell,
    buildsDir: runner.buildsDir,
    cacheDir: runner.cacheDir,
    cwd: w.cwd,
    env: testEnv(options.env),
    output,
    killGraceMs: 1000,
  });
  const result = await runBuild({
    job,
    runner,
    shortToken: SHORT_TOKEN,
    concurrentId: 0,
    concurrentProjectId: 0,
    executor,
    output,
    cancel: {
      graceful: options.graceful ?? new AbortController().signal,
      abort: options.abort ?? new AbortController().signal,
    },
    version: VERSION,
    retryDelays: { prepareMs: 0, stageRetryMs: 0 },
  });
  return { result, log: output.text() };
}

function projectDir(w: World): string {
  return `${w.cwd}/builds/${SHORT_TOKEN}/0/acme/widget`;
}

async function git(dir: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args: ["-C", dir, ...args], stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("a job clones the repository with the job token, runs its script and leaves no token behind", async () => {
  await withWorld(async (w) => {
    const sha = await w.repo.commit({ files: { "README.md": "hello from git\n" } });
    const job = await pickJob(w, {
      script: ["cat README.md", 'echo "key=$(cat "$DEPLOY_KEY")"', 'echo "dir=$CI_PROJECT_DIR"'],
      afterScript: ['echo "status=$CI_JOB_STATUS"'],
      variables: [
        { key: "GIT_STRATEGY", value: "clone" },
        { key: "DEPLOY_KEY", value: 'it\'s "secret"\n$NOT_EXPANDED', file: true, raw: true },
      ],
    });
    const { result, log } = await run(w, job);
    assert.deepEqual(result, { state: "success" }, log);
    assert.match(log, /Created fresh repository\./);
    assert.match(
      log,
      new RegExp(`Checking out ${sha.slice(0, 8)} as detached HEAD \\(ref is main\\)`),
    );
    assert.ok(log.includes("\n\x1b[32;1m$ cat README.md\x1b[0;m\nhello from git\n"), log);
    assert.match(log, /key=it's "secret"\n\$NOT_EXPANDED/);
    assert.ok(log.includes(`dir=${projectDir(w)}\n`));
    assert.match(log, /status=success/);

    const dir = projectDir(w);
    assert.equal(await git(dir, "rev-parse", "HEAD"), sha);
    const config = await Deno.readTextFile(`${dir}/.git/config`);
    assert.ok(!config.includes(job.token), "job token left in .git/config");
    assert.equal(await git(dir, "remote", "get-url", "origin"), `${w.gitlab.url}/acme/widget.git`);
    // The credential config and file variables are gone once the job ended.
    const leftovers = [...Deno.readDirSync(`${dir}.tmp`)].map((e) => e.name).sort();
    assert.deepEqual(leftovers, ["git-template"]);
    const template = await Deno.readTextFile(`${dir}.tmp/git-template/config`);
    assert.ok(!template.includes(job.token));
  });
});

Deno.test("a fetch job reuses the existing clone and checks out the new commit", async () => {
  await withWorld(async (w) => {
    await w.repo.commit({ files: { "a.txt": "one\n" } });
    const first = await run(w, await pickJob(w, { script: ["touch untracked.txt"] }));
    assert.deepEqual(first.result, { state: "success" }, first.log);
    const secondSha = await w.repo.commit({ files: { "a.txt": "two\n" } });
    const second = await run(
      w,
      await pickJob(w, { script: ["cat a.txt", "test ! -e untracked.txt"] }),
    );
    assert.deepEqual(second.result, { state: "success" }, second.log);
    assert.doesNotMatch(second.log, /Created fresh repository/);
    assert.match(second.log, /Fetching changes with git depth set to 20\.\.\./);
    assert.match(second.log, /\ntwo\n/);
    assert.equal(await git(projectDir(w), "rev-parse", "HEAD"), secondSha);
  });
});

Deno.test("a shallow clone is deepened when a later job wants full history", async () => {
  await withWorld(async (w) => {
    await w.repo.commit({ files: { "a.txt": "1\n" } });
    await w.repo.commit({ files: { "a.txt": "2\n" } });
    const shallow = await run(
      w,
      await pickJob(w, { depth: 1, script: ["git rev-list --count HEAD"] }),
    );
    assert.deepEqual(shallow.result, { state: "success" }, shallow.log);
    assert.match(shallow.log, /\n1\n/);
    const full = await run(
      w,
      await pickJob(w, { depth: 0, script: ["git rev-list --count HEAD"] }),
    );
    assert.deepEqual(full.result, { state: "success" }, full.log);
    assert.match(full.log, /\n2\n/);
  });
});

Deno.test("without git, cleanup_file_variables removes the job's files without a login shell; every stage leads its own session", async () => {
  await withWorld(async (w) => {
    // A profile that records every login shell: which stages start one.
    const home = await Deno.makeTempDir({ dir: w.cwd, prefix: "home-" });
    await Deno.writeTextFile(`${home}/.bash_profile`, 'echo "$0" >> "$HOME/logins"\n');
    // Field 6 of /proc/<pid>/stat is the session id: the stage's shell leads its session.
    const session = 'set -- $(cat /proc/$$/stat); echo "session=$6 shell=$$"';
    const job = await pickJob(w, {
      script: ['echo "key=$(cat "$DEPLOY_KEY")"', session],
      afterScript: [session],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "DEPLOY_KEY", value: "secret-key", file: true },
      ],
    });
    const { result, log } = await run(w, job, { env: { HOME: home } });
    assert.deepEqual(result, { state: "success" }, log);
    assert.match(log, /key=secret-key/);
    assert.match(log, /Cleaning up project directory and file based variables/);
    const sessions = [...log.matchAll(/session=(\d+) shell=(\d+)/g)];
    assert.equal(sessions.length, 2, log);
    for (const [, sid, pid] of sessions) assert.equal(sid, pid, log);
    // prepare_script, step_script and after_script: no shell for the cleanup.
    const logins = (await Deno.readTextFile(`${home}/logins`)).trim().split("\n");
    assert.equal(logins.length, 3, logins.join(","));
    const leftovers = [...Deno.readDirSync(`${projectDir(w)}.tmp`)].map((e) => e.name);
    assert.deepEqual(leftovers, [], "file variables, GITLAB_ENV and the git config are removed");
  });
});

Deno.test("a bash stage reads its script from stdin at once: a 20 KB stage is not 20,000 read calls, and errors read as before", async () => {
  await withWorld(async (w) => {
    const job = await pickJob(w, {
      // The stage shell's own read(2) count (/proc/<pid>/io syscr) so far.
      script: ['echo "big=${#BIG}"', 'sed -n "s/^syscr: /reads=/p" /proc/$$/io', "if then"],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "BIG", value: "x".repeat(20_000) },
      ],
    });
    const { result, log } = await run(w, job);
    assert.equal(result.state, "failed", log);
    assert.match(log, /big=20000\n/);
    const reads = Number(/reads=(\d+)/.exec(log)?.[1]);
    assert.ok(reads > 0 && reads < 2000, `read calls of the stage shell: ${reads}`);
    // The user's syntax error is reported by bash as it was without the read-at-once line.
    assert.match(log, /bash: eval: line \d+: syntax error near unexpected token `then'/);
  });
});

Deno.test("a failing script fails the job with its exit code and after_script sees failed", async () => {
  await withWorld(async (w) => {
    await w.repo.commit({ files: { "a.txt": "1\n" } });
    const job = await pickJob(w, {
      script: ["echo before", "exit 3", "echo never"],
      afterScript: ['echo "status=$CI_JOB_STATUS"'],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
    });
    const { result, log } = await run(w, job);
    assert.deepEqual(result, {
      state: "failed",
      failureReason: "script_failure",
      exitCode: 3,
      message: "exit status 3",
    });
    assert.match(log, /Skipping Git repository setup/);
    assert.doesNotMatch(log, /\nnever\n/);
    assert.match(log, /status=failed/);
    assert.match(log, /ERROR: Job failed: exit status 3/);
  });
});

Deno.test("a script whose shell is killed by a signal fails as upstream reports it: signal: killed, exit code -1", async () => {
  await withWorld(async (w) => {
    const job = await pickJob(w, {
      script: ["echo before", "kill -9 $$", "echo never"],
      afterScript: ['echo "status=$CI_JOB_STATUS"'],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
    });
    const { result, log } = await run(w, job);
    assert.deepEqual(result, {
      state: "failed",
      failureReason: "script_failure",
      exitCode: -1,
      message: "signal: killed",
    });
    assert.match(log, /status=failed/);
    assert.match(log, /ERROR: Job failed: signal: killed/);
  });
});

Deno.test("a job that outlives its timeout is killed and fails with job_execution_timeout", async () => {
  await withWorld(async (w) => {
    const job = await pickJob(w, {
      script: ["sleep 600"],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
      timeoutSeconds: 2,
    });
    const { result } = await run(w, job);
    assert.deepEqual(result, {
      state: "failed",
      failureReason: "job_execution_timeout",
      message: "execution took longer than 2s seconds",
    });
  });
});

Deno.test("a graceful cancel stops the script and after_script runs with canceled", async () => {
  await withWorld(async (w) => {
    const job = await pickJob(w, {
      script: ["echo waiting", "sleep 600"],
      afterScript: ['echo "status=$CI_JOB_STATUS"'],
      variables: [{ key: "GIT_STRATEGY", value: "none" }],
    });
    const graceful = new AbortController();
    const output = new CollectedOutput();
    const running = run(w, job, { graceful: graceful.signal, output });
    await output.waitFor("\nwaiting\n");
    graceful.abort();
    const { result, log } = await running;
    assert.deepEqual(result, {
      state: "failed",
      failureReason: "job_canceled",
      message: "canceled",
    });
    assert.match(log, /status=canceled/);
  });
});

Deno.test("a job aborted mid-script (GitLab canceled it) leaves no file variable on the host", async () => {
  await withWorld(async (w) => {
    const job = await pickJob(w, {
      script: ['echo "key at $DEPLOY_KEY"', "sleep 600"],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "DEPLOY_KEY", value: "secret-key", file: true },
      ],
    });
    const abort = new AbortController();
    const output = new CollectedOutput();
    const running = run(w, job, { abort: abort.signal, output });
    await output.waitFor("key at ");
    assert.equal(await Deno.readTextFile(`${projectDir(w)}.tmp/DEPLOY_KEY`), "secret-key");
    abort.abort();
    const { result, log } = await running;
    assert.equal(result.state, "failed", log);
    assert.equal(result.failureReason, "job_canceled");
    const leftovers = [...Deno.readDirSync(`${projectDir(w)}.tmp`)].map((e) => e.name);
    assert.deepEqual(leftovers, [], "the secret's file and GITLAB_ENV are removed");
  });
});

Deno.test("post_get_sources_script runs in the fresh clone after get_sources, before the user's script", async () => {
  await withWorld(async (w) => {
    await w.repo.commit({ files: { "README.md": "cloned\n" } });
    const job = await pickJob(w, {
      script: ["cat marker"],
      variables: [{ key: "GIT_STRATEGY", value: "clone" }],
    });
    const { result, log } = await run(w, job, {
      runner: {
        postGetSourcesScript: 'echo "post-get-sources in $PWD: $(cat README.md)" > marker',
      },
    });
    assert.deepEqual(result, { state: "success" }, log);
    assert.ok(log.includes(`\npost-get-sources in ${projectDir(w)}: cloned\n`), log);
  });
});

Deno.test("FF_USE_LEGACY_BASH_EVAL gives the user's script the legacy wrapper's empty pipe as stdin, not /dev/null", async () => {
  await withWorld(async (w) => {
    await w.repo.commit({ files: { "README.md": "x\n" } });
    const stdin = async (flag: string) => {
      const job = await pickJob(w, {
        script: ['if [ -p /dev/stdin ]; then echo "stdin=pipe"; else echo "stdin=other"; fi'],
        variables: [{ key: "GIT_STRATEGY", value: "none" }, {
          key: "FF_USE_LEGACY_BASH_EVAL",
          value: flag,
        }],
      });
      const { result, log } = await run(w, job);
      assert.deepEqual(result, { state: "success" }, log);
      return log.match(/^stdin=(\w+)$/m)?.[1];
    };
    assert.equal(await stdin("false"), "other");
    assert.equal(await stdin("true"), "pipe");
  });
});

Deno.test("a submodule update shows git's output and the official notices in the job log", async () => {
  await withWorld(async (w) => {
    const lib = await GitRepo.create(w.gitlab.projectRoot, "acme/lib");
    const libSha = await lib.commit({ files: { "lib.txt": "from lib\n" } });
    await w.repo.commit({
      files: { "README.md": "hi\n", "lib": { submodule: { url: "../lib.git", sha: libSha } } },
    });
    const job = await pickJob(w, {
      script: ["cat lib/lib.txt"],
      variables: [
        { key: "GIT_SUBMODULE_STRATEGY", value: "recursive" },
        { key: "GIT_SUBMODULE_DEPTH", value: "1" },
      ],
    });
    const { result, log } = await run(w, job);
    assert.deepEqual(result, { state: "success" }, log);
    const text = log.replaceAll(new RegExp("\x1b\\[[0-9;]*m", "g"), "");
    assert.match(
      text,
      /Updating\/initializing submodules recursively with git depth set to 1\.\.\./,
    );
    assert.ok(text.includes(`Submodule path 'lib': checked out '${libSha}'`), text);
    assert.match(text, /\nUpdated submodules\n/);
    assert.doesNotMatch(text, /Retrying/);
    assert.match(text, /\nfrom lib\n/);
    assert.ok(!log.includes(job.token), "job token in the log");
  });
});

/** acme/widget with submodule `lib` (acme/lib); `bump` commits a new lib and points widget at it. */
async function withSubmodule(w: World): Promise<{ bump: (text: string) => Promise<void> }> {
  const lib = await GitRepo.create(w.gitlab.projectRoot, "acme/lib");
  const bump = async (text: string) => {
    const sha = await lib.commit({ files: { "lib.txt": text } });
    await w.repo.commit({ files: { "lib": { submodule: { url: "../lib.git", sha } } } });
  };
  await bump("one\n");
  return { bump };
}

Deno.test("a lock file left in a submodule's git dir by a killed job does not fail the next jobs", async () => {
  await withWorld(async (w) => {
    const { bump } = await withSubmodule(w);
    const variables = [{ key: "GIT_SUBMODULE_STRATEGY", value: "normal" }];
    const first = await run(
      w,
      await pickJob(w, { script: ["touch .git/modules/lib/index.lock"], variables }),
    );
    assert.deepEqual(first.result, { state: "success" }, first.log);
    await bump("two\n");
    const second = await run(w, await pickJob(w, { script: ["cat lib/lib.txt"], variables }));
    assert.deepEqual(second.result, { state: "success" }, second.log);
    assert.match(second.log, /\ntwo\n/);
  });
});

Deno.test("clean_git_config also removes the config and hooks a job left in a submodule's git dir", async () => {
  await withWorld(async (w) => {
    const { bump } = await withSubmodule(w);
    const variables = [{ key: "GIT_SUBMODULE_STRATEGY", value: "recursive" }];
    const marker = `${w.cwd}/planted-ran`;
    const runner = { cleanGitConfig: true };
    const first = await run(
      w,
      await pickJob(w, {
        script: [
          `git -C lib config core.fsmonitor 'echo planted >> ${marker}; false'`,
          `printf '#!/bin/sh\\necho hook >> ${marker}\\n' > .git/modules/lib/hooks/post-merge`,
          "chmod +x .git/modules/lib/hooks/post-merge",
        ],
        variables,
      }),
      { runner },
    );
    assert.deepEqual(first.result, { state: "success" }, first.log);
    await Deno.remove(marker).catch(() => {});
    await bump("two\n");
    const second = await run(w, await pickJob(w, { script: ["cat lib/lib.txt"], variables }), {
      runner,
    });
    assert.deepEqual(second.result, { state: "success" }, second.log);
    assert.match(second.log, /\ntwo\n/);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound, "a planted command ran");
    const config = await Deno.readTextFile(`${projectDir(w)}/.git/modules/lib/config`);
    assert.doesNotMatch(config, /fsmonitor/);
  });
});

Deno.test("GIT_CLEAN_FLAGS reach git clean in each submodule as arguments, not shell words: an exclude pattern keeps what it matches there", async () => {
  // The official runner passes `git submodule foreach git clean <flags>` as
  // separate arguments, which git runs without shell expansion; one command
  // string let the shell glob "*.log" to the names it found in the submodule.
  await withWorld(async (w) => {
    await withSubmodule(w);
    const variables = [
      { key: "GIT_SUBMODULE_STRATEGY", value: "normal" },
      { key: "GIT_STRATEGY", value: "fetch" },
      { key: "GIT_CLEAN_FLAGS", value: "-ffdx -e *.log" },
    ];
    const first = await run(
      w,
      await pickJob(w, {
        script: ["mkdir -p lib/logs", "touch lib/a.log lib/logs/b.log lib/junk.txt"],
        variables,
      }),
    );
    assert.deepEqual(first.result, { state: "success" }, first.log);
    const second = await run(
      w,
      await pickJob(w, { script: ["ls lib lib/logs | sort"], variables }),
    );
    assert.deepEqual(second.result, { state: "success" }, second.log);
    const listed = second.log.slice(second.log.indexOf("$ ls lib"));
    assert.match(listed, /\nb\.log\n/, "lib/logs/b.log matches *.log: kept");
    assert.doesNotMatch(listed, /junk\.txt/);
  });
});
