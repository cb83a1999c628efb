/**
 * End to end: FF_TIMESTAMPS. By default (as the official runner 19.x) every
 * line GitLab receives starts with its time and stream; GitLab strips that
 * when it shows the log. `FF_TIMESTAMPS = false`, in config.toml or as a job
 * variable, sends the log unstamped.
 */
import assert from "node:assert/strict";
import { BUSYBOX_TEST_IMAGE, dockerSkipReason, hasImage } from "../fixtures/docker_images.ts";
import { FakeGitLab, renderTrace } from "../fixtures/fake_gitlab.ts";
import { cacheVolumesRemoved } from "../fixtures/docker_cleanup.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { sshdSkipReason, startSshd } from "../fixtures/sshd.ts";

const SECRET = { key: "DB_PASSWORD", value: "s3cr3t-v4lue-9x", masked: true };
const PREFIX = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([0-9a-f]{2}[OE])([ +])/;
const SCRIPT = [
  "echo out line",
  "echo err line >&2",
  'echo "pass=$DB_PASSWORD"',
  "printf 'progress 1\\rprogress 2\\rdone\\n'",
  // Its last g may begin glpat-: the masker holds it back until the stage ends.
  "printf 'no newline: running'",
];

const dockerReason = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE)) ? null : `image ${BUSYBOX_TEST_IMAGE} is missing`);
const sshReason = await sshdSkipReason();
for (const [what, reason] of [["docker", dockerReason], ["ssh", sshReason]]) {
  // deno-lint-ignore no-console -- a skipped test says why
  if (reason) console.warn(`SKIP ${what} FF_TIMESTAMPS tests: ${reason}`);
}

function config(body: string): string {
  return `concurrent = 1\ncheck_interval = 1\n\n${body}`;
}

/** The raw trace's entries (each ends in \n) with their parsed prefix. */
function entries(raw: string): { time: string; stream: string; flag: string; body: string }[] {
  assert.ok(raw.endsWith("\n"), "a stamped trace ends with a whole entry");
  return raw.slice(0, -1).split("\n").map((entry) => {
    const m = PREFIX.exec(entry);
    assert.ok(m, `entry without the official prefix: ${JSON.stringify(entry)}`);
    return { time: m[1]!, stream: m[2]!, flag: m[3]!, body: entry.slice(32) };
  });
}

Deno.test("by default every trace line carries the official time and stream prefix, and GitLab shows the plain log", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({ config: config(runnerToml(gitlab.url, r.token)) });
  const before = new Date().toISOString();
  const job = gitlab.enqueueJob({ script: SCRIPT, variables: [...NO_GIT, SECRET] });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  const after = new Date().toISOString();
  assert.equal(state.status, "success", state.rawTrace + runner.log);
  assert.ok(gitlab.checkTrace(job.id).ok, "checksum and bytesize cover the stamped bytes");

  const all = entries(state.rawTrace);
  for (const e of all) {
    // Same format and clock as toISOString, with microseconds: compare as text.
    assert.ok(e.time.slice(0, 23) >= before.slice(0, 23), `${e.time} before the job`);
    assert.ok(e.time.slice(0, 23) <= after.slice(0, 23), `${e.time} after the job`);
  }
  const streamOf = (text: string) => all.find((e) => e.body.includes(text))?.stream;
  assert.equal(streamOf("Running with gitlab-runner"), "00O", "the runner's own lines are 00O");
  assert.equal(streamOf("Job succeeded"), "00O");
  // The echoed commands are the shell's; the output lines are the script's stdout/stderr.
  assert.ok(all.some((e) => e.stream === "01O" && e.body === "out line"), state.rawTrace);
  assert.ok(all.some((e) => e.stream === "01E" && e.body === "err line"), state.rawTrace);
  assert.ok(all.some((e) => e.stream === "01O" && e.body === "pass=[MASKED]"), state.rawTrace);
  assert.ok(!state.rawTrace.includes(SECRET.value), "the secret reached GitLab");
  // The \r writes came in one piece here, so they are one entry; a later + joins the same stream.
  assert.ok(all.some((e) => e.body === "progress 1\rprogress 2\rdone"), state.rawTrace);

  // What a user sees on the job page: no prefixes, the lines as the script wrote them.
  assert.equal(state.trace, renderTrace(state.rawTrace));
  assert.doesNotMatch(state.trace, /^\d{4}-\d\d-\d\dT/m);
  assert.match(state.trace, /^out line\n/m);
  assert.match(state.trace, /^err line\n/m);
  assert.match(state.trace, /^pass=\[MASKED\]\n/m);
  assert.match(state.trace, /Job succeeded/);
  // The stage's last bytes are stored in it, not after the runner's next lines.
  assert.match(state.trace, /^no newline: running\nsection_end:\d+:step_script\r/m);
});

Deno.test("FF_TIMESTAMPS=false in [runners.feature_flags], the runner's environment or a job variable sends the log unstamped", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const off = gitlab.createRunner({ kind: "created" });
  const on = gitlab.createRunner({ kind: "registered" });
  const env = gitlab.createRunner({ kind: "registered" });
  await using runner = await startRunner({
    config: config(
      runnerToml(gitlab.url, off.token) + "  [runners.feature_flags]\n    FF_TIMESTAMPS = false\n" +
        runnerToml(gitlab.url, on.token) +
        runnerToml(gitlab.url, env.token) + '  environment = ["FF_TIMESTAMPS=false"]\n',
    ),
  });
  const byConfig = gitlab.enqueueJob({ script: SCRIPT, variables: NO_GIT, runnerId: off.id });
  const byVariable = gitlab.enqueueJob({
    script: SCRIPT,
    variables: [...NO_GIT, { key: "FF_TIMESTAMPS", value: "false" }],
    runnerId: on.id,
  });
  const byEnvironment = gitlab.enqueueJob({ script: SCRIPT, variables: NO_GIT, runnerId: env.id });
  for (const job of [byConfig, byVariable, byEnvironment]) {
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
    assert.equal(state.status, "success", state.rawTrace + runner.log);
    assert.doesNotMatch(state.rawTrace, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z /m);
    assert.equal(state.trace, state.rawTrace);
    assert.match(state.rawTrace, /^out line\n/m);
    assert.match(state.rawTrace, /progress 1\rprogress 2\rdone\n/);
  }
  // Acted on, so no "not supported" warning names it, neither at load nor in the job log;
  // the log header lists it among the flags off their default, as upstream.
  assert.doesNotMatch(runner.log, /FF_TIMESTAMPS/);
  assert.doesNotMatch(gitlab.traceOf(byVariable.id), /FF_TIMESTAMPS.*(not supported|no effect)/);
  assert.match(gitlab.traceOf(byVariable.id), /feature flags: FF_TIMESTAMPS:false/);

  // Unstamped too, stdout and stderr are masked apart: stderr between two halves of a secret.
  const split = gitlab.enqueueJob({
    script: [
      `printf 'pass=%s' "\${DB_PASSWORD%????????}"; sleep 0.3; echo progress >&2; sleep 0.3; ` +
      `printf '%s\\n' "\${DB_PASSWORD#???????}"`,
    ],
    variables: [...NO_GIT, SECRET, { key: "FF_TIMESTAMPS", value: "false" }],
    runnerId: on.id,
  });
  const state = await gitlab.waitForJobFinished(split.id, { timeoutMs: 60_000 });
  assert.match(state.rawTrace, /^pass=progress\n\[MASKED\]\n/m);
  assert.ok(
    !state.rawTrace.includes(SECRET.value.slice(0, 7)),
    "a half of the secret reached GitLab",
  );
  assert.ok(
    !state.rawTrace.includes(SECRET.value.slice(-8)),
    "a half of the secret reached GitLab",
  );
});

/** Runs `echo out line; echo err line >&2` through `runnerConfig` and checks both streams' prefixes. */
async function assertStreamsTagged(
  gitlab: FakeGitLab,
  runnerConfig: string,
  runnerId: number,
): Promise<void> {
  await using runner = await startRunner({ config: config(runnerConfig) });
  const job = gitlab.enqueueJob({ script: SCRIPT.slice(0, 2), variables: NO_GIT, runnerId });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
  assert.equal(state.status, "success", state.rawTrace + runner.log);
  const all = entries(state.rawTrace);
  assert.ok(all.some((e) => e.stream === "01O" && e.body === "out line"), state.rawTrace);
  assert.ok(all.some((e) => e.stream === "01E" && e.body === "err line"), state.rawTrace);
  assert.equal(all.find((e) => e.body.includes("Job succeeded"))?.stream, "00O");
}

Deno.test({
  name: "docker executor: the script's stdout is stamped 01O and its stderr 01E",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await assertStreamsTagged(
      gitlab,
      runnerToml(gitlab.url, r.token, { executor: "docker" }) +
        `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n`,
      r.id,
    );
  },
});

Deno.test({
  name: "docker executor: CI_DEBUG_SERVICES puts a service's output in the log as 0fO, masked",
  ignore: dockerReason !== null,
  async fn() {
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    await using _volumes = cacheVolumesRemoved(gitlab);
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: config(
        runnerToml(gitlab.url, r.token, { executor: "docker" }) +
          `  [runners.docker]\n    image = "${BUSYBOX_TEST_IMAGE}"\n    pull_policy = "never"\n` +
          `    helper_image = "${BUSYBOX_TEST_IMAGE}"\n`,
      ),
    });
    const job = gitlab.enqueueJob({
      script: ["sleep 1; echo script done"],
      variables: [...NO_GIT, SECRET, { key: "CI_DEBUG_SERVICES", value: "true" }],
      services: [{
        name: BUSYBOX_TEST_IMAGE,
        alias: "db",
        command: ["sh", "-c", 'echo "db up with $PW"; exec sleep 600'],
        variables: [{ key: "PW", value: "$DB_PASSWORD" }],
      }],
      runnerId: r.id,
    });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "success", state.rawTrace + runner.log);
    // The variable was refused as not supported, and no service line came.
    const service = entries(state.rawTrace).filter((e) => e.stream === "0fO");
    assert.ok(
      service.some((e) =>
        // deno-lint-ignore no-control-regex -- the service line's colour escape is part of what is asserted
        /^\x1b\[0;37m\[service:db-[^\]]*\] \S+Z db up with \[MASKED\]/.test(e.body)
      ),
      state.rawTrace,
    );
    assert.ok(!state.rawTrace.includes(SECRET.value), "the secret reached GitLab");
    assert.doesNotMatch(state.rawTrace, /CI_DEBUG_SERVICES is not supported/);
  },
});

Deno.test({
  name: "ssh executor: the script's stdout is stamped 01O and its stderr 01E",
  ignore: sshReason !== null,
  async fn() {
    await using sshd = await startSshd();
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const ssh = [
      "  [runners.ssh]",
      `    host = "${sshd.host}"`,
      `    port = "${sshd.port}"`,
      `    user = "${sshd.user}"`,
      `    identity_file = "${sshd.identityFile}"`,
      `    known_hosts_file = "${sshd.knownHostsFile}"`,
    ].join("\n");
    await assertStreamsTagged(
      gitlab,
      runnerToml(gitlab.url, r.token, { executor: "ssh" }) + ssh + "\n",
      r.id,
    );
  },
});

Deno.test("custom executor: the driver's prepare output is the runner's 00O/00E, the script's 01O/01E", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-ts-custom-" });
  try {
    await Deno.writeTextFile(
      `${dir}/prepare.sh`,
      "#!/bin/sh\necho driver prepared\necho driver warns >&2\n",
    );
    await Deno.writeTextFile(`${dir}/run.sh`, '#!/bin/sh\nexec bash "$1"\n');
    await Deno.chmod(`${dir}/prepare.sh`, 0o755);
    await Deno.chmod(`${dir}/run.sh`, 0o755);
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      config: config(
        runnerToml(gitlab.url, r.token, {
          executor: "custom",
          builds_dir: `${dir}/builds`,
          cache_dir: `${dir}/cache`,
        }) +
          `  [runners.custom]\n    prepare_exec = "${dir}/prepare.sh"\n    run_exec = "${dir}/run.sh"\n`,
      ),
    });
    const job = gitlab.enqueueJob({ script: SCRIPT.slice(0, 2), variables: NO_GIT });
    const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 120_000 });
    assert.equal(state.status, "success", state.rawTrace + runner.log);
    const all = entries(state.rawTrace);
    const has = (stream: string, body: string) =>
      assert.ok(all.some((e) => e.stream === stream && e.body === body), `${stream} ${body}`);
    has("00O", "driver prepared");
    has("00E", "driver warns");
    has("01O", "out line");
    has("01E", "err line");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
