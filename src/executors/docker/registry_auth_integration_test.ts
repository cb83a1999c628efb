/**
 * Registry credentials from docker credential helpers, end to end: a helper
 * script the test writes answers the credential protocol, and a registry
 * served by the test on 127.0.0.1 (an insecure registry for dockerd by
 * default) records the Basic credentials dockerd sends it on the pull.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { parseJobSpec } from "../../job/job_spec.ts";
import {
  BUSYBOX_TEST_IMAGE,
  dockerSkipReason,
  ensureBusyboxImage,
} from "../../../tests/fixtures/docker_images.ts";
import { CollectedOutput } from "../executor_contract.ts";
import { ProcessCredentialHelper } from "./credential_helper.ts";
import { DockerExecutor } from "./docker_executor.ts";
import { clearCacheVolumes } from "./docker_resources.ts";
import { OwnerLease } from "./owner_lease.ts";
import { SilentLogger } from "../../log/logger.ts";

const skip = await dockerSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping docker credential helper tests: ${skip}`);
}

/** Answers `get` for any server and `list` with the registry; logs each call. */
const HELPER_SCRIPT = `#!/bin/sh
input=$(cat)
echo "$0 $1 $input" >> "$(dirname "$0")/calls.log"
case "$1" in
  get) printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$input" "$HELPER_USER" "$HELPER_SECRET" ;;
  list) printf '{"%s":"%s"}' "$REGISTRY" "$HELPER_USER" ;;
  *) echo "unknown action $1" >&2; exit 1 ;;
esac
`;

interface World extends AsyncDisposable {
  registry: string;
  binDir: string;
  authorizations: string[];
  lease: OwnerLease;
}

async function world(user: string, secret: string): Promise<World> {
  const authorizations: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const auth = req.headers.get("authorization");
    if (auth) authorizations.push(auth);
    if (!auth) {
      return new Response("{}", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="runner-test"' },
      });
    }
    return Response.json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }, {
      status: new URL(req.url).pathname === "/v2/" ? 200 : 404,
    });
  });
  const registry = `127.0.0.1:${server.addr.port}`;
  const binDir = await Deno.makeTempDir({ prefix: "runner-credential-helper-" });
  const script = HELPER_SCRIPT.replace("$HELPER_USER", user).replaceAll("$HELPER_USER", user)
    .replace("$HELPER_SECRET", secret).replace("$REGISTRY", registry);
  await Deno.writeTextFile(join(binDir, "docker-credential-runnertest"), script, { mode: 0o755 });
  const lease = await OwnerLease.acquire(join(binDir, "state"));
  return {
    registry,
    binDir,
    authorizations,
    lease,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(binDir, { recursive: true });
    },
  };
}

function executor(w: World, options: { jobAuth?: string; runnerAuth?: string }) {
  const output = new CollectedOutput();
  const variables = [{ key: "GIT_STRATEGY", value: "none" }];
  if (options.jobAuth) variables.push({ key: "DOCKER_AUTH_CONFIG", value: options.jobAuth });
  const jobId = Math.floor(Math.random() * 1e9);
  const e = new DockerExecutor({
    docker: new Docker({ socketPath: "/var/run/docker.sock" }),
    config: { ...defaultRunnerConfig("docker").docker, pullPolicy: ["always"] },
    job: parseJobSpec({
      id: jobId,
      token: "job-token",
      job_info: { project_id: jobId },
      image: { name: `${w.registry}/group/app:1` },
      variables,
    }),
    shortToken: `c${crypto.randomUUID().slice(0, 7)}`,
    concurrentProjectId: 0,
    output,
    log: new SilentLogger(),
    lease: w.lease,
    sweepOrphans: false,
    credentialHelper: new ProcessCredentialHelper({
      searchPath: `${w.binDir}:${Deno.env.get("PATH") ?? ""}`,
    }),
    ...(options.runnerAuth ? { runnerDockerAuthConfig: options.runnerAuth } : {}),
  });
  return { executor: e, output };
}

async function pullFails(e: DockerExecutor): Promise<void> {
  await assert.rejects(
    e.prepare(new AbortController().signal),
    (err: unknown) => err instanceof JobFailedError && err.reason === "image_pull_failure",
  );
}

Deno.test({
  name: "credHelpers in the job's DOCKER_AUTH_CONFIG: dockerd pulls with the helper's credentials",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using w = await world("helper-user", "helper-secret");
    const jobAuth = JSON.stringify({ credHelpers: { [w.registry]: "runnertest" } });
    const { executor: e, output } = executor(w, { jobAuth });
    await using _ = e;
    await pullFails(e);
    assert.match(
      output.text(),
      /Authenticating with credentials from \$DOCKER_AUTH_CONFIG \(docker-credential-runnertest\)/,
    );
    assert.ok(
      w.authorizations.includes(`Basic ${btoa("helper-user:helper-secret")}`),
      `the registry saw: ${w.authorizations.join(", ") || "no credentials"}`,
    );
    const calls = await Deno.readTextFile(join(w.binDir, "calls.log"));
    assert.match(calls, new RegExp(`docker-credential-runnertest get ${w.registry}`));
  },
});

Deno.test({
  name: "credsStore in the runner's docker config: list, then get for the image's registry",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using w = await world("store-user", "store-secret");
    const { executor: e, output } = executor(w, {
      runnerAuth: JSON.stringify({ credsStore: "runnertest" }),
    });
    await using _ = e;
    await pullFails(e);
    assert.match(output.text(), /the runner's DOCKER_AUTH_CONFIG \(docker-credential-runnertest\)/);
    assert.ok(w.authorizations.includes(`Basic ${btoa("store-user:store-secret")}`));
    const calls = await Deno.readTextFile(join(w.binDir, "calls.log"));
    assert.match(calls, /docker-credential-runnertest list/);
  },
});

Deno.test({
  name: "a credential helper that is not installed is a warning naming it; the pull goes on",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using w = await world("u", "s");
    const jobAuth = JSON.stringify({ credHelpers: { [w.registry]: "runnertest-missing" } });
    const { executor: e, output } = executor(w, { jobAuth });
    await using _ = e;
    await pullFails(e);
    assert.match(
      output.text(),
      /WARNING: \$DOCKER_AUTH_CONFIG could not be used: Cannot run "docker-credential-runnertest-missing"/,
    );
    assert.deepEqual(w.authorizations, []);
  },
});

Deno.test({
  name:
    "an image found on the host under if-not-present runs no credential helper, as in the official runner",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await ensureBusyboxImage();
    await using w = await world("store-user", "store-secret");
    const output = new CollectedOutput();
    const jobId = Math.floor(Math.random() * 1e9);
    const shortToken = `c${crypto.randomUUID().slice(0, 7)}`;
    const docker = new Docker({ socketPath: "/var/run/docker.sock" });
    await using e = new DockerExecutor({
      docker,
      config: {
        ...defaultRunnerConfig("docker").docker,
        image: BUSYBOX_TEST_IMAGE,
        pullPolicy: ["if-not-present"],
        allowedPullPolicies: [],
      },
      job: parseJobSpec({
        id: jobId,
        token: "job-token",
        job_info: { project_id: jobId },
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
      }),
      shortToken,
      concurrentProjectId: 0,
      output,
      log: new SilentLogger(),
      lease: w.lease,
      sweepOrphans: false,
      credentialHelper: new ProcessCredentialHelper({
        searchPath: `${w.binDir}:${Deno.env.get("PATH") ?? ""}`,
      }),
      runnerDockerAuthConfig: JSON.stringify({ credsStore: "runnertest" }),
    });
    try {
      await e.prepare(new AbortController().signal);
      assert.match(output.text(), /Using locally found image version/);
      assert.doesNotMatch(output.text(), /Authenticating/);
      await assert.rejects(Deno.stat(join(w.binDir, "calls.log")), Deno.errors.NotFound);
    } finally {
      await e.cleanup();
      await clearCacheVolumes(docker, { shortToken });
    }
  },
});
