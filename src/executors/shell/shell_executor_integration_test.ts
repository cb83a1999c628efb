import assert from "node:assert/strict";
import { CollectedOutput, contractScript, testExecutorContract } from "../executor_contract.ts";
import { ShellExecutor } from "./shell_executor.ts";
import { ScriptWriter } from "../../shells/script_writer.ts";
import { testEnv } from "../../../tests/fixtures/test_env.ts";

const cwd = await Deno.makeTempDir({ prefix: "shell-executor-" });

function env(): Record<string, string> {
  return testEnv();
}

for (const shell of ["bash", "sh"]) {
  testExecutorContract(
    shell === "bash" ? "shell" : "shell (sh)",
    (output) =>
      Promise.resolve(
        new ShellExecutor({
          shell,
          buildsDir: "",
          cacheDir: "",
          cwd,
          env: env(),
          output,
          killGraceMs: 1000,
        }),
      ),
  );
}

Deno.test("ShellExecutor defaults builds and cache dirs under the working directory", () => {
  const executor = new ShellExecutor({
    shell: "",
    buildsDir: "",
    cacheDir: "rel-cache",
    cwd: "/srv/runner",
    env: {},
    output: new CollectedOutput(),
  });
  assert.equal(executor.shell, "bash");
  assert.deepEqual(executor.paths, {
    buildsDir: "/srv/runner/builds",
    cacheDir: "/srv/runner/rel-cache",
    isBuildsDirShared: true,
  });
  assert.equal(executor.isSharedEnvironment, true);
  // As the official shell executor: a relative path joins the working directory, ~ included.
  const tilde = new ShellExecutor({
    shell: "",
    buildsDir: "~/builds",
    cacheDir: "",
    cwd: "/srv/runner",
    env: {},
    output: new CollectedOutput(),
  });
  assert.equal(tilde.paths.buildsDir, "/srv/runner/~/builds");
});

Deno.test("ShellExecutor rejects shells it cannot drive", () => {
  assert.throws(
    () =>
      new ShellExecutor({
        shell: "pwsh",
        buildsDir: "",
        cacheDir: "",
        cwd,
        env: {},
        output: new CollectedOutput(),
      }),
    /Shell "pwsh" is not supported by the shell executor/,
  );
});

Deno.test("ShellExecutor passes the runner's environment to the script", async () => {
  const output = new CollectedOutput();
  await using executor = new ShellExecutor({
    shell: "bash",
    buildsDir: "",
    cacheDir: "",
    cwd,
    env: { ...env(), RUNNER_SIDE: "from-runner" },
    output,
  });
  await executor.prepare(new AbortController().signal);
  assert.match(output.text(), /Using Shell \(bash\) executor\.\.\./);
  const code = await executor.run({
    stage: "step_script",
    script: contractScript(['echo "side=$RUNNER_SIDE"']),
  }, new AbortController().signal);
  assert.equal(code, 0);
  assert.match(output.text(), /side=from-runner/);
});

Deno.test("ShellExecutor reports a script's own exit code 127 (a command not found) as the stage's", async () => {
  const output = new CollectedOutput();
  await using executor = new ShellExecutor({
    shell: "bash",
    buildsDir: "",
    cacheDir: "",
    cwd,
    env: env(),
    output,
  });
  const code = await executor.run(
    { stage: "step_script", script: contractScript(["runner-test-no-such-command"]) },
    new AbortController().signal,
  );
  assert.equal(code, 127);
  assert.match(output.text(), /runner-test-no-such-command: command not found/);
});

for (const shell of ["bash", "sh"]) {
  Deno.test(`ShellExecutor (${shell}) tells a shell killed by a signal from a command killed by one`, async () => {
    const output = new CollectedOutput();
    await using executor = new ShellExecutor({
      shell,
      buildsDir: "",
      cacheDir: "",
      cwd,
      env: env(),
      output,
    });
    const run = (line: string) =>
      executor.run(
        { stage: "step_script", script: contractScript([line]) },
        new AbortController().signal,
      );
    // The shell itself: minus the signal's number.
    assert.equal(await run("kill -9 $$"), -9);
    assert.equal(await run("kill -SEGV $$"), -11);
    // A command it ran: the shell's own exit code, 128 + n.
    assert.equal(await run("sh -c 'kill -9 $$'"), 137);
  });
}

Deno.test("ShellExecutor: bash's CI_DEBUG_TRACE lines have upstream's depth (+ for the wrapper, ++ for commands)", async () => {
  const output = new CollectedOutput();
  await using executor = new ShellExecutor({
    shell: "bash",
    buildsDir: "",
    cacheDir: "",
    cwd,
    env: env(),
    output,
  });
  const w = new ScriptWriter({ tmpDir: cwd, debugTrace: true });
  w.line("echo traced");
  const code = await executor.run(
    { stage: "step_script", script: w.finish() },
    new AbortController().signal,
  );
  assert.equal(code, 0, output.text());
  assert.match(output.text(), /^\+ set \+o noclobber$/m);
  assert.match(output.text(), /^\+\+ echo traced$/m);
  assert.match(output.text(), /^\+ exit 0$/m);
});

Deno.test("ShellExecutor names the missing shell when setsid is found but the shell is not", async () => {
  // A PATH with util-linux setsid only: it exits 127 with its own message,
  // and the stage fails naming the shell, as without setsid.
  const setsid = new TextDecoder().decode(
    (await new Deno.Command("sh", { args: ["-c", "command -v setsid"], stdout: "piped" }).output())
      .stdout,
  ).trim();
  if (setsid === "") {
    // deno-lint-ignore no-console -- the skip says why
    console.log("skipped: util-linux setsid is not installed");
    return;
  }
  const bin = await Deno.makeTempDir({ prefix: "shell-executor-path-" });
  try {
    await Deno.symlink(setsid, `${bin}/setsid`);
    const output = new CollectedOutput();
    await using executor = new ShellExecutor({
      shell: "bash",
      buildsDir: "",
      cacheDir: "",
      cwd,
      env: { PATH: bin },
      output,
    });
    await executor.prepare(new AbortController().signal);
    await assert.rejects(
      executor.run({ stage: "prepare_script", script: "exit 0\n" }, new AbortController().signal),
      /Cannot start "bash": not found in PATH/,
    );
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("ShellExecutor fails the first stage with a clear message when the shell is missing", async () => {
  const output = new CollectedOutput();
  await using executor = new ShellExecutor({
    shell: "bash",
    buildsDir: "",
    cacheDir: "",
    cwd,
    env: { PATH: "/nonexistent" },
    output,
  });
  // prepare starts no process (one fewer per job); the first stage names the shell.
  await executor.prepare(new AbortController().signal);
  await assert.rejects(
    executor.run({ stage: "prepare_script", script: "exit 0\n" }, new AbortController().signal),
    /Cannot start "bash": not found in PATH/,
  );
});

/** Pids whose command line holds `marker`, read from /proc (Linux). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes(marker)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

Deno.test("ShellExecutor leaves what a stage that ended normally started in the background running, and waits for what holds its output", async () => {
  const marker = `shell-daemon-${crypto.randomUUID()}`;
  const output = new CollectedOutput();
  try {
    await using executor = new ShellExecutor({
      shell: "bash",
      buildsDir: "",
      cacheDir: "",
      cwd,
      env: env(),
      output,
    });
    const started = performance.now();
    const code = await executor.run({
      stage: "step_script",
      script: contractScript([
        // A daemon started on purpose, its output redirected: the stage does not wait for it.
        `nohup sh -c 'sleep 60 # ${marker}' >/dev/null 2>&1 &`,
        // A background child that keeps the stage's output open: the stage waits for it.
        "sleep 1 &",
        "echo done",
      ]),
    }, new AbortController().signal);
    assert.equal(code, 0);
    assert.ok(performance.now() - started >= 900, "the stage waited for its output to close");
    await executor.cleanup();
    assert.ok(processesWith(marker).length > 0, "the daemon outlives the stage and the cleanup");
  } finally {
    for (const pid of processesWith(marker)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
  }
});
