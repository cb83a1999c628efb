/**
 * End to end: builds_dir or cache_dir on a full file system. Each test mounts
 * a 2 MiB tmpfs (needs root and mount(8)); without them the test is skipped
 * with the reason printed. The mount is always undone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { MAIN_MODULE, RunnerProcess, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";
import { config, NO_GIT } from "./_runner_setup.ts";

interface TinyDisk extends AsyncDisposable {
  dir: string;
  /** Writes a file until the file system is full. */
  fill(): Promise<void>;
  /** Removes what `fill` wrote. */
  free(): Promise<void>;
}

async function mountTinyDisk(): Promise<TinyDisk | string> {
  const dir = await Deno.makeTempDir({ prefix: "runner-tiny-disk-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir],
    stdout: "null",
    stderr: "piped",
  }).output().catch((err: Error) => ({
    success: false,
    stderr: new TextEncoder().encode(err.message),
  }));
  if (!mounted.success) {
    await Deno.remove(dir, { recursive: true });
    return `cannot mount a tmpfs (needs root): ${new TextDecoder().decode(mounted.stderr).trim()}`;
  }
  const filler = join(dir, "filler");
  return {
    dir,
    async fill() {
      using file = await Deno.open(filler, { write: true, create: true });
      const block = new Uint8Array(64 * 1024);
      try {
        for (;;) await file.write(block);
      } catch {
        // ENOSPC: full.
      }
    },
    async free() {
      await Deno.remove(filler).catch(() => {});
    },
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: ["-l", dir] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

function skip(reason: string): void {
  // deno-lint-ignore no-console -- a skipped test says why (team rule)
  console.log(`SKIPPED: ${reason}`);
}

Deno.test("builds_dir full before the job: a job writing there fails with ENOSPC; with room again the next succeeds", async () => {
  const disk = await mountTinyDisk();
  if (typeof disk === "string") return skip(disk);
  await using _disk = disk;
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { builds_dir: join(disk.dir, "builds") })),
  });
  await disk.fill();
  // The shell executor keeps its stage scripts outside builds_dir, and tmpfs
  // directories take no data blocks: only a job that writes there notices.
  const job = gitlab.enqueueJob({ script: ["echo result > out.txt"], variables: NO_GIT });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "script_failure");
  assert.match(state.trace, /No space left on device|os error 28/, state.trace);
  await disk.free();
  const next = gitlab.enqueueJob({
    script: ["echo result > out.txt", "cat out.txt"],
    variables: NO_GIT,
  });
  const ok = await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 });
  assert.equal(ok.status, "success", ok.trace + runner.log.slice(-2000));
});

Deno.test("a script filling builds_dir fails with script_failure and the shell's ENOSPC message", async () => {
  const disk = await mountTinyDisk();
  if (typeof disk === "string") return skip(disk);
  await using _disk = disk;
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { builds_dir: join(disk.dir, "builds") })),
  });
  const job = gitlab.enqueueJob({
    script: ["head -c 4000000 /dev/zero > big.bin"],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.equal(state.status, "failed", runner.log);
  assert.equal(state.failureReason, "script_failure");
  assert.match(state.trace, /No space left on device/);
  const next = gitlab.enqueueJob({ script: ["echo still-serving"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status,
    "success",
    runner.log,
  );
});

Deno.test("cache_dir full: the cache is not saved, the trace says why, the runner keeps serving", async () => {
  // Like the official runner, a cache that cannot be created is a warning, not a failed job.
  const disk = await mountTinyDisk();
  if (typeof disk === "string") return skip(disk);
  await using _disk = disk;
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  await using runner = await startRunner({
    config: config(runnerToml(gitlab.url, r.token, { cache_dir: join(disk.dir, "cache") })),
  });
  await disk.fill();
  const job = gitlab.enqueueJob({
    script: ["mkdir -p vendor", "head -c 300000 /dev/urandom > vendor/blob", "echo built"],
    cache: [{
      key: "deps",
      paths: ["vendor"],
      policy: "pull-push",
      when: "on_success",
      untracked: false,
    }],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 60_000 });
  assert.match(state.trace, /\nbuilt\n/, runner.log);
  assert.match(state.trace, /No space left on device|os error 28/, state.trace);
  assert.match(state.trace, /Failed to create cache/);
  assert.equal(state.status, "success", "a cache is an optimisation: the job's own result stands");
  await disk.free();
  const next = gitlab.enqueueJob({ script: ["echo still-serving"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status,
    "success",
    runner.log,
  );
});

Deno.test("a file size limit (ulimit -f) reached by a job's log does not kill the runner: the log stays whole in memory", async () => {
  if (Deno.build.os === "windows") return skip("no ulimit on Windows");
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const r = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-e2e-" });
  const configPath = join(dir, "config.toml");
  await Deno.writeTextFile(
    configPath,
    config(runnerToml(gitlab.url, r.token, { output_limit: 40960 })),
    { mode: 0o600 },
  );
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...cleanHome() };
  for (const key of ["PATH", "TMPDIR"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  // 16 MiB: a log past 1 MiB goes to a temporary file, which hits the limit. (Deno's
  // own cache databases, written before the runner's code runs, must stay below it.)
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -f 16384 && exec "$0" run --allow-all --quiet "$1" run --config "$2"',
      Deno.execPath(),
      MAIN_MODULE,
      configPath,
    ],
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await using runner = new RunnerProcess(child, dir, configPath);
  const job = gitlab.enqueueJob({
    script: ["seq 1 600000", "echo big-log-done"],
    variables: NO_GIT,
  });
  const state = await gitlab.waitForJobFinished(job.id, { timeoutMs: 90_000 }).catch((err) => {
    throw new Error(`${err.message}\n${runner.log.slice(-3000)}`);
  });
  assert.equal(state.status, "success", runner.log.slice(-3000));
  assert.ok(gitlab.checkTrace(job.id).ok, "GitLab has the whole log, checksum and size");
  assert.ok(state.trace.includes("\n599999\n600000\n"), "the whole log, to its last line");
  assert.ok(state.trace.includes("\nbig-log-done\n"));
  const next = gitlab.enqueueJob({ script: ["echo still-serving"], variables: NO_GIT });
  assert.equal(
    (await gitlab.waitForJobFinished(next.id, { timeoutMs: 60_000 })).status,
    "success",
    runner.log,
  );
});
