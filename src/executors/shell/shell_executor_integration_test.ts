import assert from "node:assert/strict";
import { CollectedOutput, contractScript, testExecutorContract } from "../executor_contract.ts";
import { ShellExecutor } from "./shell_executor.ts";
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
