/**
 * End to end: the runner's own log as an operator's log collector sees it.
 * `log_format = "json"` gives one JSON object per line; no token ever reaches
 * the log, whatever the format and level.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, type RunnerProcess, runnerToml, startRunner } from "../fixtures/runner_process.ts";

function config(body: string, global: Record<string, string | number> = {}): string {
  const head = Object.entries({ concurrent: 1, check_interval: 1, ...global })
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`).join("\n");
  return `${head}\n\n${body}`;
}

async function waitForLogAfter(
  runner: RunnerProcess,
  from: number,
  pattern: RegExp,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(runner.log.slice(from))) {
    if (Date.now() > deadline) {
      throw new Error(`Runner log never matched ${pattern}:\n${runner.log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("log_format json writes one JSON object per line with level, msg and time", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token), { log_format: "json", log_level: "debug" }),
  });
  const ok = gitlab.enqueueJob({ script: ["echo fine"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(ok.id, { timeoutMs: 60_000 })).status, "success");
  const bad = gitlab.enqueueJob({ script: ["exit 2"], variables: NO_GIT });
  assert.equal((await gitlab.waitForJobFinished(bad.id, { timeoutMs: 60_000 })).status, "failed");
  await runner.waitForLog(/Job finished[\s\S]*Job finished/);
  runner.signal("SIGQUIT");
  assert.equal((await runner.exited()).code, 0, runner.log);

  const lines = runner.log.split("\n").filter((l) => l !== "");
  assert.ok(lines.length >= 5, runner.log);
  const messages: string[] = [];
  for (const line of lines) {
    let record: unknown;
    assert.doesNotThrow(() => record = JSON.parse(line), `not JSON: ${line}`);
    assert.ok(typeof record === "object" && record !== null && !Array.isArray(record), line);
    const { level, msg, time } = record as Record<string, unknown>;
    assert.match(String(level), /^(debug|info|warning|warn|error|fatal|panic)$/, line);
    assert.equal(typeof msg, "string", line);
    assert.ok(!Number.isNaN(Date.parse(String(time))), `time is a date: ${line}`);
    messages.push(msg as string);
  }
  for (
    const expected of [
      "Runner started",
      "Checking for jobs... received",
      "Job finished",
      "Runner stopped",
    ]
  ) {
    assert.ok(messages.includes(expected), `"${expected}" logged as one JSON record`);
  }
});

Deno.test("runner and job tokens never appear in the runner log, in json, text or runner format", async () => {
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "registered" });
  const runners = runnerToml(gitlab.url, a.token) + runnerToml(gitlab.url, b.token);
  const secrets: string[] = [a.token, b.token];
  // One process goes through every format by reloads. In each: a reload that
  // adds a runner GitLab refuses (403), a job on each runner, a broken edit
  // that names yet another token.
  await using runner = await startRunner({
    config: config(runners, { log_format: "json", log_level: "debug", concurrent: 2 }),
  });
  await runner.waitForLog(/Runner started/);
  for (const format of ["json", "text", "runner"]) {
    const stranger = `glrt-t1_unknown${format}ToGitLab12345`;
    secrets.push(stranger);
    let mark = runner.log.length;
    await Deno.writeTextFile(
      runner.configPath,
      config(runners + runnerToml(gitlab.url, stranger, { "unhealthy_requests_limit": 1 }), {
        log_format: format,
        log_level: "debug",
        concurrent: 3,
      }),
    );
    await waitForLogAfter(runner, mark, /Configuration loaded/);
    await waitForLogAfter(runner, mark, /Checking for jobs\.\.\. failed/);

    for (const target of [a, b]) {
      const job = gitlab.enqueueJob({
        script: ["echo $CI_JOB_TOKEN | wc -c"],
        variables: NO_GIT,
        runnerId: target.id,
      });
      secrets.push(job.token);
      const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
      assert.equal(state.status, "success", state.trace + runner.log);
    }

    mark = runner.log.length;
    const brokenToken = `glrt-t1_brokenEdit${format}Token98765`;
    secrets.push(brokenToken);
    await Deno.writeTextFile(
      runner.configPath,
      config(runners + runnerToml(gitlab.url, brokenToken, { limit: "x" }), { log_format: format }),
    );
    await waitForLogAfter(runner, mark, /Configuration not reloaded/);
  }
  runner.signal("SIGTERM");
  await runner.exited();

  assert.match(runner.log, /"msg":"Runner started"/, "json format was used");
  assert.match(runner.log, /level=info msg="?Job finished/, "text format was used");
  assert.match(runner.log, /^Job finished {2,}/m, "runner format was used");
  for (const token of secrets) {
    assert.ok(
      !runner.log.includes(token),
      `token ${token.slice(0, 12)}… leaked into the log:\n${runner.log}`,
    );
  }
  // Short tokens (the official way to name a runner) are fine and do appear.
  assert.ok(runner.log.includes(a.token.slice(8, 17)), "runners are named by short token");
});

Deno.test("run --syslog and LOG_SYSLOG warn that the log goes to stderr only", async () => {
  for (
    const [args, env, name] of [[["--syslog"], {}, "--syslog"], [
      [],
      { LOG_SYSLOG: "true" },
      "LOG_SYSLOG",
    ]] as const
  ) {
    await using runner = await startRunner({
      config: config(""),
      args: [...args],
      env: { ...env },
    });
    await runner.waitForLog(/Runner started/);
    assert.match(
      runner.log,
      new RegExp(`WARNING: ${name} is not supported: the runner logs to stderr only`),
    );
    assert.equal(runner.log.split("is not supported: the runner logs").length, 2, "said once");
  }
});

Deno.test("run --syslog --service NAME warns that NAME tags no syslog line", async () => {
  // The official runner tags its syslog lines with the --service name; here both
  // were accepted and the name silently unused.
  await using runner = await startRunner({
    config: config(""),
    args: ["--syslog", "--service", "runner-ci-2"],
  });
  await runner.waitForLog(/Runner started/);
  assert.match(
    runner.log,
    /WARNING: --syslog is not supported: the runner logs to stderr only .*without the syslog tag "runner-ci-2" \(--service\)/,
  );
});
