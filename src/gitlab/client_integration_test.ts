import assert from "node:assert/strict";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { GitRepo, relativeSubmoduleUrl } from "../../tests/fixtures/git_repo.ts";
import type { RequestEvent } from "./api_transport.ts";
import { GitLabApiError } from "./api_error.ts";
import type { Clock } from "./clock.ts";
import { ArtifactTransferError, JobClient } from "./job_client.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { createRunnerInfo } from "./runner_info.ts";
import { RunnerClient } from "./runner_client.ts";

/** Records waits and returns at once, so retries cost no wall time. */
class InstantClock implements Clock {
  readonly sleeps: number[] = [];
  now(): number {
    return Date.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    return Promise.resolve();
  }
}

const INFO = createRunnerInfo({
  version: "0.1.0-test",
  revision: "abcdef12",
  executor: "shell",
  shell: "bash",
});
const SYSTEM_ID = "s_0123456789ab";

function runnerClient(
  gitlab: FakeGitLab,
  token: string,
  extra: { clock?: Clock; onRequest?: (e: RequestEvent) => void } = {},
) {
  return new RunnerClient({
    url: gitlab.url,
    token,
    runnerInfo: INFO,
    systemId: SYSTEM_ID,
    ...extra,
  });
}

function jobClient(url: string, clock: Clock = new InstantClock()) {
  return new JobClient({ url, runnerInfo: INFO, clock });
}

function stream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function pickJob(client: RunnerClient) {
  const result = await client.requestJob();
  assert.equal(result.kind, "job", JSON.stringify(result));
  if (result.kind !== "job") throw new Error("unreachable");
  return result.job;
}

Deno.test("legacy registration returns the runner token and sends the registration body", async () => {
  await using gitlab = await FakeGitLab.start();
  using client = runnerClient(gitlab, "GR1348941fake-registration");
  const creds = await client.register({
    description: "box",
    tagList: ["linux", "docker"],
    runUntagged: false,
    locked: true,
    paused: false,
  });
  assert.match(creds.token, /^glrtr-/);
  assert.ok(creds.id > 0);
  assert.equal(gitlab.runnerOf(creds.id)?.tags.join(","), "linux,docker");
  const sent = gitlab.requestsTo("register_runner")[0]!;
  const body = sent.json as Record<string, unknown>;
  assert.equal(body["tag_list"], "linux,docker");
  assert.equal(body["paused"], false);
  assert.equal(sent.headers.get("RUNNER-TOKEN"), "GR1348941fake-registration");
  assert.match(
    sent.headers.get("User-Agent")!,
    /^gitlab-runner 0\.1\.0-test \(main; deno [^;]+; \w+\/\w+\)$/,
  );
  assert.match(sent.headers.get("X-Request-Id")!, /^[0-9a-f]{32}$/);
  assert.equal(sent.headers.get("Accept"), "application/json");
});

Deno.test("registration with a wrong token fails with a 403 error that says so", async () => {
  await using gitlab = await FakeGitLab.start();
  using client = runnerClient(gitlab, "GR1348941wrong");
  const error = await client.register({ runUntagged: true, locked: true, paused: false }).catch((
    e,
  ) => e);
  assert.ok(error instanceof GitLabApiError);
  assert.equal(error.status, 403);
  assert.match(error.message, /403.*check registration token/);
});

Deno.test("verify records the system id and reports 403 for an unknown token", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  using client = runnerClient(gitlab, runner.token);
  const verified = await client.verify();
  assert.equal(verified.id, runner.id);
  assert.deepEqual(gitlab.runnerOf(runner.id)?.managers, [SYSTEM_ID]);
  using bad = runnerClient(gitlab, "glrt-nope");
  const error = await bad.verify().catch((e) => e);
  assert.ok(error instanceof GitLabApiError && error.isForbidden, String(error));
});

Deno.test("verify against an old GitLab answering text re-sends once and reports id 0", async () => {
  await using gitlab = await FakeGitLab.start({ legacyVerifyText: true });
  const runner = gitlab.createRunner({ kind: "registered" });
  using client = runnerClient(gitlab, runner.token);
  const verified = await client.verify();
  assert.deepEqual(verified, { id: 0, tokenExpiresAt: "", isLegacyText: true });
  assert.equal(gitlab.requestsTo("verify_runner").length, 2);
});

Deno.test("unregister deletes the manager for glrt- tokens and the runner for legacy tokens", async () => {
  await using gitlab = await FakeGitLab.start();
  const created = gitlab.createRunner();
  using a = runnerClient(gitlab, created.token);
  await a.verify();
  await a.unregister();
  assert.deepEqual(gitlab.runnerOf(created.id)?.managers, []);
  const again = await a.unregister().catch((e) => e);
  assert.ok(again instanceof GitLabApiError && again.status === 404, String(again));
  assert.match(again.message, /runner manager not found/);

  const legacy = gitlab.createRunner({ kind: "registered" });
  using b = runnerClient(gitlab, legacy.token);
  await b.unregister();
  assert.equal(gitlab.runnerOf(legacy.id), undefined);
  const sent = gitlab.requestsTo("unregister_runner")[0]!;
  assert.deepEqual(sent.json, { token: legacy.token });
  const gone = await b.unregister().catch((e) => e);
  assert.ok(gone instanceof GitLabApiError && gone.status === 403);
});

Deno.test("token reset switches the client to the new token; PAT variant sends null", async () => {
  await using gitlab = await FakeGitLab.start({ tokenExpiresInSeconds: 3600 });
  const runner = gitlab.createRunner();
  using client = runnerClient(gitlab, runner.token);
  const reset = await client.resetToken();
  assert.notEqual(reset.token, runner.token);
  assert.equal(client.token, reset.token);
  assert.ok(reset.tokenExpiresAt !== "");
  assert.match(reset.tokenObtainedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal((await client.verify()).id, runner.id);
  using old = runnerClient(gitlab, runner.token);
  assert.equal((await old.verify().catch((e) => e)).status, 403);

  const viaPat = await client.resetToken({
    personalAccessToken: { runnerId: runner.id, token: "glpat-fake-admin" },
  });
  assert.equal(gitlab.runnerOf(runner.id)?.token, viaPat.token);
  const patRequest = gitlab.requestsTo("reset_token").at(-1)!;
  assert.equal(patRequest.json, null);
  assert.equal(patRequest.headers.get("PRIVATE-TOKEN"), "glpat-fake-admin");
  const denied = await client.resetToken({
    personalAccessToken: { runnerId: runner.id, token: "glpat-wrong" },
  })
    .catch((e) => e);
  assert.ok(denied instanceof GitLabApiError && denied.status === 403);
  assert.match(denied.message, /check used token/);
});

Deno.test("requestJob gives the job GitLab's X-Request-Id as its correlation ID, else the one it sent", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runner = gitlab.createRunner();
  using client = runnerClient(gitlab, runner.token);
  const answer = (requestId: string) =>
    gitlab.injectFault({
      endpoint: "request_job",
      status: 201,
      headers: { "X-Request-Id": requestId },
      body: JSON.stringify({ id: 7, token: "t" }),
      times: 1,
    });
  const sentId = () => gitlab.requestsTo("request_job").at(-1)!.headers.get("X-Request-Id");
  answer("01HGW7-gitlab");
  assert.equal((await pickJob(client)).requestCorrelationId, "01HGW7-gitlab");
  // Not of Rails' shape: it would go into git's config and the job log as is.
  answer("x; rm -rf /");
  assert.equal((await pickJob(client)).requestCorrelationId, sentId());
  gitlab.enqueueJob({ script: ["true"] });
  const job = await pickJob(client);
  assert.match(job.requestCorrelationId, /^[0-9a-f]{32}$/);
  assert.equal(job.requestCorrelationId, sentId());
});

Deno.test("requestJob returns none with 204, stores last_update, then gets an enqueued job", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runner = gitlab.createRunner();
  const events: RequestEvent[] = [];
  using client = runnerClient(gitlab, runner.token, { onRequest: (e) => events.push(e) });
  // The first answer names a queue version we had not seen: worth asking again at once.
  assert.deepEqual(await client.requestJob(), { kind: "none", isQueueChanged: true });
  assert.equal(client.lastUpdate, gitlab.queueVersionOf(runner.id));
  // Asked again with that version and nothing changed: a plain "none".
  assert.deepEqual(await client.requestJob(), { kind: "none" });
  const enqueued = gitlab.enqueueJob({ script: ["echo hi"] });
  const job = await pickJob(client);
  assert.equal(job.id, enqueued.id);
  assert.equal(job.token, enqueued.token);
  assert.ok(job.gitInfo.repoUrl.includes(`gitlab-ci-token:${enqueued.token}@`));
  const sent = gitlab.requestsTo("request_job").at(-1)!.json as Record<string, unknown>;
  assert.equal(sent["system_id"], SYSTEM_ID);
  const features = (sent["info"] as Record<string, Record<string, boolean>>)["features"]!;
  assert.equal(features["cancel_gracefully"], true);
  assert.equal(features["image"], false);
  assert.deepEqual(events.map((e) => [e.endpoint, e.status]), [
    ["request_job", 204],
    ["request_job", 204],
    ["request_job", 201],
  ]);
  assert.equal(gitlab.jobOf(job.id).status, "running");
});

Deno.test("a long poll held by the server is released by an enqueued job", async () => {
  // The hold is far longer than the test could wait: release must come from the enqueue.
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 120_000 });
  const runner = gitlab.createRunner();
  using client = runnerClient(gitlab, runner.token);
  assert.equal((await client.requestJob()).kind, "none");
  const stored = client.lastUpdate;
  const held = client.requestJob();
  await gitlab.waitFor(() => gitlab.requestsTo("request_job").length === 2, {
    what: "the held request",
  });
  gitlab.enqueueJob();
  // Workhorse answers 204 without X-GitLab-Last-Update: the old value is kept.
  // Released by the queue change: a bare 204, which tells the poller to ask again at once.
  assert.deepEqual(await held, { kind: "none", isQueueChanged: true });
  assert.equal(client.lastUpdate, stored);
  const job = await pickJob(client);
  assert.ok(job.id > 0);
});

Deno.test("requestJob retries 502, 503 and 429 with Retry-After before succeeding", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  gitlab.injectFault({ endpoint: "request_job", status: 502, times: 1 });
  gitlab.injectFault({ endpoint: "request_job", status: 503, times: 1 });
  gitlab.injectFault({
    endpoint: "request_job",
    status: 429,
    headers: { "Retry-After": "7" },
    times: 1,
  });
  const clock = new InstantClock();
  using client = runnerClient(gitlab, runner.token, { clock });
  await pickJob(client);
  assert.deepEqual(gitlab.requestsTo("request_job").map((r) => r.status), [502, 503, 429, 201]);
  assert.equal(clock.sleeps.length, 3);
  assert.equal(clock.sleeps[2], 7000);
});

Deno.test("requestJob gives up after five attempts and reports 503 as unavailable but healthy", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.injectFault({ endpoint: "request_job", status: 503 });
  using client = runnerClient(gitlab, runner.token, { clock: new InstantClock() });
  const result = await client.requestJob();
  assert.equal(result.kind, "error");
  if (result.kind !== "error") return;
  assert.equal(result.healthy, true);
  assert.equal(result.status, 503);
  assert.match(result.message, /GitLab instance currently unavailable/);
  assert.equal(gitlab.requestsTo("request_job").length, 5);
});

Deno.test("requestJob reports 403 and dropped connections as unhealthy without retrying", async () => {
  await using gitlab = await FakeGitLab.start();
  using bad = runnerClient(gitlab, "glrt-unknown");
  const forbidden = await bad.requestJob();
  assert.ok(forbidden.kind === "error" && !forbidden.healthy && forbidden.status === 403);
  assert.match(forbidden.message, /forbidden/);

  const runner = gitlab.createRunner();
  // Every request dropped: fetch itself may resend once on a reused connection.
  gitlab.injectFault({ endpoint: "request_job", drop: true });
  const clock = new InstantClock();
  using client = runnerClient(gitlab, runner.token, { clock });
  const dropped = await client.requestJob();
  assert.ok(
    dropped.kind === "error" && !dropped.healthy && dropped.status === 0,
    JSON.stringify(dropped),
  );
  assert.match(dropped.message, /Cannot reach GitLab/);
  assert.deepEqual(clock.sleeps, [], "network errors are not retried by the transport");
});

Deno.test("requestJob treats an HTML 201 as an unhealthy error naming the content type", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.injectFault({
    endpoint: "request_job",
    status: 201,
    contentType: "text/html; charset=utf-8",
    body: "<html>maintenance</html>",
  });
  using client = runnerClient(gitlab, runner.token);
  const result = await client.requestJob();
  assert.ok(result.kind === "error" && !result.healthy, JSON.stringify(result));
  assert.match(result.message, /expected Content-Type "application\/json", got "text\/html"/);
});

Deno.test("requestJob treats garbage JSON as an error", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.injectFault({
    endpoint: "request_job",
    status: 201,
    contentType: "application/json",
    body: "{nope",
  });
  using client = runnerClient(gitlab, runner.token);
  const result = await client.requestJob();
  assert.ok(result.kind === "error" && !result.healthy);
  assert.match(result.message, /not valid JSON/);
});

Deno.test("a 201 with a wrong-typed job names the field and exposes the job to fail", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  const enqueued = gitlab.enqueueJob({ payload: { steps: "rm -rf /" } });
  using client = runnerClient(gitlab, runner.token);
  const result = await client.requestJob();
  assert.ok(result.kind === "error" && !result.healthy, JSON.stringify(result));
  assert.match(result.message, /"steps": expected an array, got a string/);
  assert.deepEqual(result.invalidJob, { id: enqueued.id, token: enqueued.token });
  using jobs = jobClient(gitlab.url);
  const update = await jobs.updateJob(enqueued, {
    state: "failed",
    failureReason: "runner_system_failure",
  });
  assert.equal(update.kind, "ok");
  assert.equal(gitlab.jobOf(enqueued.id).failureReason, "runner_system_failure");
});

Deno.test("trace patches append, resync after 416 and carry the server's interval", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 42 });
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  using jobs = jobClient(gitlab.url);
  const ref = { id: job.id, token: job.token };
  const enc = new TextEncoder();
  assert.deepEqual(await jobs.patchTrace(ref, enc.encode("hello "), 0), {
    kind: "accepted",
    jobStatus: "running",
    updateIntervalSeconds: 42,
  });
  assert.equal(gitlab.requestsTo("patch_trace")[0]!.headers.get("Content-Range"), "0-5");
  assert.equal(gitlab.requestsTo("patch_trace")[0]!.url.search, "?debug_trace=false");
  const mismatch = await jobs.patchTrace(ref, enc.encode("world"), 3);
  assert.deepEqual(mismatch, { kind: "range-mismatch", serverSize: 6, jobStatus: "running" });
  assert.equal((await jobs.patchTrace(ref, enc.encode("world"), 6)).kind, "accepted");
  assert.equal(gitlab.traceOf(job.id), "hello world");
  assert.deepEqual(await jobs.patchTrace(ref, new Uint8Array(0), 11), { kind: "accepted" });
  assert.equal(
    (await jobs.patchTrace({ ...ref, token: "wrong" }, enc.encode("x"), 11)).kind,
    "abort",
  );
});

Deno.test("a PATCH answered 200 is a failure, not success", async () => {
  await using gitlab = await FakeGitLab.start();
  gitlab.injectFault({ endpoint: "patch_trace", status: 200, body: "{}" });
  using jobs = jobClient(gitlab.url);
  const result = await jobs.patchTrace({ id: 1, token: "t" }, new Uint8Array([65]), 0);
  assert.equal(result.kind, "failed");
  assert.ok(result.kind === "failed" && result.status === 200);
});

Deno.test("Job-Status canceling is reported; canceled aborts before the status code counts", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  using jobs = jobClient(gitlab.url);
  const ref = { id: job.id, token: job.token };
  assert.equal((await jobs.updateJob(ref, { state: "running" })).kind, "ok");
  gitlab.cancelJob(job.id, { graceful: true });
  const patched = await jobs.patchTrace(ref, new TextEncoder().encode("x"), 0);
  assert.equal(patched.kind, "accepted");
  assert.equal(patched.kind === "accepted" && patched.jobStatus, "canceling");
  assert.deepEqual(await jobs.updateJob(ref, { state: "running" }), {
    kind: "ok",
    jobStatus: "canceling",
  });
  gitlab.cancelJob(job.id);
  assert.deepEqual(await jobs.patchTrace(ref, new TextEncoder().encode("y"), 1), {
    kind: "abort",
    jobStatus: "canceled",
  });
  assert.deepEqual(await jobs.updateJob(ref, { state: "failed" }), {
    kind: "abort",
    jobStatus: "canceled",
  });
  // A 200 that says "canceled" still aborts.
  gitlab.injectFault({
    endpoint: "update_job",
    status: 200,
    headers: { "Job-Status": "canceled" },
    body: "{}",
  });
  assert.equal((await jobs.updateJob(ref, { state: "running" })).kind, "abort");
});

Deno.test("the final update loops on 202 and the stored trace matches the checksum", async () => {
  await using gitlab = await FakeGitLab.start({
    finalUpdateAcceptCount: 2,
    finalUpdateIntervalSeconds: 5,
  });
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  using jobs = jobClient(gitlab.url);
  const ref = { id: job.id, token: job.token };
  const bytes = new TextEncoder().encode("line 1\nline 2\n");
  await jobs.patchTrace(ref, bytes, 0);
  const { crc32Checksum } = await import("../../tests/fixtures/fake_gitlab.ts");
  const update = {
    state: "failed" as const,
    failureReason: "script_failure",
    checksum: crc32Checksum(bytes),
    bytesize: bytes.byteLength,
    exitCode: 2,
  };
  assert.deepEqual(await jobs.updateJob(ref, update), {
    kind: "accepted",
    jobStatus: "running",
    updateIntervalSeconds: 5,
  });
  assert.equal((await jobs.updateJob(ref, update)).kind, "accepted");
  assert.equal((await jobs.updateJob(ref, update)).kind, "ok");
  const state = gitlab.jobOf(job.id);
  assert.equal(state.status, "failed");
  assert.equal(state.failureReason, "script_failure");
  assert.equal(state.exitCode, 2);
  assert.ok(gitlab.checkTrace(job.id).ok, JSON.stringify(gitlab.checkTrace(job.id)));
  const body = state.updates.at(-1)!;
  assert.deepEqual(body["output"], { checksum: update.checksum, bytesize: bytes.byteLength });
  assert.equal(body["token"], job.token);
  assert.equal(await jobs.updateJob(ref, update).then((r) => r.kind), "abort");
});

Deno.test("updateJob maps 412, 404 and other statuses", async () => {
  await using gitlab = await FakeGitLab.start();
  using jobs = jobClient(gitlab.url);
  const ref = { id: 5, token: "t" };
  gitlab.injectFault({ endpoint: "update_job", status: 412, times: 1 });
  assert.deepEqual(await jobs.updateJob(ref, { state: "success" }), { kind: "trace-invalid" });
  assert.deepEqual(await jobs.updateJob(ref, { state: "success" }), { kind: "not-found" });
  gitlab.injectFault({
    endpoint: "update_job",
    status: 409,
    body: '{"message":"conflict"}',
    times: 1,
  });
  const conflict = await jobs.updateJob(ref, { state: "success" });
  assert.ok(
    conflict.kind === "failed" && conflict.status === 409 && /conflict/.test(conflict.error ?? ""),
  );
});

Deno.test("artifact upload streams a multipart file with query params and follows a 307", async () => {
  await using gitlab = await FakeGitLab.start({ artifactUploadRedirect: true });
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  using jobs = jobClient(gitlab.url);
  const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
  await jobs.uploadArtifact(job, {
    fileName: "junit.xml.gz",
    format: "gzip",
    type: "junit",
    expireIn: "1 week",
    open: () => stream(bytes),
  });
  const stored = gitlab.artifactsOf(job.id);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.fileName, "junit.xml.gz");
  assert.equal(stored[0]!.artifactType, "junit");
  assert.equal(stored[0]!.expireIn, "1 week");
  assert.deepEqual(stored[0]!.bytes, bytes);
  const uploads = gitlab.requestsTo("upload_artifacts");
  assert.deepEqual(uploads.map((r) => [r.url.origin, r.status]), [
    [gitlab.url, 307],
    [gitlab.objectStorageUrl, 201],
  ]);
});

Deno.test("artifact upload fails at once on 413 with a clear message", async () => {
  await using gitlab = await FakeGitLab.start({ artifactSizeLimitBytes: 1000 });
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  using jobs = jobClient(gitlab.url);
  const error = await jobs.uploadArtifact(job, {
    fileName: "artifacts.zip",
    format: "",
    type: "",
    expireIn: "",
    open: () => stream(new Uint8Array(5000)),
  }).catch((e) => e);
  assert.ok(error instanceof ArtifactTransferError, String(error));
  assert.equal(error.kind, "too_large");
  assert.match(error.message, /artifacts\.zip.*413.*larger than the maximum artifacts size/);
  assert.equal(gitlab.requestsTo("upload_artifacts").length, 1);
  assert.equal(gitlab.requestsTo("upload_artifacts")[0]!.url.href.endsWith("/artifacts?"), true);
});

Deno.test("artifact upload retries a 503 six times then fails; 403 fails at once", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner();
  gitlab.enqueueJob();
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  gitlab.injectFault({ endpoint: "upload_artifacts", status: 503 });
  const clock = new InstantClock();
  using jobs = new JobClient({
    url: gitlab.url,
    runnerInfo: INFO,
    clock,
    retryPolicy: new RetryPolicy({ maxAttempts: 1 }),
  });
  let opened = 0;
  const upload = {
    fileName: "a.zip",
    format: "zip",
    type: "archive",
    expireIn: "",
    open: () => {
      opened++;
      return stream(new Uint8Array([1, 2, 3]));
    },
  };
  const error = await jobs.uploadArtifact(job, upload).catch((e) => e);
  assert.ok(error instanceof ArtifactTransferError && error.kind === "failed", String(error));
  assert.equal(gitlab.requestsTo("upload_artifacts").length, 6);
  assert.equal(opened, 6);
  assert.deepEqual(clock.sleeps, [1000, 2000, 4000, 5000, 5000]);
  gitlab.clearFaults();
  const forbidden = await jobs.uploadArtifact({ ...job, token: "wrong" }, upload).catch((e) => e);
  assert.ok(forbidden instanceof ArtifactTransferError && forbidden.kind === "forbidden");
  assert.equal(gitlab.requestsTo("upload_artifacts").length, 7);
});

Deno.test("artifact download uses direct_download, follows the 302 and streams the bytes", async () => {
  await using gitlab = await FakeGitLab.start({ directDownloadRedirect: true });
  const bytes = new TextEncoder().encode("PK fake zip");
  const dep = gitlab.createFinishedJob({ artifact: bytes });
  using jobs = jobClient(gitlab.url);
  assert.deepEqual(await readAll(await jobs.downloadArtifact(dep)), bytes);
  const calls = gitlab.requests.filter((r) =>
    r.endpoint === "download_artifacts" || r.endpoint === "object_storage"
  );
  assert.deepEqual(calls.map((r) => [r.endpoint, r.status, r.url.search]), [
    ["download_artifacts", 302, "?direct_download=true"],
    ["download_artifacts", 302, "?direct_download=true"],
    ["object_storage", 200, "?signature=fake"],
  ]);
});

Deno.test("artifact download refused by object storage names it and its message, not the job token", async () => {
  await using gitlab = await FakeGitLab.start({ directDownloadRedirect: true });
  const dep = gitlab.createFinishedJob({ artifact: new TextEncoder().encode("PK fake zip") });
  gitlab.injectFault({
    endpoint: "object_storage",
    status: 403,
    body:
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
    contentType: "application/xml",
  });
  using jobs = jobClient(gitlab.url);
  const error = await jobs.downloadArtifact(dep, { tries: 1 }).catch((e) => e);
  assert.ok(error instanceof ArtifactTransferError, String(error));
  const storage = new URL(gitlab.objectStorageUrl).host;
  assert.equal(
    error.message,
    `Cannot download artifacts of job ${dep.id}: object storage at "${storage}" answered 403 Forbidden: Request has expired (AccessDenied)`,
  );
});

Deno.test("artifact download: 404 and 403 are final, other failures retry without direct_download", async () => {
  await using gitlab = await FakeGitLab.start();
  const dep = gitlab.createFinishedJob({ artifact: new Uint8Array([9]) });
  const clock = new InstantClock();
  using jobs = jobClient(gitlab.url, clock);
  const missing = gitlab.createFinishedJob();
  const notFound = await jobs.downloadArtifact(missing).catch((e) => e);
  assert.ok(
    notFound instanceof ArtifactTransferError && notFound.kind === "not_found",
    String(notFound),
  );
  const forbidden = await jobs.downloadArtifact({ id: dep.id, token: "nope" }).catch((e) => e);
  assert.ok(forbidden instanceof ArtifactTransferError && forbidden.kind === "forbidden");
  gitlab.injectFault({ endpoint: "download_artifacts", status: 400, times: 1 });
  assert.deepEqual(await readAll(await jobs.downloadArtifact(dep)), new Uint8Array([9]));
  const last = gitlab.requestsTo("download_artifacts").slice(-2);
  assert.deepEqual(last.map((r) => r.url.href.split("/artifacts")[1]), [
    "?direct_download=true",
    "?",
  ]);
  assert.deepEqual(clock.sleeps, [1000]);
});

Deno.test("git clone through the fake works with a running job's token and fails without it", async () => {
  await using gitlab = await FakeGitLab.start();
  const repo = await GitRepo.create(gitlab.projectRoot, "acme/widget");
  const sha = await repo.commit({ files: { "README.md": "hello\n", "src/a.txt": "a\n" } });
  const runner = gitlab.createRunner();
  const enqueued = gitlab.enqueueJob({ project: "acme/widget" });
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  assert.equal(job.gitInfo.sha, sha);
  const dir = await Deno.makeTempDir();
  try {
    const env = { GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", HOME: dir };
    const clone = await new Deno.Command("git", {
      args: ["clone", "--quiet", job.gitInfo.repoUrl, `${dir}/ok`],
      env,
      stderr: "piped",
    }).output();
    assert.ok(clone.success, new TextDecoder().decode(clone.stderr));
    assert.equal(await Deno.readTextFile(`${dir}/ok/src/a.txt`), "a\n");
    const fetchPipeline = await new Deno.Command("git", {
      args: ["-C", `${dir}/ok`, "fetch", "--quiet", "origin", ...job.gitInfo.refspecs],
      env,
      stderr: "piped",
    }).output();
    assert.ok(fetchPipeline.success, new TextDecoder().decode(fetchPipeline.stderr));
    const denied = await new Deno.Command("git", {
      args: ["clone", "--quiet", `${gitlab.url}/acme/widget.git`, `${dir}/denied`],
      env,
      stderr: "piped",
    }).output();
    assert.equal(denied.success, false);
    assert.match(
      new TextDecoder().decode(denied.stderr),
      /Authentication failed|could not read Username|401/,
    );
    assert.equal(gitlab.jobOf(enqueued.id).status, "running");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a submodule on the same fake server is cloned with the job's credentials", async () => {
  await using gitlab = await FakeGitLab.start();
  const lib = await GitRepo.create(gitlab.projectRoot, "acme/lib");
  const libSha = await lib.commit({ files: { "lib.txt": "library\n" } });
  const app = await GitRepo.create(gitlab.projectRoot, "acme/app");
  await app.commit({
    files: {
      "main.txt": "app\n",
      "vendor/lib": {
        submodule: { url: relativeSubmoduleUrl("acme/app", "acme/lib"), sha: libSha },
      },
    },
  });
  const tagged = await app.commit({ files: { "main.txt": "v2\n" }, branch: "release" });
  await app.tag("v2.0", tagged, { message: "release 2" });
  const runner = gitlab.createRunner();
  gitlab.enqueueJob({ project: "acme/app", ref: "v2.0", refType: "tag" });
  using client = runnerClient(gitlab, runner.token);
  const job = await pickJob(client);
  assert.equal(job.gitInfo.sha, tagged);
  assert.ok(job.gitInfo.refspecs.includes("+refs/tags/v2.0:refs/tags/v2.0"));
  const dir = await Deno.makeTempDir();
  try {
    const env = { GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", HOME: dir };
    const clone = await new Deno.Command("git", {
      args: [
        "clone",
        "--quiet",
        "--recurse-submodules",
        "--branch",
        "v2.0",
        job.gitInfo.repoUrl,
        `${dir}/app`,
      ],
      env,
      stderr: "piped",
    }).output();
    assert.ok(clone.success, new TextDecoder().decode(clone.stderr));
    assert.equal(await Deno.readTextFile(`${dir}/app/main.txt`), "v2\n");
    assert.equal(await Deno.readTextFile(`${dir}/app/vendor/lib/lib.txt`), "library\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a GitLab that never answers ends the request after the response header timeout, not never", async () => {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runner = gitlab.createRunner({ kind: "created" });
  // A connection that went silent: the answer would come after the test's end.
  gitlab.injectFault({ endpoint: "request_job", delayMs: 4000, times: 1 });
  using client = new RunnerClient({
    url: gitlab.url,
    token: runner.token,
    runnerInfo: INFO,
    systemId: SYSTEM_ID,
    responseHeaderTimeoutMs: 300,
  });
  const started = performance.now();
  const result = await client.requestJob();
  assert.ok(performance.now() - started < 3000, "the request ended before the answer came");
  assert.equal(result.kind, "error");
  assert.match(
    result.kind === "error" ? result.message : "",
    /Cannot reach GitLab for "POST \/api\/v4\/jobs\/request": no answer within 0\.3 s/,
  );
  // The next request, answered, goes through as usual.
  assert.equal((await client.requestJob()).kind, "none");
});

Deno.test("an artifact upload GitLab took whole and never answers ends after the response header timeout", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ variables: [] });
  using runnerApi = runnerClient(gitlab, runner.token);
  const job = await pickJob(runnerApi);
  // A GitLab whose answer would come after the test's end.
  gitlab.injectFault({ endpoint: "upload_artifacts", delayMs: 4000, times: 1 });
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO, responseHeaderTimeoutMs: 300 });
  const started = performance.now();
  const error = await client.postArtifact({ id: job.id, token: job.token }, {
    fileName: "artifacts.zip",
    format: "zip",
    type: "archive",
    expireIn: "",
    body: new Blob([new TextEncoder().encode("archive")]).stream(),
    baseUrl: "",
  }).catch((e) => e);
  assert.ok(performance.now() - started < 3000, "the upload ended before the answer came");
  assert.match(
    String(error?.message),
    /Cannot reach GitLab for "POST \/api\/v4\/jobs\/\d+\/artifacts": no answer within 0\.3 s/,
  );
});

Deno.test("an artifact upload whose body cannot be read says so, not that GitLab was not reached", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ variables: [] });
  using runnerApi = runnerClient(gitlab, runner.token);
  const job = await pickJob(runnerApi);
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO });
  let sent = false;
  const error = await client.postArtifact({ id: job.id, token: job.token }, {
    fileName: "artifacts.zip",
    format: "zip",
    type: "archive",
    expireIn: "",
    // As an archive stream fails on a file the job's user may not read.
    body: new ReadableStream({
      pull(c) {
        if (sent) throw new Error('Cannot read "out/secret": Permission denied (os error 13)');
        sent = true;
        c.enqueue(new TextEncoder().encode("PK"));
      },
    }),
    baseUrl: "",
  }).catch((e) => e);
  assert.match(
    String(error?.message),
    /^Cannot send "POST \/api\/v4\/jobs\/\d+\/artifacts": Cannot read "out\/secret": Permission denied/,
  );
});

Deno.test("an artifact upload slower to send than the response header timeout is not cut", async () => {
  await using gitlab = await FakeGitLab.start();
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ variables: [] });
  using runnerApi = runnerClient(gitlab, runner.token);
  const job = await pickJob(runnerApi);
  using client = new JobClient({ url: gitlab.url, runnerInfo: INFO, responseHeaderTimeoutMs: 300 });
  const bytes = new TextEncoder().encode("slow archive");
  await client.uploadArtifact({ id: job.id, token: job.token }, {
    fileName: "artifacts.zip",
    format: "zip",
    type: "archive",
    expireIn: "",
    // The archive takes a second to write, three timeouts' worth.
    open: () =>
      new ReadableStream({
        async pull(c) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          c.enqueue(bytes);
          c.close();
        },
      }),
  });
  assert.deepEqual(gitlab.artifactsOf(job.id)[0]?.bytes, bytes);
});
