/**
 * The web terminal inside an executor process: opens the executor's terminal
 * when the poller relays a websocket (`terminal-open`), moves keystrokes and
 * output as protocol messages, and tells the build whether a terminal is
 * connected (build/run_build.ts keeps the job open while one is).
 */
import type { BuildTerminal } from "../build/run_build.ts";
import type { Executor, JobTerminalProcess } from "../executors/executor.ts";
import {
  decodeBase64,
  encodeBase64,
  type FromExecutor,
  type TerminalRequest,
} from "../executors/process_protocol.ts";

export interface ExecutorTerminalOptions {
  sessionTimeoutSeconds: number;
  /** Sends an event to the poller. */
  send(event: FromExecutor): void;
}

export class ExecutorTerminal implements BuildTerminal {
  readonly sessionTimeoutSeconds: number;
  readonly #send: (event: FromExecutor) => void;
  readonly #executor = Promise.withResolvers<Executor>();
  /** The open terminal (at most one) by id; a pending open holds null. */
  readonly #open = new Map<number, JobTerminalProcess | null>();
  /** Pending opens whose websocket went away before the terminal ran. */
  readonly #cancelled = new Set<number>();
  /** Terminals whose output is not read while the poller's client is behind, by id. */
  readonly #paused = new Map<number, PromiseWithResolvers<void>>();
  #idle = Promise.withResolvers<void>();
  #isFinished = false;

  constructor(options: ExecutorTerminalOptions) {
    this.sessionTimeoutSeconds = options.sessionTimeoutSeconds;
    this.#send = options.send;
    this.#idle.resolve();
  }

  /** The job's executor, once made; terminals asked for before wait for it. */
  setExecutor(executor: Executor): void {
    this.#executor.resolve(executor);
  }

  get isConnected(): boolean {
    return this.#open.size > 0;
  }

  disconnected(): Promise<void> {
    return this.#idle.promise;
  }

  async close(): Promise<void> {
    for (const id of [...this.#paused.keys()]) this.#resume(id);
    await Promise.all([...this.#open.values()].map((t) => t?.close()));
  }

  /** The job is over: no new terminal opens. */
  finish(): void {
    this.#isFinished = true;
    if (this.#open.size === 0) this.#executor.reject(new Error("the job has ended"));
  }

  handle(request: TerminalRequest): void {
    if (request.type === "terminal-open") void this.#start(request.id);
    else if (request.type === "terminal-input") {
      this.#open.get(request.id)?.write(decodeBase64(request.data));
    } else if (request.type === "terminal-pause") {
      if (this.#open.has(request.id) && !this.#paused.has(request.id)) {
        this.#paused.set(request.id, Promise.withResolvers<void>());
      }
    } else if (request.type === "terminal-resume") this.#resume(request.id);
    else {
      this.#resume(request.id);
      const terminal = this.#open.get(request.id);
      if (terminal === null) this.#cancelled.add(request.id);
      else void terminal?.close();
    }
  }

  async #start(id: number): Promise<void> {
    if (this.#open.size === 0) this.#idle = Promise.withResolvers<void>();
    this.#open.set(id, null);
    let terminal: JobTerminalProcess;
    try {
      if (this.#isFinished) throw new Error("the job has ended");
      const executor = await this.#executor.promise;
      if (!executor.openTerminal) throw new Error("this executor has no interactive terminal");
      terminal = await executor.openTerminal((chunk) => {
        this.#send({ type: "terminal-output", id, data: encodeBase64(chunk) });
        return this.#paused.get(id)?.promise;
      });
    } catch (err) {
      this.#ended(id, (err as Error).message);
      return;
    }
    if (this.#cancelled.delete(id)) {
      // The websocket went away while the terminal started.
      await terminal.close();
      this.#ended(id);
      return;
    }
    this.#open.set(id, terminal);
    this.#send({ type: "terminal-started", id });
    await terminal.closed;
    this.#ended(id);
  }

  #resume(id: number): void {
    this.#paused.get(id)?.resolve();
    this.#paused.delete(id);
  }

  #ended(id: number, error?: string): void {
    this.#resume(id);
    this.#open.delete(id);
    this.#send({ type: "terminal-closed", id, ...(error ? { error } : {}) });
    if (this.#open.size === 0) this.#idle.resolve();
  }
}
