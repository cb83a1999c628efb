/**
 * Hostile GitLab answers to trace PATCHes and job PUTs: a Deno.serve answers
 * each request with a random status, headers and body (sometimes breaking the
 * connection mid-body). JobClient must resolve every call with a result value
 * (never reject, never hang), and never wait longer than a request may take.
 */
import assert from "node:assert/strict";
import { type Clock, createRunnerInfo, JobClient } from "../../src/gitlab/mod.ts";

import { forEachInput, fuzzIterations, fuzzSeed, Prng } from "./_fuzz_input.ts";

/** Spec §7.3: a whole request may take 60 min; a longer single wait is a hang. */
const MAX_SINGLE_WAIT_MS = 60 * 60 * 1000;

/** Sleeps return at once; waits are recorded. */
class RecordingClock implements Clock {
  now = () => 1_700_000_000_000;
  waits: number[] = [];
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.waits.push(ms);
    return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  }
}

const NULL_BODY = new Set([204, 205, 304]);

function randomResponse(rng: Prng): Response {
  const status = rng.chance(0.8)
    ? rng.pick([
      200,
      201,
      202,
      204,
      400,
      401,
      403,
      404,
      408,
      409,
      412,
      413,
      416,
      429,
      500,
      502,
      503,
      504,
      512,
      599,
    ])
    : rng.int(200, 599);
  const headers = new Headers();
  const maybe = (name: string, values: string[]) => {
    if (rng.chance(0.4)) headers.set(name, rng.pick(values));
  };
  maybe("Job-Status", [
    "running",
    "canceling",
    "canceled",
    "failed",
    "success",
    "",
    "RUNNING",
    "weird",
  ]);
  maybe("Range", [
    "0-0",
    "0-123",
    `0-${rng.int(0, 1 << 30)}`,
    "bytes=0-10",
    "0-",
    "-5",
    "abc",
    "0-99999999999999999999999",
    "5-2",
  ]);
  maybe("X-GitLab-Trace-Update-Interval", ["3", "0", "-1", "abc", "1e9", "99999999999", "60", ""]);
  maybe("Retry-After", [
    "1",
    "0",
    "120",
    "3600",
    String(rng.int(0, 2 ** 31)),
    "9999999999",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "soon",
  ]);
  maybe("RateLimit-ResetTime", [
    new Date(1_700_000_000_000 + rng.int(0, 1e9) * 1000).toUTCString(),
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "not a date",
    "Fri, 31 Dec 9999 23:59:59 GMT",
  ]);
  maybe("Content-Type", [
    "application/json",
    "text/html",
    "text/plain",
    "application/octet-stream",
  ]);
  if (NULL_BODY.has(status)) return new Response(null, { status, headers });
  switch (rng.int(0, 4)) {
    case 0:
      return new Response(null, { status, headers });
    case 1:
      return new Response(JSON.stringify(rng.jsonValue(3)), { status, headers });
    case 2:
      return new Response(rng.bytes(rng.int(0, 2000)), { status, headers });
    case 3: {
      // The body breaks off: the client sees a reset mid-answer.
      const first = rng.bytes(rng.int(1, 100));
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(first);
            controller.error(new Error("connection reset by fuzz"));
          },
        }),
        { status, headers },
      );
    }
    default:
      return new Response(`<html><body>${status}</body></html>`, { status, headers });
  }
}

Deno.test("trace PATCH / job PUT: random GitLab answers always give a result value, promptly", async () => {
  const seed = fuzzSeed();
  const serverRng = new Prng(seed ^ 0x5eed);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.body?.cancel().catch(() => {});
      return randomResponse(serverRng);
    },
  );
  const clock = new RecordingClock();
  const client = new JobClient({
    url: `http://127.0.0.1:${server.addr.port}`,
    runnerInfo: createRunnerInfo({
      version: "0.0.0",
      revision: "fuzz",
      executor: "shell",
      shell: "bash",
    }),
    clock,
  });
  const kinds = new Set<string>();
  try {
    await forEachInput(
      "JobClient",
      { iterations: fuzzIterations(200), seed, deadlineMs: 30_000 },
      (rng) => ({
        isPatch: rng.chance(0.5),
        chunk: rng.bytes(rng.int(1, 4096)),
        start: rng.pick([0, 1, rng.int(0, 1 << 20)]),
        state: rng.pick(["running", "success", "failed"] as const),
        exitCode: rng.pick([0, 1, 255, 2 ** 31, -1]),
      }),
      async (input) => {
        clock.waits = [];
        const job = { id: 42, token: "glcbt-fuzz" };
        const result = input.isPatch
          ? await client.patchTrace(job, input.chunk, input.start)
          : await client.updateJob(job, {
            state: input.state,
            ...(input.state === "failed"
              ? { failureReason: "script_failure", exitCode: input.exitCode }
              : {}),
            checksum: "crc32:00000000",
            bytesize: 10,
          });
        kinds.add(result.kind);
        assert.ok(
          ["accepted", "range-mismatch", "abort", "not-found", "failed", "ok", "trace-invalid"]
            .includes(result.kind),
          `unknown result ${JSON.stringify(result)}`,
        );
        if (result.kind === "range-mismatch") {
          assert.ok(
            Number.isSafeInteger(result.serverSize) && result.serverSize >= 0,
            `serverSize ${result.serverSize}`,
          );
        }
        if (result.kind === "failed") {
          assert.ok((result.error ?? String(result.status ?? "")).length > 0);
        }
        for (const ms of clock.waits) {
          assert.ok(
            Number.isFinite(ms) && ms >= 0 && ms <= MAX_SINGLE_WAIT_MS,
            `waited ${ms} ms between attempts`,
          );
        }
      },
    );
  } finally {
    client[Symbol.dispose]();
    await server.shutdown();
  }
  assert.ok(kinds.size >= 4, `the answers reached several outcomes: ${[...kinds]}`);
});
