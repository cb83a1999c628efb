/**
 * How `runner exec` starts: the executor process for the first job is
 * launched before the pipeline is read, so its start-up overlaps exec's own;
 * `--list` launches none; a pipeline that fails to plan leaves none behind.
 * Every process exec starts is seen through `strace -f` (execve and exits).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN, SampleProject } from "./_exec_cli.ts";
import { isSettingVariable } from "../../src/cli/commands/exec.ts";
import { staticGraph } from "../fixtures/static_graph.ts";
import { runnerTaskFlags } from "../fixtures/runner_process.ts";
import { RUNNER_NO_CODE_CACHE_FLAG, RUNNER_V8_FLAGS } from "../../src/poller/v8_flags.ts";

const hasStrace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
const NO_STRACE = "strace is not installed (apt-get install strace; .ci/run does)";
if (!hasStrace) {
  // deno-lint-ignore no-console -- the skip reason belongs in the test output
  console.log(`SKIP exec start tests: ${NO_STRACE}`);
}

interface Traced {
  code: number;
  stdout: string;
  stderr: string;
  /** strace's lines, in the order things happened. */
  lines: string[];
}

/**
 * `runner exec <args>` in `project` under `strace -f`, recording execve (or
 * `trace`) and process exits; deno runs with `flags` (default `--allow-all`).
 */
async function tracedExec(
  project: SampleProject,
  args: string[],
  trace = "execve",
  flags: readonly string[] = ["--allow-all"],
  extraEnv: Record<string, string> = {},
): Promise<Traced> {
  const log = join(project.root, "strace.log");
  const out = await new Deno.Command("strace", {
    args: [
      "-f",
      "-q",
      "-s",
      "4096",
      "-e",
      // Signals stay traced: without them strace does not say "killed by SIGKILL".
      `trace=${trace}`,
      "-o",
      log,
      "--",
      Deno.execPath(),
      "run",
      ...flags,
      "--quiet",
      MAIN,
      "exec",
      ...args,
    ],
    cwd: project.dir,
    env: { ...project.env(), ...extraEnv },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    lines: (await Deno.readTextFile(log)).split("\n"),
  };
}

/** Pids that exec'd an executor process (`… main.ts executor-process`). */
function executorPids(lines: string[]): string[] {
  // strace splits a call that another process interrupts: `execve(… <unfinished
  // ...>`, later `<... execve resumed>) = 0` on a line of its own.
  const pidOf = (l: string) => l.split(/\s+/)[0]!;
  const resumed = new Set(
    lines.filter((l) => /<\.\.\. execve resumed>.* = 0$/.test(l)).map(pidOf),
  );
  return lines.filter((l) => /execve\(.*"executor-process"/.test(l))
    .filter((l) => / = 0$/.test(l) || (/<unfinished \.\.\.>$/.test(l) && resumed.has(pidOf(l))))
    .map(pidOf);
}

/** Index of the line saying `pid` ended (exited or killed), or -1. */
function endOf(lines: string[], pid: string): number {
  return lines.findIndex((l) => l.startsWith(`${pid} `) && /\+\+\+ (exited|killed)/.test(l));
}

Deno.test({
  name: "exec --list starts no executor process",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const run = await tracedExec(project, ["--list"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /build/);
    assert.deepEqual(executorPids(run.lines), []);
  },
});

Deno.test({
  name:
    "exec --list, run as `deno task runner` does, loads no launcher (only a run launches), and neither loads the config schema (the runner defaults are written out)",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const launcher = /\/src\/poller\/process_launcher\.ts"/;
    const schema = /\/src\/config\/schema\.ts"/;
    const list = await tracedExec(project, ["--list"], "openat", runnerTaskFlags());
    assert.equal(list.code, 0, list.stdout + list.stderr);
    assert.deepEqual(list.lines.filter((l) => launcher.test(l) || schema.test(l)), []);
    const run = await tracedExec(project, [], "openat", runnerTaskFlags());
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    assert.notDeepEqual(run.lines.filter((l) => launcher.test(l)), []);
    // Not by exec, nor by its executor process (strace -f follows it).
    assert.deepEqual(run.lines.filter((l) => schema.test(l)), []);
  },
});

Deno.test({
  name:
    "exec loads the table of the official runner flags, and the config schema, only when one may be given",
  ignore: !hasStrace || Object.keys(Deno.env.toObject()).some(isSettingVariable),
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const table = /\/src\/cli\/commands\/exec_runner_flags\.ts"/;
    const schema = /\/src\/config\/schema\.ts"/;
    // DOCKER_HOST and its kin, often set for the docker CLI, are the docker client's to read.
    const plain = await tracedExec(project, ["--list"], "openat", runnerTaskFlags(), {
      DOCKER_HOST: "unix:///var/run/docker.sock",
      DOCKER_TLS_VERIFY: "",
    });
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.deepEqual(plain.lines.filter((l) => table.test(l) || schema.test(l)), []);
    const flagged = await tracedExec(
      project,
      ["--list", "--env", "A=1"],
      "openat",
      runnerTaskFlags(),
    );
    assert.equal(flagged.code, 0, flagged.stdout + flagged.stderr);
    assert.notDeepEqual(flagged.lines.filter((l) => table.test(l)), []);
    assert.notDeepEqual(flagged.lines.filter((l) => schema.test(l)), []);
  },
});

Deno.test({
  name:
    "exec starts the executor process before the pipeline is planned, and stops it before exiting when the plan fails",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      // Valid YAML that GitLab rejects: planning fails after the launch.
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n  timeout: soon\n",
    });
    const run = await tracedExec(project, []);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /^ERROR: \.gitlab-ci\.yml:3: jobs\.build\.timeout: /m);
    // Launched early: one process, though no job ran.
    const pids = executorPids(run.lines);
    assert.equal(pids.length, 1, run.lines.join("\n"));
    const exec = run.lines[0]!.split(/\s+/)[0]!;
    const childEnd = endOf(run.lines, pids[0]!);
    const execEnd = endOf(run.lines, exec);
    assert.ok(childEnd >= 0 && execEnd >= 0, run.lines.join("\n"));
    assert.ok(childEnd < execEnd, `the executor process outlived exec:\n${run.lines.join("\n")}`);
  },
});

Deno.test({
  name:
    "exec starts git's reads (the file list too), then the executor process, then plans, and runs its one job in that process, whose prepare stage starts no mkdir",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const run = await tracedExec(project, [], "execve,openat");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    // git is asked first, the working tree's file list included: its
    // processes run while exec loads what the launch needs. The executor
    // process starts before the pipeline modules are loaded (the yaml
    // parse cache is read after them).
    const lastGit = run.lines.findLastIndex((l) => /execve\("[^"]*\/git"/.test(l));
    const firstExecutor = run.lines.findIndex((l) => /execve\(.*"executor-process"/.test(l));
    const parseCache = run.lines.findIndex((l) => /openat\(.*ci-yaml-cache\.json"/.test(l));
    assert.ok(firstExecutor >= 0 && lastGit >= 0, run.lines.join("\n"));
    assert.ok(lastGit < firstExecutor, run.lines.join("\n"));
    assert.ok(parseCache < 0 || firstExecutor < parseCache, run.lines.join("\n"));
    // Started at the executor's own entry, not main.ts, with lazy dynamic
    // imports and read access to the runner's src/ for them (as runner run does).
    const launch = run.lines.find((l) => /execve\(.*"executor-process"/.test(l)) ?? "";
    assert.match(launch, /executor_entry\.ts", "executor-process"/);
    assert.match(launch, /"--unstable-lazy-dynamic-imports"/);
    const src = join(MAIN, "..", "..");
    assert.ok(
      /"--allow-read=([^"]*)"/.exec(launch)?.[1]?.split(",").includes(src),
      `no read access to ${src}: ${launch}`,
    );
    // One job, one executor process: no spare left to start and kill.
    assert.equal(executorPids(run.lines).length, 1, run.lines.join("\n"));
    // The copy leaves the project directory and its .tmp sibling in place:
    // the prepare stage starts no `mkdir` for them.
    assert.deepEqual(run.lines.filter((l) => /execve\("[^"]*\/mkdir"/.test(l)), []);
    // git is asked at once, in one process per question, and the working tree
    // is walked once for the file list and the untracked files. The symbolic
    // refs (HEAD, origin/HEAD) and origin's URL are read from .git, and a
    // pipeline without `changes:` needs no `git diff`: log and ls-files.
    const gits = run.lines.filter((l) => /execve\("[^"]*\/git"/.test(l));
    assert.equal(gits.filter((l) => l.includes('"ls-files"')).length, 1, gits.join("\n"));
    assert.deepEqual(
      gits.map((l) => /"core\.quotepath=off", "([^"]+)"/.exec(l)?.[1]).sort(),
      ["log", "ls-files"],
      gits.join("\n"),
    );
  },
});

Deno.test({
  name:
    "exec starts its executor process with its own V8 flags, run as `deno task runner` does (no code cache) or as a `deno install`ed runner does (code cache kept, which V8 rejects when made under other flags)",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const task = runnerTaskFlags();
    assert.ok(task.includes(RUNNER_NO_CODE_CACHE_FLAG), task.join(" "));
    // `deno install` takes the task's flags but --no-code-cache (README.md).
    const installed = task.filter((f) => f !== RUNNER_NO_CODE_CACHE_FLAG);
    for (const flags of [task, installed]) {
      const own = flags.filter((f) => f.startsWith("--v8-flags="));
      assert.deepEqual(own, [...RUNNER_V8_FLAGS]);
      const run = await tracedExec(project, [], "execve", flags);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^built$/m);
      const launch = run.lines.find((l) => /execve\(.*"executor-process"/.test(l)) ?? "";
      const v8Flags = (line: string) =>
        [...line.matchAll(/"(--v8-flags=[^"]*)"/g)].map((m) => m[1]);
      assert.deepEqual(v8Flags(launch), own, launch);
      // The executor process keeps its code cache.
      assert.ok(!launch.includes(`"${RUNNER_NO_CODE_CACHE_FLAG}"`), launch);
    }
  },
});

Deno.test({
  name:
    "exec sends its job's start message before it loads the trace pipeline, which loads while the executor process prepares the job",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    // As `deno task runner` runs it: lazy dynamic imports load when imported.
    const run = await tracedExec(project, [], "openat,write", runnerTaskFlags());
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    const start = run.lines.findIndex((l) => /write\(\d+, ".*\\"type\\":\\"start\\"/.test(l));
    const masker = run.lines.findIndex((l) => /openat\(.*\/src\/trace\/trace_masker\.ts"/.test(l));
    assert.ok(start >= 0 && masker >= 0, run.lines.join("\n"));
    assert.ok(start < masker, run.lines.join("\n"));
  },
});

Deno.test({
  name:
    "exec makes its state directories and empties the job's temporary directory on its own thread, with no hop to a pool thread on the way to the job's start",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    // A second run: the state directories and the job's .tmp directory exist.
    const first = await tracedExec(project, [], "execve");
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const run = await tracedExec(project, [], "execve,mkdir,unlinkat,write");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    const exec = run.lines[0]!.split(/\s+/)[0]!;
    const start = run.lines.findIndex((l) => /write\(\d+, ".*\\"type\\":\\"start\\"/.test(l));
    assert.ok(start >= 0, run.lines.join("\n"));
    const before = run.lines.slice(0, start);
    const stateDirs = before.filter((l) =>
      /mkdir\(".*\/runner\/exec\/[0-9a-f]+\/(builds|cache|executor)"/.test(l)
    );
    const tmp = before.filter((l) => /unlinkat\(AT_FDCWD, ".*\.tmp", AT_REMOVEDIR/.test(l));
    assert.equal(stateDirs.length, 3, run.lines.join("\n"));
    assert.equal(tmp.length, 1, run.lines.join("\n"));
    for (const line of [...stateDirs, ...tmp]) assert.equal(line.split(/\s+/)[0], exec, line);
  },
});

Deno.test({
  name:
    "exec's executor process removes the job's file variables in its own thread: no thread of Deno's pool is woken or started at the end of the job",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": "build:\n  script: [echo built]\n",
    });
    const run = await tracedExec(project, [], "execve,unlink,unlinkat");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    const [executor] = executorPids(run.lines);
    assert.ok(executor !== undefined, run.lines.join("\n"));
    // cleanup_file_variables: the files under the job's .tmp directory
    // (GITLAB_ENV's file and masking.db, here only the first exists).
    const removals = run.lines.filter((l) => /unlink(at)?\(.*\.tmp\/gitlab_runner_env"/.test(l));
    assert.equal(removals.length, 1, run.lines.join("\n"));
    assert.equal(removals[0]!.split(/\s+/)[0], executor, removals[0]);
  },
});

/** Files of the npm:yaml package that a traced process opened. */
function yamlOpens(lines: string[]): string[] {
  return lines.filter((l) => /openat\(.*\/yaml\/\d[^/]*\/dist\//.test(l));
}

Deno.test({
  name:
    "exec answers an unchanged pipeline from its parse cache without loading npm:yaml, and sees an edit",
  ignore: !hasStrace,
  async fn() {
    await using project = await SampleProject.create({
      ".gitlab-ci.yml": ".base: &base\n  script: [echo built]\nbuild:\n  <<: *base\n",
    });
    const first = await tracedExec(project, ["--list"], "openat");
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.notDeepEqual(yamlOpens(first.lines), [], "the first run parses with npm:yaml");
    const second = await tracedExec(project, ["--list"], "openat");
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(yamlOpens(second.lines), []);
    // The job runs from the cached parse as from a fresh one.
    const run = await tracedExec(project, [], "openat");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^built$/m);
    assert.deepEqual(yamlOpens(run.lines), []);
    // An edit is parsed again: the new job is listed and run.
    await project.write({ ".gitlab-ci.yml": "build:\n  script: [echo rebuilt]\n" });
    const edited = await tracedExec(project, [], "openat");
    assert.equal(edited.code, 0, edited.stdout + edited.stderr);
    assert.match(edited.stdout, /^rebuilt$/m);
    assert.notDeepEqual(yamlOpens(edited.lines), []);
  },
});

const SRC = join(MAIN, "..", "..");

Deno.test("an executor process and exec up to its launch load no node: or npm: module (Node compatibility costs ~35 ms of CPU per process)", async () => {
  for (
    const root of [
      "cli/main.ts",
      "cli/executor_entry.ts",
      "cli/executor_process.ts",
      "executors/shell/shell_executor.ts",
      "cli/commands/exec.ts",
      "poller/process_launcher.ts",
      "poller/executor_permissions.ts",
      "config/default_config.ts",
      // What exec loads to plan and run a pipeline (npm:yaml and picomatch load on demand).
      "pipeline/mod.ts",
      "exec/mod.ts",
      "exec/exec_output.ts",
      "exec/executor_job_runner.ts",
      "exec/pipeline_runner.ts",
    ]
  ) {
    const graph = await staticGraph(join(SRC, root));
    assert.ok(graph.length >= 1, root);
    const node = graph.filter((s) => s.startsWith("node:") || s.startsWith("npm:"));
    assert.deepEqual(node, [], `${root} loads ${node.join(", ")}`);
  }
});

Deno.test("executor processes start at their own entry, which reaches no command module (Deno reads all it can reach at start)", async () => {
  const reach = await staticGraph(join(SRC, "cli/executor_entry.ts"), { isDynamicFollowed: true });
  assert.ok(reach.some((s) => s.endsWith("/cli/executor_process.ts")));
  assert.ok(reach.some((s) => s.endsWith("/executors/docker/mod.ts")));
  assert.deepEqual(reach.filter((s) => /\/cli\/(main|commands\/.*)\.ts$/.test(s)), []);
});
