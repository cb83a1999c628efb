/**
 * A fleet, end to end: three `runner run` processes (each its own config,
 * working and builds dir) against one fake GitLab and one radosgw, 60 jobs
 * across six projects with `cache:` keys. Every job runs exactly once; with
 * `Shared = true` a cache written through one runner is restored through
 * another; with `Shared = false` each runner keeps its own objects; kill -9
 * of one runner in the middle loses nothing else, and its jobs are reported
 * when it restarts (from its journal).
 */
import assert from "node:assert/strict";
import { shortToken } from "../../src/config/short_token.ts";
import { FakeGitLab, type FakeJob } from "../fixtures/fake_gitlab.ts";
import {
  type RadosgwFixture,
  radosgwSkipReason,
  s3CacheToml,
  startRadosgw,
} from "../fixtures/radosgw.ts";
import { type RunnerProcess, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { restartRunner } from "./_runner_setup.ts";
import { denoDir } from "../fixtures/test_env.ts";

const JOBS = 60;
const PROJECTS = 6;
const RUNNERS = 3;
const NO_GIT = { key: "GIT_STRATEGY", value: "none" };

const skip = await radosgwSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- the skip reason the style guide asks for
  console.log(`SKIP cache fleet test: ${skip}`);
}

/**
 * The job's script: prints what the restored cache holds (the runner and job
 * that wrote it), then writes its own stamp into the cached directory.
 */
const SCRIPT = [
  'echo "RAN $CI_JOB_ID ON $FLEET_RUNNER"',
  'if [ -f vendor/stamp ]; then echo "RESTORED $CI_JOB_ID FROM $(cat vendor/stamp)"; fi',
  "mkdir -p vendor",
  'echo "$FLEET_RUNNER/$CI_JOB_ID" > vendor/stamp',
  "sleep 1",
];

async function fleet(gw: RadosgwFixture, shared: boolean) {
  const bucket = shared ? "fleet-shared" : "fleet-own";
  await gw.createBucket(bucket);
  await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
  const cache = s3CacheToml({
    address: gw.address,
    accessKey: gw.accessKey,
    secretKey: gw.secretKey,
    bucket,
    shared,
  });
  const tokens = Array.from({ length: RUNNERS }, () => gitlab.createRunner({ kind: "created" }));
  const runners: RunnerProcess[] = [];
  // Job shells are login shells: a clean HOME keeps root's ~/.profile (pyenv) out of them.
  const home = await Deno.makeTempDir({ prefix: "runner-fleet-home-" });
  // Deno's own cache stays where it is (it defaults to $HOME/.cache/deno).
  const env = { HOME: home, DENO_DIR: denoDir() };
  try {
    for (const [i, r] of tokens.entries()) {
      runners.push(
        await startRunner({
          env,
          config: `concurrent = 3\ncheck_interval = 1\n\n${runnerToml(gitlab.url, r.token)}` +
            `  environment = ["FLEET_RUNNER=r${i}"]\n${cache}`,
        }),
      );
    }
    const project = (n: number) => `fleet/p${n % PROJECTS}`;
    const enqueue = (n: number, runnerId?: number): FakeJob =>
      gitlab.enqueueJob({
        project: project(n),
        script: SCRIPT,
        cache: [{ key: "deps", paths: ["vendor/"], policy: "pull-push", when: "on_success" }],
        variables: [NO_GIT],
        ...(runnerId !== undefined ? { runnerId } : {}),
      });
    // Seeds: the first job of each project on runner r0, so the others start from its cache.
    const seeds = Array.from({ length: PROJECTS }, (_, n) => enqueue(n, tokens[0]!.id));
    const finished = async (id: number, timeoutMs: number) => {
      try {
        return await gitlab.waitForJobFinished(id, { timeoutMs });
      } catch (err) {
        const logs = runners.map((r, i) => `--- r${i}\n${r.log.slice(-2500)}`).join("\n");
        const state = gitlab.jobOf(id);
        throw new Error(
          `${(err as Error).message}: ${state.status} on ${state.runnerId}\n${
            state.trace.slice(-2000)
          }\n${logs}`,
        );
      }
    };
    for (const job of seeds) {
      const state = await finished(job.id, 120_000);
      assert.equal(state.status, "success", state.trace + runners[0]!.log.slice(-3000));
    }
    const rest = Array.from({ length: JOBS - PROJECTS }, (_, n) => enqueue(n));
    const all = [...seeds, ...rest];

    // kill -9 of runner r2 once a third of the jobs are done, then restart it.
    await gitlab.waitFor(
      () => all.filter((j) => isFinal(gitlab.jobOf(j.id).status)).length >= JOBS / 3,
      { what: "a third of the jobs to finish", timeoutMs: 180_000 },
    );
    const victim = runners[2]!;
    victim.signal("SIGKILL");
    await victim.exited();
    // Requests r2 sent before its kill that the fake GitLab has not read yet are answered meanwhile.
    await new Promise((r) => setTimeout(r, 1000));
    // Taken after the kill and before the restart: exactly the jobs it had in hand.
    const inFlight = all.filter((j) => {
      const s = gitlab.jobOf(j.id);
      return s.status === "running" && s.runnerId === tokens[2]!.id;
    }).map((j) => j.id);
    runners[2] = restartRunner(victim, env);
    // The restart reports the jobs of its journal before it polls ("Runner started").
    await runners[2].waitForLog(/Runner started/, 60_000);
    // A request r2 sent just before its kill can be answered after it: GitLab hands
    // it a job whose answer nobody reads. No runner can report that one (GitLab's
    // stuck-job timeout ends it, docs/reliability.md): it was never accepted and has no log.
    const inTransit = inFlight.filter((id) => {
      const s = gitlab.jobOf(id);
      return s.status === "running" && !s.accepted && s.trace === "";
    });

    const states = [];
    for (const job of all) {
      if (!inTransit.includes(job.id)) states.push(await finished(job.id, 240_000));
    }
    for (const state of states) {
      const runs = state.trace.match(new RegExp(`RAN ${state.id} ON`, "g")) ?? [];
      assert.ok(runs.length <= 1, `job ${state.id} ran ${runs.length} times`);
      if (state.status === "success") {
        assert.equal(runs.length, 1, `job ${state.id} ran once`);
        continue;
      }
      // Only jobs the killed runner had in hand may fail, and only as its restart reports them.
      assert.ok(
        inFlight.includes(state.id),
        `job ${state.id} (runner ${state.runnerId}) failed: ${state.trace.slice(-1500)}`,
      );
      assert.equal(state.failureReason, "runner_system_failure");
      assert.match(state.trace, /Runner restarted|executor process ended unexpectedly/);
    }
    for (const id of inFlight.filter((id) => !inTransit.includes(id))) {
      assert.notEqual(gitlab.jobOf(id).status, "running", `job ${id} was reported`);
    }

    // What each job restored: "RESTORED <job> FROM r<writer>/<job>".
    const restores = states.flatMap((s) =>
      [...s.trace.matchAll(/RESTORED (\d+) FROM (r\d)\/(\d+)/g)].map((m) => ({
        reader: /RAN \d+ ON (r\d)/.exec(s.trace)?.[1],
        writer: m[2],
      }))
    );
    const objects = await gw.listObjects(bucket);
    if (shared) {
      assert.ok(
        restores.some((r) => r.reader !== r.writer),
        `a cache written through one runner is restored through another: ${
          JSON.stringify(restores)
        }`,
      );
      assert.ok(objects.every((o) => /^project\/\d+\/deps$/.test(o)), objects.join("\n"));
      assert.equal(objects.length, PROJECTS);
    } else {
      assert.ok(restores.length > 0, "runners restore their own caches");
      assert.deepEqual(
        restores.filter((r) => r.reader !== r.writer),
        [],
        "no runner sees another's cache",
      );
      const prefixes = new Set(tokens.map((t) => `runner/${shortToken(t.token)}/`));
      assert.ok(
        objects.every((o) => [...prefixes].some((p) => o.startsWith(p))),
        objects.join("\n"),
      );
    }
    // deno-lint-ignore no-console -- figures for the report
    console.log(
      `fleet Shared=${shared}: ${
        states.filter((s) => s.status === "success").length
      }/${JOBS} succeeded, ` +
        `${inFlight.length} in flight at kill -9 (${inTransit.length} handed out unread), ` +
        `${restores.length} restores, ${objects.length} objects`,
    );
  } finally {
    for (const runner of runners) await runner[Symbol.asyncDispose]();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

function isFinal(status: string): boolean {
  return status === "success" || status === "failed" || status === "canceled";
}

Deno.test({
  name: "a fleet of three runners shares one radosgw cache; kill -9 of one loses nothing",
  ignore: skip !== null,
  async fn(t) {
    await using gw = await startRadosgw();
    await t.step("Shared = true", () => fleet(gw, true));
    await t.step("Shared = false", () => fleet(gw, false));
  },
});
