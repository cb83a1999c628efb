/**
 * Keystrokes on their way into a job's terminal: a shell that does not read
 * (it runs `sleep`, its tty is full) holds up the writes, and a client that
 * keeps sending (a paste of gigabytes) would grow the executor process
 * without bound. Up to MAX_TERMINAL_INPUT_QUEUED bytes wait; more are
 * dropped, as a full tty drops input.
 */
export const MAX_TERMINAL_INPUT_QUEUED = 4 * 1024 * 1024;

export class TerminalInput {
  readonly #write: (data: Uint8Array) => Promise<unknown>;
  #queued = 0;

  /** `write` resolves once the shell's side took the bytes (or failed). */
  constructor(write: (data: Uint8Array) => Promise<unknown>) {
    this.#write = write;
  }

  /** Bytes written and not yet taken. */
  get queued(): number {
    return this.#queued;
  }

  /** Writes `data`, or drops it when the queue is full; never throws. */
  write(data: Uint8Array): void {
    if (this.#queued + data.length > MAX_TERMINAL_INPUT_QUEUED) return;
    this.#queued += data.length;
    const done = () => this.#queued -= data.length;
    this.#write(data).then(done, done);
  }
}
