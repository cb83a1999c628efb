/**
 * End to end: a docker job's script never appears on a command line. While
 * the job runs, no /proc/<pid>/cmdline of the host (readable by every local
 * user) holds a masked variable's value or the job token; the script reaches
 * the shell in the container over the exec's stdin, as the official runner
 * sends it. Scripts of any size take that way (once over 100 KiB they were
 * copied into the container instead).
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { denoDir } from "../fixtures/test_env.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
// deno-lint-ignore no-console -- a skipped test says why
if (dockerReason) console.warn(`SKIP docker script argv test: ${dockerReason}`);

/** Command lines (NUL turned to spaces) of every process that holds `needle`. */
async function commandLinesWith(needle: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(needle)) found.push(`${entry.name}: ${cmdline.replaceAll("\0", " ")}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

Deno.test({
  name: "docker job: no /proc/*/cmdline shows a masked value or the job token while the job runs",
  ignore: dockerReason !== null,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const home = await Deno.makeTempDir({ prefix: "runner-home-" });
    await using _runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n` +
        runnerToml(gitlab.url, r.token, { executor: "docker" }) +
        `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
      env: {
        HOME: home,
        DENO_DIR: denoDir(),
      },
    });
    const secret = `masked-${crypto.randomUUID()}`;
    const job = gitlab.enqueueJob({
      script: [
        "echo running",
        "sleep 4",
        'test "$DEPLOY_KEY" = "' + secret + '" && echo secret-arrived',
      ],
      variables: [...NO_GIT, { key: "DEPLOY_KEY", value: secret, masked: true }],
    });
    try {
      await gitlab.waitFor(() => gitlab.jobOf(job.id).trace.includes("running"), {
        what: `job ${job.id} running`,
        timeoutMs: 60_000,
      });
      const seen: string[] = [];
      // Scan repeatedly while the script sleeps: the shell and its children are alive.
      for (let i = 0; i < 10; i++) {
        seen.push(...await commandLinesWith(secret), ...await commandLinesWith(job.token));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(seen, [], "command lines holding a secret");
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
      assert.equal(state.status, "success", state.trace);
      assert.match(state.trace, /secret-arrived/);
      assert.ok(!state.trace.includes(secret), "the value is masked in the log");

      // Over 100 KiB: the size that used to take another way into the container.
      const padding = Array.from({ length: 1200 }, (_, i) => `: ${"x".repeat(100)} ${i}`);
      const big = gitlab.enqueueJob({
        script: [...padding, "echo big-script-ran"],
        variables: NO_GIT,
      });
      const bigState = await gitlab.waitForJobFinished(big.id, { timeoutMs: 60_000 });
      assert.equal(bigState.status, "success", bigState.trace.slice(-2000));
      assert.match(bigState.trace, /\nbig-script-ran\n/);
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
