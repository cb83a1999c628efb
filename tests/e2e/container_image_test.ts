/**
 * The container image, run as docs/getting-started.md tells users: the
 * config folder as a volume owned by 65532, `--user 65532`, the docker socket
 * mounted with the socket's group added, `--init`. The image is the
 * Dockerfile's final stage rebuilt from local parts (tests/fixtures/
 * runner_image.ts). Against the fake GitLab it registers, runs a docker job
 * with a service, artifacts and cache, reloads an edited config, serves
 * metrics, clones the project from the fake GitLab's git http-backend, and
 * stops on SIGQUIT (jobs finish) and SIGTERM (jobs abort), exiting 0 both times.
 *
 * One deviation from the docs: the container shares the host's network
 * (`--network host`), because the fake GitLab listens on 127.0.0.1 only. Job
 * containers stay on the default bridge: they reach git through `clone_url`
 * on the bridge's gateway address (tests/fixtures/tcp_forward.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import {
  BUSYBOX_TEST_IMAGE,
  DEBIAN_TEST_IMAGE,
  dockerSkipReason,
  hasImage,
} from "../fixtures/docker_images.ts";
import { GitRepo } from "../fixtures/git_repo.ts";
import { bridgeGateway, tcpForward } from "../fixtures/tcp_forward.ts";
import {
  LABEL_JOB_ID,
  LABEL_RUNNER_SHORT_TOKEN,
} from "../../src/executors/docker/docker_labels.ts";
import { shortToken } from "../../src/config/short_token.ts";
import { buildRunnerImage, NONROOT_UID, type RunnerImage } from "../fixtures/runner_image.ts";

const TIMEOUT = { timeoutMs: 180_000 };

async function skipReason(): Promise<string | null> {
  const docker = await dockerSkipReason();
  if (docker) return docker;
  for (const image of [BUSYBOX_TEST_IMAGE, DEBIAN_TEST_IMAGE]) {
    if (!(await hasImage(image))) return `image ${image} is absent`;
  }
  if (!(await bridgeGateway())) return "the docker bridge network has no gateway address";
  if (Deno.uid() !== 0) return "building the image needs root (files owned by uid 65532)";
  try {
    await new Deno.Command("ldd", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return "ldd is missing";
  }
  return null;
}

const skip = await skipReason();
// deno-lint-ignore no-console -- a skipped test says why
if (skip) console.warn(`SKIP container image tests: ${skip}`);

async function docker(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("docker", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function mustDocker(args: string[]): Promise<string> {
  const r = await docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}): ${r.out}`);
  return r.out;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitFor<T>(
  what: string,
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A started runner container (`docker run -d` as the docs show it), removed on dispose. */
class RunnerContainer implements AsyncDisposable {
  constructor(readonly name: string) {}

  logs(): Promise<string> {
    return docker(["logs", this.name]).then((r) => r.out);
  }

  /** Resolves the exit code once the container has stopped. */
  exited(timeoutMs = 30_000): Promise<number> {
    return waitFor("the runner container to exit", async () => {
      const out = await docker([
        "inspect",
        "--format",
        "{{.State.Running}} {{.State.ExitCode}}",
        this.name,
      ]);
      const [running, code] = out.out.trim().split(" ");
      return running === "false" ? { code: Number(code) } : null;
    }, timeoutMs).then((r) => r.code);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await docker(["rm", "-f", this.name]);
  }
}

interface Setup {
  image: RunnerImage;
  configDir: string;
  socketGid: string;
}

/** The docs' volume, user, socket and group flags; `--network host` for the fake GitLab. */
function dockerRunFlags(setup: Setup): string[] {
  return [
    "--network",
    "host",
    "--user",
    String(NONROOT_UID),
    "-v",
    `${setup.configDir}:/etc/gitlab-runner`,
    "-v",
    "/var/run/docker.sock:/var/run/docker.sock",
    "--group-add",
    setup.socketGid,
  ];
}

async function startRunnerContainer(
  setup: Setup,
  name: string,
  env: Record<string, string> = {},
): Promise<RunnerContainer> {
  const envFlags = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await mustDocker([
    "run",
    "-d",
    "--name",
    name,
    "--init",
    ...dockerRunFlags(setup),
    ...envFlags,
    setup.image.tag,
  ]);
  return new RunnerContainer(name);
}

/**
 * Containers (job, services, helpers) left behind by these jobs of this runner.
 * Every fake GitLab numbers its jobs from 1000: other tests running at the same
 * time have jobs with the same ids, so the runner's token tells them apart.
 */
async function jobContainers(token: string, ...jobIds: number[]): Promise<string[]> {
  const names: string[] = [];
  for (const id of jobIds) {
    const out = await mustDocker([
      "ps",
      "-a",
      "--filter",
      `label=${LABEL_JOB_ID}=${id}`,
      "--filter",
      `label=${LABEL_RUNNER_SHORT_TOKEN}=${shortToken(token)}`,
      "--format",
      "{{.Names}}",
    ]);
    names.push(...out.split("\n").filter(Boolean));
  }
  return names;
}

Deno.test({
  name:
    "container image: registers, runs a docker job with a service, artifacts and cache, reloads, serves metrics, clones from the fake GitLab, drains on SIGQUIT and aborts on SIGTERM, exiting 0",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await buildRunnerImage();
    const configDir = await Deno.makeTempDir({ prefix: "runner-image-config-" });
    await Deno.chown(configDir, NONROOT_UID, NONROOT_UID);
    await Deno.chmod(configDir, 0o700);
    const socketGid = String((await Deno.stat("/var/run/docker.sock")).gid);
    const setup: Setup = { image, configDir, socketGid };
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const gateway = (await bridgeGateway())!;
    const name = `runner-image-test-${Date.now()}`;
    try {
      // register: arguments after the image name replace the default command
      const registered = await mustDocker([
        "run",
        "--rm",
        ...dockerRunFlags(setup),
        image.tag,
        "register",
        "--non-interactive",
        "--url",
        gitlab.url,
        "--token",
        r.token,
        "--executor",
        "docker",
        "--docker-image",
        BUSYBOX_TEST_IMAGE,
        "--docker-pull-policy",
        "never",
        // the official helper image is in a registry this machine cannot reach
        "--docker-helper-image",
        BUSYBOX_TEST_IMAGE,
        "--description",
        "in-a-container",
      ]);
      const configPath = join(configDir, "config.toml");
      const config = await Deno.readTextFile(configPath);
      assert.match(config, new RegExp(`token = "${r.token}"`), registered);
      assert.equal((await Deno.stat(configPath)).uid, NONROOT_UID);

      const metricsPort = freePort();
      await using runner = await startRunnerContainer(setup, name, {
        LISTEN_ADDRESS: `127.0.0.1:${metricsPort}`,
      });

      const cache = [{
        key: "deps",
        paths: ["vendor/"],
        policy: "pull-push",
        when: "on_success",
        fallback_keys: [],
      }];
      const service = {
        name: BUSYBOX_TEST_IMAGE,
        alias: "web",
        command: [
          "sh",
          "-c",
          "mkdir -p /www && echo from-the-service > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
        ports: [{ number: 8080 }],
      };
      const first = gitlab.enqueueJob({
        script: [
          "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://web:8080/index.html && break; sleep 1; done",
          "mkdir -p out vendor && echo built > out/app.txt && echo lib > vendor/lib.txt",
          "id -u",
        ],
        services: [service],
        artifacts: [{ paths: ["out/"], when: "on_success" }],
        cache,
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      });
      const s1 = await gitlab.waitForJobFinished(first.id, TIMEOUT);
      assert.equal(s1.status, "success", s1.trace + (await runner.logs()));
      assert.match(s1.trace, /from-the-service/);
      assert.equal(gitlab.artifactsOf(first.id).length, 1, s1.trace);

      const second = gitlab.enqueueJob({
        script: ["rm -rf out", "cat vendor/lib.txt"],
        cache: [{ ...cache[0]!, policy: "pull" }],
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      });
      const s2 = await gitlab.waitForJobFinished(second.id, TIMEOUT);
      assert.equal(s2.status, "success", s2.trace + (await runner.logs()));
      assert.match(s2.trace, /Successfully extracted cache/);
      assert.match(s2.trace, /^lib$/m);

      // metrics on the listen address
      const metrics = await waitFor("metrics", async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => null);
        return res?.ok ? await res.text() : null;
      });
      assert.match(metrics, /^gitlab_runner_version_info\{/m);
      assert.match(metrics, /^gitlab_runner_jobs_total\{/m);

      // an edited config is reloaded by the running container: a helper image
      // with git, and clone_url where the job containers reach the fake GitLab
      await using forward = tcpForward(gateway, Number(new URL(gitlab.url).port));
      const before = (await runner.logs()).length;
      const edited = (await Deno.readTextFile(configPath))
        .replace(/^concurrent = \d+/m, "concurrent = 3")
        .replace(/^([ \t]*)helper_image = .*$/m, `$1helper_image = "${DEBIAN_TEST_IMAGE}"`)
        .replace(/^([ \t]*)url = .*$/m, `$&\n$1clone_url = "http://${gateway}:${forward.port}"`);
      assert.match(edited, new RegExp(`helper_image = "${DEBIAN_TEST_IMAGE}"`), edited);
      assert.match(edited, /clone_url = /, edited);
      await Deno.writeTextFile(configPath, edited);
      await waitFor("the reload", async () => {
        const logs = (await runner.logs()).slice(before);
        return /Configuration loaded/.test(logs) ? logs : null;
      });

      // a job clones the project from the fake GitLab's git http-backend
      const app = await GitRepo.create(gitlab.projectRoot, "acme/widget");
      const sha = await app.commit({ files: { "README.md": "cloned by the runner image\n" } });
      const cloning = gitlab.enqueueJob({
        script: ["cat README.md", "cat .git/HEAD"],
        variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      });
      const s3 = await gitlab.waitForJobFinished(cloning.id, TIMEOUT);
      assert.equal(s3.status, "success", s3.trace + (await runner.logs()));
      assert.match(s3.trace, /Created fresh repository/);
      assert.match(s3.trace, /^cloned by the runner image$/m);
      assert.match(s3.trace, new RegExp(`^${sha}$`, "m"));

      // SIGQUIT: the running job finishes, then the runner exits 0
      const slow = gitlab.enqueueJob({
        script: ["sleep 3", "echo finished-after-quit"],
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      });
      await waitFor("the job to start", () => gitlab.jobOf(slow.id).status === "running");
      await mustDocker(["kill", "--signal", "SIGQUIT", name]);
      const slowState = await gitlab.waitForJobFinished(slow.id, TIMEOUT);
      assert.equal(slowState.status, "success", slowState.trace);
      assert.match(slowState.trace, /finished-after-quit/);
      assert.equal(await runner.exited(), 0, await runner.logs());
      assert.deepEqual(
        await jobContainers(r.token, first.id, second.id, cloning.id, slow.id),
        [],
        await runner.logs(),
      );

      // SIGTERM: the running job is aborted and reported, the runner exits 0 (as
      // `runner run` does when it aborted its jobs within shutdown_timeout)
      await using again = await startRunnerContainer(setup, `${name}-term`);
      const endless = gitlab.enqueueJob({
        script: ["sleep 300"],
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      });
      await waitFor("the job to start", () => gitlab.jobOf(endless.id).status === "running");
      await mustDocker(["kill", "--signal", "SIGTERM", again.name]);
      const endlessState = await gitlab.waitForJobFinished(endless.id, { timeoutMs: 30_000 });
      assert.equal(endlessState.status, "failed", endlessState.trace);
      assert.equal(await again.exited(), 0, await again.logs());
      assert.deepEqual(await jobContainers(r.token, endless.id), [], await again.logs());
    } finally {
      await Deno.remove(configDir, { recursive: true }).catch(() => {});
    }
  },
});
