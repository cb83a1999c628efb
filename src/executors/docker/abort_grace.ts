/**
 * How long the docker executors wait for a daemon that stopped answering
 * (frozen, its socket still open) once the job no longer needs the answer: a
 * stopped stage or prepare waited for the kill (or its pending call) for ever.
 */
export const ABORT_GRACE_MS = 10_000;

/**
 * `work`'s outcome; but once `signal` aborted and `work` has not settled
 * within ABORT_GRACE_MS, `giveUp`'s (its value, or what it throws). `work`
 * goes on unobserved: its late rejection is dropped.
 */
export function settleAfterAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  giveUp: () => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      timer = setTimeout(() => {
        try {
          resolve(giveUp());
        } catch (err) {
          reject(err);
        }
      }, ABORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  });
}
