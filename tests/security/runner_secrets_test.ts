/**
 * No runner secret outside the poller: with `token = "$GL_TOKEN"` in
 * config.toml and GL_TOKEN in the runner's environment, neither the start
 * message, nor the environment (/proc/<pid>/environ) or argv
 * (/proc/<pid>/cmdline) of the executor process holds the token or its name.
 * The poller side is real (JobSupervisor, SubprocessLauncher); the executor
 * process is a capture fixture that reports what it received.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../src/config/parse_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { parseJobSpec } from "../../src/job/job_spec.ts";
import type { Logger } from "../../src/log/logger.ts";
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

class QuietLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}

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

function runnerFromToml(env: Record<string, string>): RunnerConfig {
  const { config } = parseConfig(
    `concurrent = 1\n[[runners]]\nname = "r"\nurl = "http://127.0.0.1:9"\n` +
      `token = "$GL_TOKEN"\nexecutor = "shell"\n`,
    { file: "config.toml", env },
  );
  const runner = config.runners[0]!;
  assert.equal(runner.token, TOKEN); // the poller has it
  return runner;
}

for (const scoping of ["flags", "worker"] as const) {
  Deno.test(`${scoping}: start message, environ and argv of the executor process hold no runner token`, async () => {
    const env: Record<string, string> = {
      ...testEnv(),
      GL_TOKEN: TOKEN,
      CI_SERVER_TOKEN: TOKEN,
    };
    const runner = runnerFromToml(env);
    const traces = new CollectedTraces();
    const launcher = new SubprocessLauncher({
      execPath: Deno.execPath(),
      mainModule: CAPTURE,
      scoping,
      env,
    });
    const tempDir = await Deno.makeTempDir({ prefix: "runner-secrets-" });
    const supervisor = new JobSupervisor({
      log: new QuietLogger(),
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
    assert.ok(report.environ.includes("PATH="), "the allow-listed environment arrives");
    assert.deepEqual(report.start.runner.envExpansion, { url: null, token: null });
  });
}
