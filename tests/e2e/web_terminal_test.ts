/**
 * End to end: the web terminal of `[session_server]`. `runner run` sends
 * GitLab a session (URL, certificate, authorization) with each job request;
 * a real websocket client, trusting only that certificate as GitLab's
 * workhorse does, opens a terminal into the running job, types, reads, and
 * keeps the job open after its script until it disconnects or the session
 * times out.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
// deno-lint-ignore no-console -- a skipped test says why
if (dockerReason) console.warn(`SKIP docker web terminal test: ${dockerReason}`);

function config(runner: string, sessionTimeout: number | null): string {
  const session = sessionTimeout === null
    ? ""
    : `[session_server]\n  listen_address = "127.0.0.1:0"\n  session_timeout = ${sessionTimeout}\n\n`;
  return `concurrent = 1\ncheck_interval = 1\n\n${session}${runner}`;
}

/** The script waits until the terminal creates the file, so the terminal meets a running job. */
function waitForTerminalScript(mark: string): string[] {
  return [`until [ -e ${mark} ]; do sleep 0.2; done`, "echo script finished"];
}

async function waitFor<T>(what: string, probe: () => T | null, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A websocket terminal client as workhorse is one: the session's certificate as its only CA. */
class TerminalClient {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  output = "";

  constructor(url: string, options: { authorization: string; certificate: string }) {
    // HTTP/1.1, as workhorse (gorilla/websocket) dials.
    const client = Deno.createHttpClient({ caCerts: [options.certificate], http2: false });
    const wsUrl = url.replace(/^https:/, "wss:") + "/exec";
    // Deno's WebSocket takes headers and an HTTP client (for the CA) besides the subprotocols.
    const init = {
      protocols: ["terminal.gitlab.com"],
      headers: { Authorization: options.authorization },
      client,
    };
    this.socket = new WebSocket(wsUrl, init as unknown as string[]);
    this.socket.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<void>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.socket.onopen = () => opened.resolve();
    this.socket.onerror = () => opened.reject(new Error("websocket failed to open"));
    this.socket.onclose = () => {
      opened.reject(new Error("websocket closed before it opened"));
      closed.resolve();
      client.close();
    };
    this.opened.catch(() => {});
    this.socket.onmessage = (e: MessageEvent) => {
      assert.ok(e.data instanceof ArrayBuffer, "terminal.gitlab.com sends binary frames");
      this.output += new TextDecoder().decode(e.data);
    };
  }

  type(text: string): void {
    this.socket.send(new TextEncoder().encode(text));
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `terminal output ${pattern}`,
      () => pattern.test(this.output) ? true : null,
      timeoutMs,
    )
      .catch((err) => {
        throw new Error(`${err.message}; terminal showed:\n${this.output}`);
      });
  }
}

async function runningSession(gitlab: FakeGitLab, jobId: number) {
  return await waitFor("the job to run with a session", () => {
    const state = gitlab.jobOf(jobId);
    return state.status === "running" ? gitlab.runnerSessionOf(jobId) : null;
  });
}

Deno.test("shell job: the session reaches GitLab, a websocket terminal runs commands, the job waits for it", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token), 1800) });
  const mark = `/tmp/runner-terminal-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({ script: waitForTerminalScript(mark), variables: NO_GIT });
  const session = await runningSession(gitlab, job.id);
  assert.ok(session, `the request that took the job carried a session\n${runner.log}`);
  assert.match(session.url, /^https:\/\/127\.0\.0\.1:\d+\/session\/[0-9a-f]{64}$/);
  assert.match(session.certificate, /^-----BEGIN CERTIFICATE-----\n/);
  assert.match(session.authorization, /^[0-9a-f]{64}$/);

  const client = Deno.createHttpClient({ caCerts: [session.certificate] });
  try {
    const wrong = await fetch(`${session.url}/exec`, {
      client,
      headers: { Authorization: "nope" },
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401, "a wrong authorization is refused");
    const plain = await fetch(`${session.url}/exec`, {
      client,
      headers: { Authorization: session.authorization },
    });
    await plain.body?.cancel();
    assert.equal(plain.status, 405, "the exec endpoint wants a websocket");
    const other = await fetch(session.url.replace(/[0-9a-f]{64}$/, "0".repeat(64)) + "/exec", {
      client,
      headers: { Authorization: session.authorization },
    });
    await other.body?.cancel();
    assert.equal(other.status, 404, "another session id is unknown");
  } finally {
    client.close();
  }
  const refused = new TerminalClient(session.url, { ...session, authorization: "wrong" });
  await assert.rejects(refused.opened, "a websocket with a wrong authorization does not open");

  const terminal = new TerminalClient(session.url, session);
  await terminal.opened;
  assert.equal(terminal.socket.protocol, "terminal.gitlab.com");
  // `hel''lo` prints hello: the echo of what was typed does not match /hello/ by itself.
  terminal.type(`echo hel''lo; pwd; touch ${mark}\n`);
  await terminal.waitForOutput(/[\r\n]hello\r\n/);
  // The shell starts where the job's shell does: the runner's working directory.
  await terminal.waitForOutput(new RegExp(`[\\r\\n]${runner.dir}\\r\\n`));

  const trace = await waitFor("the job to wait for the terminal", () => {
    const text = gitlab.traceOf(job.id);
    return /Terminal is connected, will time out in 30m0s\.\.\./.test(text) ? text : null;
  });
  assert.match(trace, /script finished/);
  assert.equal(gitlab.jobOf(job.id).status, "running", "the job stays open while connected");
  terminal.socket.close();
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  await Deno.remove(mark).catch(() => {});
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(
    state.trace,
    /Terminal is connected, will time out in 30m0s\.\.\.[\s\S]*Terminal disconnected/,
  );
  assert.match(state.trace, /Terminal disconnected[\s\S]*Job succeeded/);
  assert.match(runner.log, /Session server listening/);
});

/** A websocket client that types one line and then reads nothing (a stalled connection). */
async function stalledClient(
  session: { url: string; certificate: string; authorization: string },
  line: string,
): Promise<Deno.TlsConn> {
  const url = new URL(session.url);
  const conn = await Deno.connectTls({
    hostname: url.hostname,
    port: Number(url.port),
    caCerts: [session.certificate],
  });
  const encoder = new TextEncoder();
  await conn.write(encoder.encode(
    `GET ${url.pathname}/exec HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Authorization: ${session.authorization}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Protocol: terminal.gitlab.com\r\n\r\n",
  ));
  const head = new Uint8Array(1024);
  const n = await conn.read(head);
  assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 101 /);
  // One masked binary frame with the line (a 16-bit length).
  const payload = encoder.encode(line);
  const mask = [7, 11, 13, 17];
  const frame = new Uint8Array([
    0x82,
    0x80 | 126,
    payload.length >> 8,
    payload.length & 0xff,
    ...mask,
    ...payload,
  ]);
  for (let i = 0; i < payload.length; i++) frame[8 + i]! ^= mask[i % 4]!;
  await conn.write(frame);
  return conn;
}

/** Bytes process `pid` has written so far (/proc/<pid>/io). */
function bytesWritten(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/io`))?.[1]);
}

/** The pid of a process whose command line ends in `args`, or null. */
function pidOf(args: string[]): number | null {
  const wanted = "\0" + args.join("\0") + "\0";
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = "\0" + Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.endsWith(wanted)) return Number(entry.name);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

/**
 * Types `<yes> <marker>` into the terminal of a job of `entry`, reads
 * nothing, and checks that yes is held up. (busybox sh runs `exec yes` in
 * place: its yes is `busybox yes`.)
 */
async function stalledClientHoldsUpShell(
  yes: string,
  entry: (gitlab: FakeGitLab, token: string) => string,
  /** What the buffers between the shell and the client may hold: those of the kernel (and dockerd). */
  maxBufferedBytes: number,
) {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  await using _volumes = cacheVolumesRemoved(gitlab);
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(entry(gitlab, r.token), 1800) });
  // In a docker job's container /tmp is its own.
  const mark = `/tmp/runner-terminal-${crypto.randomUUID()}`;
  const job = gitlab.enqueueJob({ script: waitForTerminalScript(mark), variables: NO_GIT });
  const session = await runningSession(gitlab, job.id);
  assert.ok(session, runner.log);
  const marker = `stalled-${crypto.randomUUID()}`;
  const conn = await stalledClient(session, `touch ${mark}; exec ${yes} ${marker}\n`);
  try {
    const pid = await waitFor("yes to run in the terminal", () => pidOf(["yes", marker]));
    // The buffers between the shell and the client fill; then the shell waits on its terminal.
    let still = -1;
    const deadline = Date.now() + 30_000;
    while (still < 0) {
      const before = bytesWritten(pid);
      await new Promise((r) => setTimeout(r, 500));
      if (bytesWritten(pid) === before) still = before;
      else if (Date.now() > deadline) throw new Error(`yes never stopped: ${before} bytes written`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(bytesWritten(pid), still, "yes is blocked while the client reads nothing");
    assert.ok(still < maxBufferedBytes, `${still} bytes went out before it blocked`);
  } finally {
    conn.close();
  }
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  await Deno.remove(mark).catch(() => {});
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.match(state.trace, /Terminal disconnected[\s\S]*Job succeeded/);
}

Deno.test("shell job: a terminal client that stops reading holds up the job's shell instead of the runner buffering its output", async () => {
  await stalledClientHoldsUpShell(
    "yes",
    (gitlab, token) => runnerToml(gitlab.url, token),
    64 * 1024 * 1024,
  );
});

Deno.test({
  name:
    "docker job: a terminal client that stops reading holds up the shell in the build container",
  ignore: dockerReason !== null,
  fn: async () => {
    await stalledClientHoldsUpShell(
      "busybox yes",
      (gitlab, token) =>
        runnerToml(gitlab.url, token, { executor: "docker" }) +
        `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
      // dockerd buffers the attach stream itself, more on a busy machine (86 MB seen in .ci/run).
      256 * 1024 * 1024,
    );
  },
});

Deno.test("without [session_server] the job request carries no session", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token), null) });
  const job = gitlab.enqueueJob({ script: ["echo plain"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "success", state.trace + runner.log);
  assert.equal(gitlab.runnerSessionOf(job.id), null);
  assert.doesNotMatch(state.trace, /Terminal/);
  const requests = gitlab.requests.filter((q) => q.endpoint === "request_job");
  assert.ok(requests.length > 0);
  for (const q of requests) assert.equal((q.json as Record<string, unknown>)["session"], undefined);
});

Deno.test({
  name:
    "docker job: the terminal runs in the build container, a second one is locked out, session_timeout ends the wait",
  ignore: dockerReason !== null,
  fn: async () => {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    const entry = runnerToml(gitlab.url, r.token, { executor: "docker" }) +
      `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`;
    await using runner = await startRunner({ config: config(entry, 3) });
    const mark = "/tmp/terminal-go";
    const job = gitlab.enqueueJob({ script: waitForTerminalScript(mark), variables: NO_GIT });
    const session = await runningSession(gitlab, job.id);
    assert.ok(session, `the request that took the job carried a session\n${runner.log}`);

    const terminal = new TerminalClient(session.url, session);
    await terminal.opened;
    const second = new TerminalClient(session.url, session);
    await assert.rejects(second.opened, "one terminal at a time (423 Locked)");
    // The job's variables are there: the shell runs in the job's build container.
    terminal.type(`echo hel''lo job $CI_JOB_ID; touch ${mark}\n`);
    await terminal.waitForOutput(new RegExp(`[\\r\\n]hello job ${job.id}\\r\\n`));

    // Still connected when the script ends: the job waits session_timeout (3 s), then ends it.
    await terminal.closed;
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.trace + runner.log);
    assert.match(
      state.trace,
      /script finished[\s\S]*Terminal is connected, will time out in 3s\.\.\.[\s\S]*terminal session timed out \(maximum time allowed - 3s\)[\s\S]*Job succeeded/,
    );
  },
});

Deno.test("a [session_server] listen_address without a port stops the runner, naming the key", async () => {
  await using gitlab = await FakeGitLab.start();
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: `concurrent = 1\n\n[session_server]\n  listen_address = "127.0.0.1"\n\n` +
      runnerToml(gitlab.url, r.token),
  });
  const status = await runner.exited();
  assert.notEqual(status.code, 0, runner.log);
  assert.match(
    runner.log,
    /config\.toml:4: key session_server\.listen_address = "127\.0\.0\.1" cannot be used: expected host:port/,
  );
  assert.equal(gitlab.requests.filter((q) => q.endpoint === "request_job").length, 0);
});
