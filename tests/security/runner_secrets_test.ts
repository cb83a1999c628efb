/**
 * No runner secret outside the poller: with `token = "$GL_TOKEN"` in
 * config.toml and GL_TOKEN in the runner's environment, neither the start
 * message, nor the environment (/proc/<pid>/environ) or argv
 * (/proc/<pid>/cmdline) of the executor process holds the token or its name;
 * nor does the start message hold the distributed cache's credentials (S3
 * keys and session token, GCS private key and CredentialsFile, Azure account
 * key: the poller signs URLs) or the raw values of keys we do not model
 * (`[runners.kubernetes] bearer_token`, `[runners.machine] MachineOptions`).
 * The poller side is real (JobSupervisor, SubprocessLauncher); the executor
 * process is a capture fixture that reports what it received.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../src/config/parse_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import { SilentLogger } from "../../src/log/logger.ts";
import {
  JobSupervisor,
  type TraceSession,
  type TraceSessionFactory,
} from "../../src/poller/job_supervisor.ts";
import { SubprocessLauncher } from "../../src/poller/process_launcher.ts";
import type { JobRef, JobUpdate, TraceTransport, UpdateResult } from "../../src/trace/transport.ts";
import { testEnv } from "../fixtures/test_env.ts";

const CAPTURE = fileURLToPath(new URL("../fixtures/start_capture.ts", import.meta.url));
const TOKEN = "glrt-only-the-poller-knows-this";

class CollectedTraces implements TraceSessionFactory {
  text = "";
  open(): TraceSession {
    return {
      write: (chunk) => this.text += new TextDecoder().decode(chunk),
      finish: () => Promise.resolve(true),
    };
  }
}

class AcceptingGitLab implements TraceTransport {
  patchTrace(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  updateJob(_job: JobRef, _update: JobUpdate): Promise<UpdateResult> {
    return Promise.resolve({ kind: "ok" });
  }
}

/**
 * Credentials the runner entry holds beside its token, each with a value that
 * must appear nowhere the executor process can look. Only the poller signs
 * cache URLs (executors ask it with `cache-url` events).
 */
const RUNNER_SECRETS = {
  "S3 AccessKey": "AKIA-S3-ACCESS-KEY-ONLY-POLLER",
  "S3 SecretKey": "s3-secret-key-only-the-poller",
  "S3 SessionToken": "s3-session-token-only-the-poller",
  "GCS PrivateKey": "-----BEGIN PRIVATE KEY-----gcs-inline-key-only-the-poller",
  "GCS CredentialsFile content": "gcs-credentials-file-key-only-the-poller",
  "Azure AccountKey": "YXp1cmUtYWNjb3VudC1rZXktb25seS10aGUtcG9sbGVy",
  "kubernetes bearer_token (a key we do not model)": "k8s-bearer-only-the-poller",
  "machine MachineOptions (a key we do not model)": "machine-secret-only-the-poller",
};

async function runnerFromToml(env: Record<string, string>, dir: string): Promise<RunnerConfig> {
  const credentialsFile = join(dir, "gcs-service-account.json");
  await Deno.writeTextFile(
    credentialsFile,
    JSON.stringify({
      "client_email": "runner@example.iam.gserviceaccount.com",
      "private_key": RUNNER_SECRETS["GCS CredentialsFile content"],
    }),
  );
  const s = RUNNER_SECRETS;
  const { config } = parseConfig(
    [
      `concurrent = 1`,
      `[[runners]]`,
      `name = "r"`,
      `url = "http://127.0.0.1:9"`,
      `token = "$GL_TOKEN"`,
      `executor = "shell"`,
      `[runners.cache]`,
      `Type = "s3"`,
      `[runners.cache.s3]`,
      `ServerAddress = "127.0.0.1:9000"`,
      `BucketName = "runner-cache"`,
      `AccessKey = "${s["S3 AccessKey"]}"`,
      `SecretKey = "${s["S3 SecretKey"]}"`,
      `SessionToken = "${s["S3 SessionToken"]}"`,
      `[runners.cache.gcs]`,
      `AccessID = "runner@example.iam.gserviceaccount.com"`,
      `PrivateKey = "${s["GCS PrivateKey"]}"`,
      `CredentialsFile = "${credentialsFile}"`,
      `BucketName = "runner-cache"`,
      `[runners.cache.azure]`,
      `AccountName = "runnercache"`,
      `AccountKey = "${s["Azure AccountKey"]}"`,
      `ContainerName = "runner-cache"`,
      `[runners.kubernetes]`,
      `bearer_token = "${s["kubernetes bearer_token (a key we do not model)"]}"`,
      `[runners.machine]`,
      `MachineOptions = ["amazonec2-secret-key=${
        s["machine MachineOptions (a key we do not model)"]
      }"]`,
    ].join("\n") + "\n",
    { file: "config.toml", env },
  );
  const runner = config.runners[0]!;
  assert.equal(runner.token, TOKEN); // the poller has it
  assert.equal(runner.cache.s3.secretKey, s["S3 SecretKey"]); // and the cache credentials
  return runner;
}

for (const scoping of ["flags", "worker"] as const) {
  Deno.test(`${scoping}: start message, environ and argv of the executor process hold no runner token`, async () => {
    const env: Record<string, string> = {
      ...testEnv(),
      GL_TOKEN: TOKEN,
      CI_SERVER_TOKEN: TOKEN,
    };
    const tempDir = await Deno.makeTempDir({ prefix: "runner-secrets-" });
    const runner = await runnerFromToml(env, tempDir);
    const traces = new CollectedTraces();
    const launcher = new SubprocessLauncher({
      execPath: Deno.execPath(),
      mainModule: CAPTURE,
      scoping,
      env,
    });
    const supervisor = new JobSupervisor({
      log: new SilentLogger(),
      launcher,
      traces,
      transportFor: () => new AcceptingGitLab(),
      systemId: "s_0123456789ab",
      cwd: tempDir,
      tempDir,
      stateDir: tempDir,
      env: (name) => env[name],
    });
    await supervisor.handle(
      runner,
      parseJobSpec({ id: 1, token: "glcbt-job-token" }),
      { concurrentId: 0, concurrentProjectId: 0 },
      new AbortController().signal,
    );
    launcher.close();
    await Deno.remove(tempDir, { recursive: true });
    assert.ok(traces.text.startsWith("{"), traces.text);
    const report = JSON.parse(traces.text) as {
      start: { runner: RunnerConfig; job: { token: string } };
      startText: string;
      environ: string;
      cmdline: string;
    };
    assert.equal(report.start.job.token, "glcbt-job-token"); // the job's own token: it needs it
    const captured = { start: report.startText, environ: report.environ, argv: report.cmdline };
    for (const [what, text] of Object.entries(captured)) {
      assert.ok(!text.includes(TOKEN), `${what} holds the runner token`);
      assert.ok(!text.includes("GL_TOKEN"), `${what} names the variable holding it`);
    }
    for (const [what, secret] of Object.entries(RUNNER_SECRETS)) {
      assert.ok(!report.startText.includes(secret), `the start message holds the ${what}`);
      assert.ok(!report.environ.includes(secret), `the environment holds the ${what}`);
    }
    assert.ok(!report.startText.includes("gcs-service-account.json"), "names the CredentialsFile");
    assert.equal(report.start.runner.cache.type, "s3", "the executor still knows the cache type");
    assert.ok(report.environ.includes("PATH="), "the allow-listed environment arrives");
    assert.deepEqual(report.start.runner.envExpansion, { url: null, token: null });
  });
}
