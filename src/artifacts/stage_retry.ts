/**
 * Sleeps `ms` unless `signal` aborts first (then rejects with its reason).
 * Injected everywhere retries wait, so tests step instead of sleeping.
 */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });

/**
 * Stage attempts from a variable such as `ARTIFACT_DOWNLOAD_ATTEMPTS`
 * (§7.2): default 1, clamped to 1–10; a value that is not a number is 1.
 */
export function stageAttempts(value: string | undefined): number {
  const n = Number.parseInt((value ?? "").trim(), 10);
  if (!Number.isFinite(n)) return 1;
  return Math.min(10, Math.max(1, n));
}

/** Wait before stage attempt `attempt` (2, 3, …): 5 s doubling, at most 5 min. */
export function stageBackoffMs(attempt: number): number {
  return Math.min(5 * 60_000, 5_000 * 2 ** Math.max(0, attempt - 2));
}
