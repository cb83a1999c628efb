/**
 * Every retry decision of the GitLab client lives here (spec §7.1, §6.1,
 * §6.3): which statuses the transport retries, how long it waits, and how
 * many tries artifact transfers get. Callers ask; they never hard-code codes.
 */

/** Transport-level retry: 408, 429, 500, 502, 503, 504 and anything >= 512. */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 ||
    status === 503 || status === 504 || status >= 512;
}

/** Longest wait a `RateLimit-ResetTime` or `Retry-After` header can ask for. */
export const MAX_SERVER_WAIT_MS = 60 * 60 * 1000;

export interface RetryPolicyOptions {
  /** Total attempts including the first; default 5. */
  maxAttempts?: number;
  /** First exponential backoff step; default 100 ms. */
  minBackoffMs?: number;
  /** Backoff ceiling; default 60 s. */
  maxBackoffMs?: number;
  /** Random source in [0, 1) for jitter; default Math.random. */
  random?: () => number;
}

/**
 * The transport retry policy applied to every API call. Network errors are
 * never retried here; only retriable statuses are.
 */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #random: () => number;

  constructor(options: RetryPolicyOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.#minBackoffMs = options.minBackoffMs ?? 100;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.#random = options.random ?? Math.random;
  }

  /** Whether attempt number `attempt` (1-based) answered `status` should be retried. */
  shouldRetry(status: number, attempt: number): boolean {
    return attempt < this.maxAttempts && isRetriableStatus(status);
  }

  /**
   * Milliseconds to wait after attempt `attempt` (1-based) was answered with
   * `headers`: until `RateLimit-ResetTime` when it is a valid HTTP date in the
   * future, else `Retry-After` seconds when more than 0, else exponential
   * backoff with jitter (as the official client).
   */
  delayMs(attempt: number, headers: Headers, nowMs: number): number {
    // A server-directed wait is capped: a broken or hostile answer
    // ("RateLimit-ResetTime: Fri, 31 Dec 9999 ...") must not park the client
    // for ever. One hour is the longest a whole request may take (spec §7.3).
    // One of 0 (a reset time already past by our clock, which may run ahead
    // of GitLab's; "Retry-After: 0") falls through to the backoff: taken as
    // is, every retry of a rate-limited request went out at once.
    const reset = headers.get("RateLimit-ResetTime");
    if (reset) {
      const at = Date.parse(reset);
      if (at > nowMs) return Math.min(MAX_SERVER_WAIT_MS, at - nowMs);
    }
    const retryAfter = headers.get("Retry-After")?.trim();
    if (retryAfter && /^\d+$/.test(retryAfter) && Number(retryAfter) > 0) {
      return Math.min(MAX_SERVER_WAIT_MS, Number(retryAfter) * 1000);
    }
    const base = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** (attempt - 1));
    // Jitter in [base/2, base) spreads retries of many runners hitting one instance.
    return Math.round(base / 2 + (this.#random() * base) / 2);
  }
}

/** Artifact upload (spec §6.1): what to do after a try answered `status` (undefined: network error). */
export type UploadVerdict = "done" | "redirect" | "fatal" | "retry";

export const ARTIFACT_UPLOAD_TRIES = 3;
export const ARTIFACT_UPLOAD_TRIES_ON_503 = 6;

export function artifactUploadVerdict(
  status: number | undefined,
  tryNumber: number,
): UploadVerdict {
  if (status === 201) return "done";
  if (status === 403 || status === 413) return "fatal";
  if (status === 307) return tryNumber < ARTIFACT_UPLOAD_TRIES ? "redirect" : "fatal";
  const limit = status === 503 ? ARTIFACT_UPLOAD_TRIES_ON_503 : ARTIFACT_UPLOAD_TRIES;
  return tryNumber < limit ? "retry" : "fatal";
}

/** Backoff between artifact upload tries: 1 s doubling up to 5 s. */
export function artifactUploadBackoffMs(tryNumber: number): number {
  return Math.min(5000, 1000 * 2 ** (tryNumber - 1));
}

/** Artifact download (spec §6.3): 3 tries, 1 s apart; 401/403/404 are final. */
export const ARTIFACT_DOWNLOAD_TRIES = 3;
export const ARTIFACT_DOWNLOAD_RETRY_DELAY_MS = 1000;

export function isArtifactDownloadRetriable(status: number | undefined): boolean {
  return status !== 401 && status !== 403 && status !== 404;
}
