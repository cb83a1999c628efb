/**
 * Turns of the event loop for long archive work. Over the local disk the
 * writer and the extractor call only synchronous I/O, so their loops are one
 * chain of resolved promises: without this, nothing else in the process ran
 * until they ended (not a job's cancel read from stdin, its timeout, log
 * flushes or the poller's answers; a 5 ms timer fired 0 times during a
 * 309 ms archive).
 *
 * A turn is taken by time, not per entry: `setImmediate` and
 * `MessageChannel` do not let I/O through in Deno, and `setTimeout(0)` does
 * but waits ~2 ms for the timer to come due. So a timer is armed ahead, due
 * a little before the work will have gone `every` ms without a turn, and
 * awaited only then: it is already due and the turn costs one pass of the
 * loop (~50 µs). Deno fires due timers in deadline order and our work
 * resumes inside ours, so a timer due before ours runs in this turn, one due
 * after it in the next: ours is due late in the interval (at 90%) so that
 * few wait for the next. When the loop turns by itself (a network sink) the
 * timer fires there and re-arms, and no turn is forced.
 */

/** How long archive work may run without letting the event loop turn. */
export const TURN_EVERY_MS = 50;

export class EventLoopTurns {
  readonly #every: number;
  readonly #signal: AbortSignal | undefined;
  /** When the event loop last ran our timer: the last turn we know of. */
  #lastTurn = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves the turn every caller of `take` since the last one waits for. */
  #wake: (() => void) | null = null;
  #turn: Promise<void> | null = null;
  #isClosed = false;

  /**
   * @param signal checked after each turn: an abort delivered during the
   *   turn stops the work there
   */
  constructor(signal?: AbortSignal, every = TURN_EVERY_MS) {
    this.#signal = signal;
    this.#every = every;
    this.#arm();
  }

  /** Whether the work has run `every` ms without a turn: one clock read. */
  get isDue(): boolean {
    return performance.now() - this.#lastTurn >= this.#every;
  }

  /**
   * Lets the event loop turn (timers, pipes, sockets), then throws the
   * signal's reason if it was aborted. Use as
   * `if (turns.isDue) await turns.take();`.
   */
  async take(): Promise<void> {
    if (!this.#isClosed) {
      await (this.#turn ??= new Promise<void>((resolve) => this.#wake = resolve));
    }
    this.#signal?.throwIfAborted();
  }

  /** Clears the armed timer; call when the work ends, however it ends. */
  close(): void {
    this.#isClosed = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    this.#wake = null;
    this.#turn = null;
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#lastTurn = performance.now();
      const wake = this.#wake;
      this.#wake = null;
      this.#turn = null;
      if (!this.#isClosed) this.#arm();
      wake?.();
    }, this.#every * 0.9);
  }
}
