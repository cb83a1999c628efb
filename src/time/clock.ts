/**
 * Time as the runner's logic sees it: timestamps, timeouts, retry waits and
 * backoffs all go through a Clock, so unit tests can step time instead of
 * sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with `signal.reason` when the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Longest single timer: timers take a 32-bit signed delay, and a longer one
 * fires at once (a project's job timeout may be a month, 2.6e9 ms). Longer
 * sleeps chain timers of at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wall clock and real timers.
 *
 * Waits are `AbortSignal.timeout` timers, not `setTimeout`: in Deno 2.9 the
 * first `setTimeout` of a process loads the Node timers module and what it
 * needs (~20 ms of CPU), which every executor process paid in its first job
 * (the job timeout is its first timer). Such a timer keeps the process
 * alive while the sleep listens to it, like `setTimeout`; a cancelled sleep
 * stops listening, and the timer, which cannot be cleared, then neither
 * keeps the process alive nor runs anything when it fires.
 */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        // NaN waits for nothing; Infinity for ever.
        let left = ms > 0 ? Math.ceil(ms) : 0;
        let timer: AbortSignal;
        const onTimer = () => {
          if (left > 0) {
            arm();
            return;
          }
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const arm = () => {
          const step = Math.min(left, MAX_TIMER_MS);
          left -= step;
          timer = AbortSignal.timeout(step);
          timer.addEventListener("abort", onTimer, { once: true });
        };
        const onAbort = () => {
          timer.removeEventListener("abort", onTimer);
          reject(signal?.reason);
        };
        arm();
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
  };
}

/** A timer of `setLongTimeout`; `clear` stops it, as clearTimeout does. */
export interface LongTimer {
  clear(): void;
}

/**
 * `setTimeout` for a delay of any length: a single timer holds at most
 * MAX_TIMER_MS and fires at once when given more, so a longer delay (a
 * config.toml timeout of "a month" or more, set to mean "never") chains
 * timers. A delay that is not positive fires at once, Infinity never.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  let left = ms > 0 ? ms : 0;
  let id: ReturnType<typeof setTimeout>;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    id = setTimeout(() => left > 0 ? arm() : callback(), step);
  };
  arm();
  return { clear: () => clearTimeout(id) };
}
