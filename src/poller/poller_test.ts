import assert from "node:assert/strict";
import { defaultConfig, defaultRunnerConfig } from "../config/default_config.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { parseJobSpec } from "../job/job_spec.ts";
import {
  type JobHandler,
  type JobSlot,
  type JobSource,
  Poller,
  type RequestOutcome,
} from "./poller.ts";
import { SilentLogger } from "../log/logger.ts";

function job(id: number) {
  return parseJobSpec({
    id,
    token: `job-${id}`,
    job_info: { project_id: 1, project_full_path: "g/p", name: "j" },
    git_info: { repo_url: "https://gitlab.example.com/g/p.git", sha: "0".repeat(40) },
    steps: [{ name: "script", script: ["true"], when: "on_success" }],
  });
}

/** Answers from a script, then holds every later request until the poller stops. */
class ScriptedSource implements JobSource {
  asked = 0;
  constructor(readonly name: string, readonly answers: RequestOutcome[], readonly log: string[]) {}
  requestJob(signal: AbortSignal): Promise<RequestOutcome> {
    this.asked++;
    this.log.push(`ask ${this.name}`);
    const next = this.answers.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve({ kind: "none" }), { once: true })
    );
  }
}

/** Jobs end when the test says so. */
class ControlledHandler implements JobHandler {
  #ends = new Map<number, () => void>();
  constructor(readonly log: string[]) {}
  handle(_runner: RunnerConfig, spec: { id: number }, _slot: JobSlot): Promise<void> {
    this.log.push(`start ${spec.id}`);
    return new Promise((resolve) => this.#ends.set(spec.id, resolve));
  }
  reject(): Promise<void> {
    return Promise.resolve();
  }
  end(id: number): void {
    this.log.push(`end ${id}`);
    this.#ends.get(id)!();
  }
}

function runner(token: string): RunnerConfig {
  return { ...defaultRunnerConfig("shell"), url: "https://gitlab.example.com", token };
}

/** Lets every pending promise callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => queueMicrotask(r));
}

function poller(
  sources: Map<string, ScriptedSource>,
  handler: JobHandler,
  sleeps: number[],
): Poller {
  return new Poller({
    log: new SilentLogger(),
    sourceFor: (r) => sources.get(r.token)!,
    handler,
    // check_interval sleeps never end: anything that happens did not wait for one.
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve()));
    },
  });
}

Deno.test("Poller asks GitLab again the moment a job frees the only slot, without sleeping check_interval", async () => {
  const log: string[] = [];
  const sleeps: number[] = [];
  const source = new ScriptedSource("a", [
    { kind: "job", job: job(1) },
    { kind: "job", job: job(2) },
  ], log);
  const handler = new ControlledHandler(log);
  const p = poller(new Map([["a", source]]), handler, sleeps);
  p.apply({ ...defaultConfig(), concurrent: 1, checkInterval: 60, runners: [runner("a")] });
  await settle();
  assert.deepEqual(log, ["ask a", "start 1"], "concurrent = 1: no request while job 1 runs");
  handler.end(1);
  await settle();
  assert.deepEqual(log, ["ask a", "start 1", "end 1", "ask a", "start 2"]);
  assert.deepEqual(sleeps, []);
  handler.end(2);
  await settle();
  await p.stopGracefully();
});

Deno.test("request_concurrency far above concurrent costs the poller's heap nothing", async () => {
  const log: string[] = [];
  const source = new ScriptedSource("a", [], log);
  const p = poller(new Map([["a", source]]), new ControlledHandler(log), []);
  const before = Deno.memoryUsage().heapUsed;
  // One request loop per request_concurrency made 20000 loops here (~70 MB of heap).
  p.apply({
    ...defaultConfig(),
    concurrent: 2,
    runners: [{ ...runner("a"), requestConcurrency: 20_000 }],
  });
  await settle();
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.deepEqual(log, ["ask a"]);
  assert.ok(grown < 10e6, `the heap grew by ${(grown / 1e6).toFixed(1)} MB`);
  await p.stopForcefully(1000);
});

Deno.test("request_concurrency and concurrent far above a runner's limit cost the poller's heap nothing", async () => {
  const log: string[] = [];
  const p = poller(
    new Map([["a", new ScriptedSource("a", [], log)]]),
    new ControlledHandler(log),
    [],
  );
  const before = Deno.memoryUsage().heapUsed;
  p.apply({
    ...defaultConfig(),
    concurrent: 20_000,
    runners: [{ ...runner("a"), requestConcurrency: 20_000, limit: 2 }],
  });
  await settle();
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.deepEqual(log, ["ask a"]);
  assert.ok(grown < 10e6, `the heap grew by ${(grown / 1e6).toFixed(1)} MB`);
  await p.stopForcefully(1000);
});

Deno.test("Poller gives a freed slot to the runner that waited longest when [[runners]] share concurrent", async () => {
  const log: string[] = [];
  const sleeps: number[] = [];
  const a = new ScriptedSource("a", [
    { kind: "job", job: job(1) },
    { kind: "job", job: job(3) },
  ], log);
  const b = new ScriptedSource("b", [{ kind: "job", job: job(2) }], log);
  const handler = new ControlledHandler(log);
  const p = poller(new Map([["a", a], ["b", b]]), handler, sleeps);
  p.apply({
    ...defaultConfig(),
    concurrent: 1,
    checkInterval: 60,
    runners: [runner("a"), runner("b")],
  });
  await settle();
  assert.deepEqual(log, ["ask a", "start 1"]);
  handler.end(1);
  await settle();
  // b has waited since the start; a queued behind it when its job began.
  assert.deepEqual(log.slice(3), ["ask b", "start 2"]);
  handler.end(2);
  await settle();
  assert.deepEqual(log.slice(6), ["ask a", "start 3"]);
  assert.deepEqual(sleeps, []);
  handler.end(3);
  await settle();
  await p.stopGracefully();
});

Deno.test("Poller follows at most 3 queue-changed answers in a row, then sleeps check_interval", async () => {
  const log: string[] = [];
  const sleeps: number[] = [];
  const changed: RequestOutcome = { kind: "none", isQueueChanged: true };
  const source = new ScriptedSource("a", Array.from({ length: 10 }, () => changed), log);
  const p = poller(new Map([["a", source]]), new ControlledHandler(log), sleeps);
  p.apply({ ...defaultConfig(), concurrent: 4, checkInterval: 60, runners: [runner("a")] });
  await settle();
  assert.equal(source.asked, 4);
  assert.deepEqual(sleeps, [60_000]);
  await p.stopGracefully();
});

Deno.test("Poller sleeps check_interval after a plain empty answer", async () => {
  const log: string[] = [];
  const sleeps: number[] = [];
  const source = new ScriptedSource("a", [{ kind: "none" }, { kind: "none" }], log);
  const p = poller(new Map([["a", source]]), new ControlledHandler(log), sleeps);
  p.apply({ ...defaultConfig(), concurrent: 4, checkInterval: 60, runners: [runner("a")] });
  await settle();
  assert.equal(source.asked, 1);
  assert.deepEqual(sleeps, [60_000]);
  await p.stopGracefully();
});

Deno.test("Poller keeps the slot for a runner whose queue changed: it asks again before another waiting runner", async () => {
  const log: string[] = [];
  const sleeps: number[] = [];
  const a = new ScriptedSource("a", [
    { kind: "none", isQueueChanged: true },
    { kind: "job", job: job(1) },
  ], log);
  const b = new ScriptedSource("b", [{ kind: "job", job: job(2) }], log);
  const handler = new ControlledHandler(log);
  const p = poller(new Map([["a", a], ["b", b]]), handler, sleeps);
  p.apply({
    ...defaultConfig(),
    concurrent: 1,
    checkInterval: 60,
    runners: [runner("a"), runner("b")],
  });
  await settle();
  // Had a given the slot back, b (waiting since the start) would have taken
  // it and, against a real GitLab, might have held it in a long poll.
  assert.deepEqual(log, ["ask a", "ask a", "start 1"]);
  handler.end(1);
  await settle();
  assert.deepEqual(log.slice(3), ["end 1", "ask b", "start 2"]);
  assert.deepEqual(sleeps, []);
  handler.end(2);
  await settle();
  await p.stopGracefully();
});

Deno.test("strict_check_interval: after receiving a job the runner waits check_interval before asking again", async () => {
  const asksAfterAJob = async (strictCheckInterval: boolean) => {
    const log: string[] = [];
    const sleeps: number[] = [];
    const source = new ScriptedSource("a", [
      { kind: "job", job: job(1) },
      { kind: "job", job: job(2) },
    ], log);
    const handler = new ControlledHandler(log);
    const p = poller(new Map([["a", source]]), handler, sleeps);
    p.apply({
      ...defaultConfig(),
      concurrent: 4,
      checkInterval: 60,
      runners: [{ ...runner("a"), strictCheckInterval }],
    });
    await settle();
    const seen = { log: [...log], sleeps: [...sleeps] };
    for (const id of [1, 2]) if (log.includes(`start ${id}`)) handler.end(id);
    await settle();
    await p.stopGracefully();
    return seen;
  };
  // Free slots: the default asks again at once and gets job 2 too.
  assert.deepEqual(await asksAfterAJob(false), {
    log: ["ask a", "start 1", "ask a", "start 2", "ask a"],
    sleeps: [],
  });
  assert.deepEqual(await asksAfterAJob(true), { log: ["ask a", "start 1"], sleeps: [60_000] });
});

Deno.test("a job GitLab answers to a request in flight when a reload removed its runner still runs", async () => {
  const log: string[] = [];
  // A long poll that GitLab answers later; aborting it loses the answer, as fetch does.
  let answer: (outcome: RequestOutcome) => void = () => {};
  let asked = 0;
  const source: JobSource = {
    requestJob(signal) {
      asked++;
      if (asked > 1) return new Promise(() => {});
      return new Promise((resolve) => {
        answer = resolve;
        signal.addEventListener("abort", () => resolve({ kind: "none" }), { once: true });
      });
    },
  };
  const handler = new ControlledHandler(log);
  const p = new Poller({
    log: new SilentLogger(),
    sourceFor: () => source,
    handler,
    sleep: (_ms, signal) =>
      new Promise((resolve) => signal.addEventListener("abort", () => resolve())),
  });
  const config = { ...defaultConfig(), runners: [runner("glrt-a")] };
  p.apply(config);
  await settle();
  assert.equal(asked, 1);
  // The runner is removed from config.toml (or its token changed) while GitLab assigns a job.
  p.apply({ ...config, runners: [] });
  await settle();
  answer({ kind: "job", job: job(7) });
  await settle();
  assert.deepEqual(log, ["start 7"], "the job GitLab gave is run, not dropped");
  assert.equal(p.runningJobs, 1);
  handler.end(7);
  await settle();
  assert.equal(p.runningJobs, 0);
  assert.equal(asked, 1, "the removed runner asks for nothing more");
  await p.stopGracefully();
});

Deno.test("a graceful stop for a re-scope lets a request in flight bring its job and runs it; SIGQUIT's aborts it", async () => {
  for (const finishRequests of [true, false]) {
    const log: string[] = [];
    let answer: (outcome: RequestOutcome) => void = () => {};
    const source: JobSource = {
      requestJob(signal) {
        return new Promise((resolve) => {
          answer = resolve;
          signal.addEventListener("abort", () => resolve({ kind: "none" }), { once: true });
        });
      },
    };
    const handler = new ControlledHandler(log);
    const p = new Poller({
      log: new SilentLogger(),
      sourceFor: () => source,
      handler,
      sleep: (_ms, signal) =>
        new Promise((resolve) => signal.addEventListener("abort", () => resolve())),
    });
    p.apply({ ...defaultConfig(), runners: [runner("glrt-a")] });
    await settle();
    let stopped = false;
    const stopping = p.stopGracefully({ finishRequests }).then(() => stopped = true);
    await settle();
    // GitLab assigns a job to the request the poller had in flight.
    answer({ kind: "job", job: job(9) });
    await settle();
    if (finishRequests) {
      assert.deepEqual(log, ["start 9"], "the job GitLab gave is run");
      assert.equal(stopped, false, "the stop waits for it");
      handler.end(9);
    } else {
      assert.deepEqual(log, [], "SIGQUIT aborts the request, as before");
    }
    await stopping;
  }
});

Deno.test("a runner removed and put back by reloads while its job runs keeps that job's slot: the next job gets another", async () => {
  const log: string[] = [];
  const slots = new Map<number, number>();
  // The first request brings job 1; later ones wait for the test's answer.
  const pending: ((outcome: RequestOutcome) => void)[] = [];
  let asked = 0;
  const source: JobSource = {
    requestJob: (signal) => {
      if (asked++ === 0) return Promise.resolve({ kind: "job", job: job(1) });
      return new Promise((resolve) => {
        pending.push(resolve);
        signal.addEventListener("abort", () => resolve({ kind: "none" }), { once: true });
      });
    },
  };
  const handler = new ControlledHandler(log);
  const recording: JobHandler = {
    handle: (r, spec, slot) => {
      slots.set(spec.id, slot.concurrentId);
      return handler.handle(r, spec, slot);
    },
    reject: () => Promise.resolve(),
  };
  const time = new SteppedTime();
  const p = new Poller({
    log: new SilentLogger(),
    sourceFor: () => source,
    handler: recording,
    sleep: time.sleep,
    now: () => time.now,
  });
  const config = { ...defaultConfig(), concurrent: 2, runners: [runner("a")] };
  p.apply(config);
  await settle();
  assert.deepEqual(log, ["start 1"]);
  // A save seen half-way drops the entry, the whole save brings it back.
  p.apply({ ...config, runners: [] });
  await settle();
  p.apply(config);
  await settle();
  assert.equal(p.runningJobs, 1, "job 1 is still counted");
  for (const answer of pending.splice(0)) answer({ kind: "none" });
  await settle();
  // The runner asks again at its next check.
  await time.advance(3000);
  pending.shift()?.({ kind: "job", job: job(2) });
  await settle();
  assert.deepEqual(log, ["start 1", "start 2"]);
  // The slot is the job's builds directory (CI_CONCURRENT_ID): job 1 still runs in 0.
  assert.deepEqual([slots.get(1), slots.get(2)], [0, 1]);
  assert.equal(p.runningJobs, 2);
  handler.end(1);
  handler.end(2);
  await settle();
  await p.stopForcefully(1000);
});

Deno.test("a reload that changes only a runner's url while its job runs gives the next job another slot (builds directory)", async () => {
  const log: string[] = [];
  const slots = new Map<number, [number, number]>();
  const handler = new ControlledHandler(log);
  const recording: JobHandler = {
    handle: (r, spec, slot) => {
      slots.set(spec.id, [slot.concurrentId, slot.concurrentProjectId]);
      return handler.handle(r, spec, slot);
    },
    reject: () => Promise.resolve(),
  };
  // One source per entry: the old url's brings job 1, the new url's job 2 (same project).
  const answers = new Map([["https://gitlab.example.com", 1], [
    "https://gitlab.example.com:443/",
    2,
  ]]);
  /** Long polls in flight, answered by the test. */
  const held: ((outcome: RequestOutcome) => void)[] = [];
  const p = new Poller({
    log: new SilentLogger(),
    sourceFor: (r) => {
      let id = answers.get(r.url);
      return {
        requestJob: (signal) => {
          if (id !== undefined) {
            const answer = { kind: "job" as const, job: job(id) };
            id = undefined;
            return Promise.resolve(answer);
          }
          return new Promise((resolve) => {
            held.push(resolve);
            signal.addEventListener("abort", () => resolve({ kind: "none" }), { once: true });
          });
        },
      };
    },
    handler: recording,
    sleep: (_ms, signal) =>
      new Promise((resolve) => signal.addEventListener("abort", () => resolve())),
  });
  const config = { ...defaultConfig(), concurrent: 2, runners: [runner("glrt-a")] };
  p.apply(config);
  await settle();
  assert.deepEqual(log, ["start 1"]);
  p.apply({
    ...config,
    runners: [{ ...runner("glrt-a"), url: "https://gitlab.example.com:443/" }],
  });
  await settle();
  // The old url's long poll ends empty; its slot goes to the new url's entry.
  for (const answer of held.splice(0)) answer({ kind: "none" });
  await settle();
  assert.deepEqual(log, ["start 1", "start 2"]);
  assert.deepEqual([slots.get(1), slots.get(2)], [[0, 0], [1, 1]]);
  handler.end(1);
  handler.end(2);
  await settle();
  await p.stopForcefully(1000);
});

/** Sleeps that end when the test moves time on. */
class SteppedTime {
  now = 0;
  #timers: { at: number; wake: () => void }[] = [];
  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      this.#timers.push({ at: this.now + ms, wake: resolve });
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (!next || next.at > until) break;
      this.#timers.shift();
      this.now = next.at;
      next.wake();
      await settle();
    }
    this.now = until;
  }
}

Deno.test("request_concurrency does not multiply the job requests a runner sends while GitLab has no job", async () => {
  const time = new SteppedTime();
  let asked = 0;
  // GitLab answers at once (no long poll) and has no job.
  const source: JobSource = {
    requestJob: () => {
      asked++;
      return Promise.resolve({ kind: "none" });
    },
  };
  const p = new Poller({
    log: new SilentLogger(),
    sourceFor: () => source,
    handler: new ControlledHandler([]),
    sleep: time.sleep,
    now: () => time.now,
  });
  p.apply({
    ...defaultConfig(),
    concurrent: 4,
    checkInterval: 3,
    runners: [{
      ...runner("a"),
      requestConcurrency: 4,
      featureFlags: { FF_USE_ADAPTIVE_REQUEST_CONCURRENCY: false },
    }],
  });
  await settle();
  await time.advance(30_000);
  // As upstream (commands/multi.go feedRunners): one request per check_interval,
  // request_concurrency only lets requests GitLab holds overlap. Each of the 4
  // request loops asked every check_interval: 44 requests.
  assert.ok(asked <= 11, `${asked} requests in 30 s of check_interval = 3`);
  await p.stopForcefully(1000);
});

Deno.test("a reload that shortens unhealthy_interval ends the pause of a runner already disabled by it", async () => {
  const time = new SteppedTime();
  let asked = 0;
  // A paused runner: GitLab answers 403.
  const source: JobSource = {
    requestJob: () => {
      asked++;
      return Promise.resolve({ kind: "error", healthy: false, message: "403" });
    },
  };
  const p = new Poller({
    log: new SilentLogger(),
    sourceFor: () => source,
    handler: new ControlledHandler([]),
    sleep: time.sleep,
    now: () => time.now,
  });
  const config = {
    ...defaultConfig(),
    checkInterval: 3,
    runners: [{ ...runner("a"), unhealthyRequestsLimit: 3, unhealthyInterval: 3600 }],
  };
  p.apply(config);
  await settle();
  await time.advance(60_000);
  assert.equal(asked, 3, "disabled after 3 failed requests");
  p.apply({ ...config, runners: [{ ...config.runners[0]!, unhealthyInterval: 120 }] });
  await settle();
  // 120 s after it was disabled, as upstream's health check measures with the current setting.
  await time.advance(67_000);
  assert.equal(asked, 4, `asks again once the new unhealthy_interval has passed (asked ${asked})`);
  await p.stopForcefully(1000);
});
