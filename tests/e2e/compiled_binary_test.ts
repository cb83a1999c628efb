/**
 * The binary users download: `deno task compile` with a local denort
 * (`DENORT_BIN`, no network), then the built binary through register, a shell
 * job and a docker job against the fake GitLab, with the executor process
 * started the way the compiled binary starts it. Without a denort of this
 * Deno version (none can be downloaded here) the test says so and skips.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const DENORT = Deno.env.get("DENORT_BIN") ?? "";
const skip = DENORT === ""
  ? "DENORT_BIN is not set: no local denort to compile with (deno compile downloads one otherwise)"
  : null;
// deno-lint-ignore no-console -- a skipped test says why
if (skip) console.warn(`SKIP compiled binary test: ${skip}`);

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Output> {
  const out = await new Deno.Command(cmd, {
    args,
    env: options.env ?? {},
    cwd: options.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "compiled binary: built offline from DENORT_BIN, registers and runs shell and docker jobs",
  ignore: skip !== null,
  sanitizeResources: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "runner-compiled-" });
    try {
      const built = await run(Deno.execPath(), [
        "task",
        "compile",
        "--target",
        "x86_64-unknown-linux-gnu",
        "--out",
        out,
      ], { env: { DENORT_BIN: DENORT, DENO_NO_UPDATE_CHECK: "1" } });
      assert.equal(built.code, 0, built.stdout + built.stderr);
      const binary = join(out, "runner-linux-amd64");
      const checksum = await run("sha256sum", ["-c", "runner-linux-amd64.sha256"], { cwd: out });
      assert.equal(checksum.code, 0, checksum.stderr);

      const version = await run(binary, ["--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^Version:/);

      await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
      await using _volumes = cacheVolumesRemoved(gitlab);
      const r = gitlab.createRunner({ kind: "created" });
      const config = join(out, "config.toml");
      const registered = await run(binary, [
        "register",
        "--non-interactive",
        "--url",
        gitlab.url,
        "--token",
        r.token,
        "--executor",
        "shell",
        "--config",
        config,
      ]);
      assert.equal(registered.code, 0, registered.stderr);

      const dockerReason = (await dockerSkipReason()) ??
        ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is absent`);
      if (dockerReason === null) {
        const text = await Deno.readTextFile(config);
        const docker = text.replace(
          /^\[\[runners\]\][\s\S]*$/m,
          (block) =>
            block +
            `\n[[runners]]\n  name = "docker"\n  url = "${gitlab.url}"\n  token = "${r.token}"\n` +
            `  executor = "docker"\n  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n` +
            `    pull_policy = "never"\n`,
        );
        await Deno.writeTextFile(config, docker);
      }
      const child = new Deno.Command(binary, {
        args: ["run", "--config", config],
        cwd: out,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        const job = gitlab.enqueueJob({
          script: ["echo compiled-ok"],
          variables: [{ key: "GIT_STRATEGY", value: "none" }],
        });
        const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
        assert.equal(state.status, "success", state.trace);
        assert.match(state.trace, /compiled-ok/);
        if (dockerReason === null) {
          const second = gitlab.enqueueJob({
            script: ["echo docker-ok"],
            variables: [{ key: "GIT_STRATEGY", value: "none" }],
          });
          const s2 = await gitlab.waitForJobFinished(second.id, { timeoutMs: 120_000 });
          assert.equal(s2.status, "success", s2.trace);
        }
      } finally {
        child.kill("SIGTERM");
        await child.output();
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});
