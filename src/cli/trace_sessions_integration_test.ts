/**
 * TraceSessions against the fake GitLab over real HTTP: the job's variables
 * reach the trace uploader as the build resolves them.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { defaultRunnerConfig } from "../config/default_config.ts";
import { JobClient } from "../gitlab/job_client.ts";
import { createRunnerInfo } from "../gitlab/runner_info.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import type { Clock } from "../trace/clock.ts";
import { TraceSessions } from "./trace_sessions.ts";
import { SilentLogger } from "../log/logger.ts";
import { LogSink, StreamLogger } from "../log/log_sink.ts";

/** Time moves only by sleeps; past `limit` a sleep waits until released (or aborted). */
class ParkingClock implements Clock {
  time = 0;
  isParked = false;
  #release: (() => void) | null = null;
  constructor(readonly limit: number) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    if (this.time + ms > this.limit && this.#release === null) {
      this.isParked = true;
      await new Promise<void>((resolve) => {
        this.#release = resolve;
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
      return;
    }
    this.time += ms;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  release(): void {
    const release = this.#release;
    this.#release = () => {};
    release?.();
  }
}

const INFO = createRunnerInfo({
  version: "0.1.0-test",
  revision: "abcdef12",
  executor: "shell",
  shell: "bash",
});

/** "running" touches GitLab got in the first 90 s of a job that wrote once. */
async function touchesIn90s(flag: { variable?: string; config?: boolean }): Promise<number> {
  await using gitlab = await FakeGitLab.start({
    longPollHoldMs: 0,
    traceUpdateIntervalSeconds: 20,
  });
  const runnerToken = gitlab.createRunner().token;
  gitlab.enqueueJob({
    variables: flag.variable === undefined
      ? []
      : [{ key: "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL", value: flag.variable }],
  });
  const response = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runnerToken, info: { features: { refspecs: true } } }),
  });
  assert.equal(response.status, 201);
  const job = parseJobSpec(await response.json());
  const clock = new ParkingClock(90_000);
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO });
  const tempDir = await Deno.makeTempDir({ prefix: "trace-sessions-" });
  try {
    const sessions = new TraceSessions({
      clientFor: () => client,
      log: new SilentLogger(),
      tempDir,
      clock,
    });
    const runner = {
      ...defaultRunnerConfig("shell"),
      url: gitlab.url,
      token: runnerToken,
      featureFlags: flag.config === undefined
        ? {}
        : { FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL: flag.config },
    };
    const session = await sessions.open(runner, job, { onAbort() {}, onCancelRequested() {} });
    session.write(new TextEncoder().encode("one line\n"));
    for (let i = 0; i < 5000 && !clock.isParked; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(clock.isParked, "the uploader reached 90 s");
    const touches = gitlab.jobOf(job.id).updates.filter((u) => u["state"] === "running").length;
    clock.release();
    assert.equal(await session.finish({ state: "success" }), true);
    return touches;
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
}

Deno.test("FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL in [runners.feature_flags] stretches the touches to 4 × GitLab's interval; a job variable does not, as upstream", async () => {
  // Trace sent at 3 s, GitLab asks for 20 s: touches at 43 s and 83 s by default,
  // none before 103 s (4 × 20 s) with the flag.
  assert.equal(await touchesIn90s({ config: false }), 2);
  assert.equal(await touchesIn90s({ config: true }), 0);
  // Upstream's trace client reads the runner's config only (RunnerConfig.IsFeatureFlagOn).
  assert.equal(await touchesIn90s({ variable: "true" }), 2);
});

/** The `debug_trace` query of the job's trace PATCHes. */
async function debugTraceSent(
  variables: { key: string; value: string; file?: boolean }[],
  runnerOverrides: { environment?: string[]; debugTraceDisabled?: boolean } = {},
): Promise<string[]> {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runnerToken = gitlab.createRunner().token;
  gitlab.enqueueJob({ variables });
  const response = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runnerToken, info: { features: { refspecs: true } } }),
  });
  assert.equal(response.status, 201);
  const job = parseJobSpec(await response.json());
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO });
  const tempDir = await Deno.makeTempDir({ prefix: "trace-sessions-" });
  try {
    const sessions = new TraceSessions({
      clientFor: () => client,
      log: new SilentLogger(),
      tempDir,
    });
    const runner = {
      ...defaultRunnerConfig("shell"),
      url: gitlab.url,
      token: runnerToken,
      ...runnerOverrides,
    };
    const session = await sessions.open(runner, job, { onAbort() {}, onCancelRequested() {} });
    session.write(new TextEncoder().encode("+ set -o xtrace\n"));
    assert.equal(await session.finish({ state: "success" }), true);
    return gitlab.requests.filter((r) => r.endpoint === "patch_trace")
      .map((r) => r.url.searchParams.get("debug_trace") ?? "(none)");
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
}

Deno.test("CI_DEBUG_TRACE read as the build reads it marks the trace PATCHes debug_trace=true", async () => {
  // The build turns on xtrace for any Go boolean true; GitLab must be told the log is a debug trace.
  for (const value of ["true", "1", "TRUE", "t"]) {
    assert.deepEqual(await debugTraceSent([{ key: "CI_DEBUG_TRACE", value }]), ["true"], value);
  }
  assert.deepEqual(await debugTraceSent([], { environment: ["CI_DEBUG_TRACE=1"] }), ["true"]);
  // A file variable: the build (as the official runner) reads its value, not its path.
  assert.deepEqual(
    await debugTraceSent([{ key: "CI_DEBUG_TRACE", value: "true", file: true }]),
    ["true"],
  );
  for (const value of ["false", "0", "yes"]) {
    assert.deepEqual(await debugTraceSent([{ key: "CI_DEBUG_TRACE", value }]), ["false"], value);
  }
  // debug_trace_disabled: the build ignores CI_DEBUG_TRACE, so the log is not a debug trace.
  assert.deepEqual(
    await debugTraceSent([{ key: "CI_DEBUG_TRACE", value: "true" }], { debugTraceDisabled: true }),
    ["false"],
  );
});

Deno.test("CI_DEBUG_SERVICES marks the trace PATCHes debug_trace=true, as upstream's debug mode", async () => {
  // The log then holds the services' output, which may hold anything.
  assert.deepEqual(await debugTraceSent([{ key: "CI_DEBUG_SERVICES", value: "true" }]), ["true"]);
  assert.deepEqual(await debugTraceSent([], { environment: ["CI_DEBUG_SERVICES=1"] }), ["true"]);
  assert.deepEqual(await debugTraceSent([{ key: "CI_DEBUG_SERVICES", value: "false" }]), ["false"]);
  assert.deepEqual(
    await debugTraceSent([{ key: "CI_DEBUG_SERVICES", value: "true" }], {
      debugTraceDisabled: true,
    }),
    ["false"],
  );
});

Deno.test("a final update GitLab refuses is logged with its error and when it is tried again", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runnerToken = gitlab.createRunner().token;
  gitlab.enqueueJob({});
  const response = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runnerToken, info: { features: { refspecs: true } } }),
  });
  assert.equal(response.status, 201);
  const job = parseJobSpec(await response.json());
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO });
  let text = "";
  const sink = new LogSink({
    output: {
      writeSync(p: Uint8Array) {
        text += new TextDecoder().decode(p);
        return p.length;
      },
    },
    format: "json",
  });
  const tempDir = await Deno.makeTempDir({ prefix: "trace-sessions-" });
  try {
    const sessions = new TraceSessions({
      clientFor: () => client,
      log: new StreamLogger(sink),
      tempDir,
    });
    const runner = { ...defaultRunnerConfig("shell"), url: gitlab.url, token: runnerToken };
    const session = await sessions.open(runner, job, { onAbort() {}, onCancelRequested() {} });
    session.write(new TextEncoder().encode("done\n"));
    gitlab.injectFault({ endpoint: "update_job", status: 400, body: "{}", times: 1 });
    assert.equal(await session.finish({ state: "success" }), true);
    const line = text.split("\n").find((l) => l.includes("Final job update failed"));
    assert.ok(line, text);
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(record["level"], "warning");
    assert.equal(record["attempt"], 1);
    assert.equal(record["retry_in_s"], 1);
    assert.match(String(record["error"]), /400/);
  } finally {
    await Deno.remove(tempDir, { recursive: true });
  }
});
