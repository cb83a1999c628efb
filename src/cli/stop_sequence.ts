/**
 * How `runner run` stops, one stop signal after another, as the official
 * runner does: SIGQUIT drains (no new jobs, running ones finish); SIGTERM or
 * SIGINT aborts the running jobs and waits for their reports, at most
 * `shutdown_timeout`, also when it comes during a drain; any stop signal
 * while aborting exits at once. A further SIGQUIT during a drain changes
 * nothing. A drain the runner starts itself (`--max-builds`, a re-scope for
 * a reloaded config) goes the same way. On Windows, where no SIGQUIT can be
 * sent, the first stop signal drains, as the official runner's does there
 * (`isFirstGraceful`).
 */
export type StopPhase = "serving" | "draining" | "aborting" | "exiting";

export class StopSequence {
  readonly #isFirstGraceful: boolean;
  #phase: StopPhase = "serving";
  #started = Promise.withResolvers<"graceful" | "forceful">();
  #aborting = Promise.withResolvers<void>();
  #exiting = Promise.withResolvers<void>();
  #abortedBy: Deno.Signal | null = null;
  #drainedBy: Deno.Signal | null = null;

  constructor(options: { isFirstGraceful?: boolean } = {}) {
    this.#isFirstGraceful = options.isFirstGraceful ?? false;
  }

  get phase(): StopPhase {
    return this.#phase;
  }

  /** The signal that made the runner abort its jobs; null before that. */
  get abortedBy(): Deno.Signal | null {
    return this.#abortedBy;
  }

  /** The signal that started the drain; null before it, or when the runner drains of its own accord. */
  get drainedBy(): Deno.Signal | null {
    return this.#drainedBy;
  }

  /** Resolves how the stop began: a drain or an abort. */
  get started(): Promise<"graceful" | "forceful"> {
    return this.#started.promise;
  }

  /** Resolves when a drain turns into an abort. */
  get aborting(): Promise<void> {
    return this.#aborting.promise;
  }

  /** Resolves when a signal came while aborting: exit now. */
  get exiting(): Promise<void> {
    return this.#exiting.promise;
  }

  /** The runner drains of its own accord; no-op once stopping. */
  drain(): void {
    if (this.#phase !== "serving") return;
    this.#phase = "draining";
    this.#started.resolve("graceful");
  }

  /**
   * Takes a stop signal (SIGQUIT, SIGTERM or SIGINT); returns what the
   * runner log says about a signal that comes while stopping, null for the
   * first.
   */
  signal(signal: Deno.Signal): string | null {
    const isGraceful = signal === "SIGQUIT" ||
      (this.#isFirstGraceful && this.#phase === "serving");
    switch (this.#phase) {
      case "serving":
        if (isGraceful) {
          this.#drainedBy = signal;
          this.drain();
        } else this.#abort(signal);
        return null;
      case "draining":
        if (isGraceful) {
          return `${signal} received while waiting for running jobs to finish: still waiting ` +
            "(send SIGTERM to abort them)";
        }
        this.#abort(signal);
        return `${signal} received while waiting for running jobs to finish: aborting them`;
      case "aborting":
        this.#phase = "exiting";
        this.#exiting.resolve();
        return `${signal} received while aborting running jobs: exiting now`;
      case "exiting":
        return `${signal} received while exiting`;
    }
  }

  #abort(signal: Deno.Signal): void {
    const wasServing = this.#phase === "serving";
    this.#phase = "aborting";
    this.#abortedBy = signal;
    if (wasServing) this.#started.resolve("forceful");
    this.#aborting.resolve();
  }
}
