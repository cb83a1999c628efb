import assert from "node:assert/strict";
import {
  artifactUploadBackoffMs,
  artifactUploadVerdict,
  isArtifactDownloadRetriable,
  isRetriableStatus,
  RetryPolicy,
} from "./retry_policy.ts";

Deno.test("transport retries 408, 429, 500, 502, 503, 504 and >= 512 only", () => {
  const retried = [408, 429, 500, 502, 503, 504, 512, 599];
  const notRetried = [200, 201, 204, 400, 403, 404, 409, 412, 416, 501, 505, 511];
  for (const s of retried) assert.equal(isRetriableStatus(s), true, String(s));
  for (const s of notRetried) assert.equal(isRetriableStatus(s), false, String(s));
});

Deno.test("the fifth attempt's retriable answer is returned, not retried", () => {
  const policy = new RetryPolicy();
  assert.equal(policy.shouldRetry(503, 4), true);
  assert.equal(policy.shouldRetry(503, 5), false);
  assert.equal(policy.shouldRetry(404, 1), false);
});

Deno.test("RateLimit-ResetTime wins over Retry-After, which wins over backoff", () => {
  const policy = new RetryPolicy({ random: () => 0 });
  const now = Date.parse("2026-01-01T00:00:00Z");
  const both = new Headers({
    "RateLimit-ResetTime": "Thu, 01 Jan 2026 00:00:09 GMT",
    "Retry-After": "60",
  });
  assert.equal(policy.delayMs(1, both, now), 9000);
  assert.equal(
    policy.delayMs(1, new Headers({ "RateLimit-ResetTime": "garbage", "Retry-After": "60" }), now),
    60_000,
  );
  assert.equal(policy.delayMs(1, new Headers({ "Retry-After": "soon" }), now), 50);
});

Deno.test("backoff doubles from 100 ms, is capped at 60 s and jittered within [half, full)", () => {
  const low = new RetryPolicy({ random: () => 0 });
  const high = new RetryPolicy({ random: () => 0.999999 });
  const none = new Headers();
  assert.deepEqual([1, 2, 3, 4].map((a) => low.delayMs(a, none, 0)), [50, 100, 200, 400]);
  assert.deepEqual([1, 2, 3, 4].map((a) => high.delayMs(a, none, 0)), [100, 200, 400, 800]);
  assert.equal(high.delayMs(30, none, 0), 60_000);
});

Deno.test("artifact upload: 403/413 fatal, 503 six tries, others three, 307 redirects", () => {
  assert.equal(artifactUploadVerdict(201, 1), "done");
  assert.equal(artifactUploadVerdict(403, 1), "fatal");
  assert.equal(artifactUploadVerdict(413, 1), "fatal");
  assert.equal(artifactUploadVerdict(307, 1), "redirect");
  assert.equal(artifactUploadVerdict(503, 5), "retry");
  assert.equal(artifactUploadVerdict(503, 6), "fatal");
  assert.equal(artifactUploadVerdict(500, 2), "retry");
  assert.equal(artifactUploadVerdict(500, 3), "fatal");
  assert.equal(artifactUploadVerdict(undefined, 2), "retry");
  assert.deepEqual([1, 2, 3, 4, 5].map(artifactUploadBackoffMs), [1000, 2000, 4000, 5000, 5000]);
});

Deno.test("artifact download does not retry 401, 403 or 404", () => {
  assert.equal(isArtifactDownloadRetriable(401), false);
  assert.equal(isArtifactDownloadRetriable(403), false);
  assert.equal(isArtifactDownloadRetriable(404), false);
  assert.equal(isArtifactDownloadRetriable(500), true);
  assert.equal(isArtifactDownloadRetriable(undefined), true);
});

Deno.test("a server-directed wait far in the future is capped at one hour instead of parking the client", () => {
  const policy = new RetryPolicy({ random: () => 0 });
  const now = Date.parse("2026-01-01T00:00:00Z");
  const hour = 60 * 60 * 1000;
  assert.equal(
    policy.delayMs(1, new Headers({ "RateLimit-ResetTime": "Fri, 31 Dec 9999 23:59:59 GMT" }), now),
    hour,
  );
  assert.equal(policy.delayMs(1, new Headers({ "Retry-After": "9999999999" }), now), hour);
  assert.equal(policy.delayMs(1, new Headers({ "Retry-After": "120" }), now), 120_000);
});

Deno.test("a server-directed wait of nothing (a reset time already past, Retry-After: 0) backs off instead of retrying at once", () => {
  const policy = new RetryPolicy({ random: () => 0 });
  const now = Date.parse("2026-01-01T00:00:00Z");
  // This host's clock ahead of GitLab's: its reset time is already past here.
  const past = new Headers({ "RateLimit-ResetTime": "Wed, 31 Dec 2025 23:59:50 GMT" });
  assert.deepEqual([1, 2, 3, 4].map((a) => policy.delayMs(a, past, now)), [50, 100, 200, 400]);
  const pastThenRetryAfter = new Headers({
    "RateLimit-ResetTime": "Wed, 31 Dec 2025 23:59:50 GMT",
    "Retry-After": "30",
  });
  assert.equal(policy.delayMs(1, pastThenRetryAfter, now), 30_000);
  assert.equal(policy.delayMs(3, new Headers({ "Retry-After": "0" }), now), 200);
});
