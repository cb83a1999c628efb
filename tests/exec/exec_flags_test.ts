/**
 * The official `gitlab-runner exec` flags (its runner settings, with their
 * environment variables, `--timeout` and `--cicd-config-file`) given to
 * `runner exec`: each acts on the jobs, or is refused naming it.
 */
import assert from "node:assert/strict";
import { SampleProject, summaryRow } from "./_exec_cli.ts";

function assertRejected(run: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, "a stack trace was printed");
}

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
