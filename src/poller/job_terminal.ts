/**
 * The web terminal seen from the poller. The session server (session/)
 * serves the websocket; the job's executor process runs the terminal; the job
 * supervisor connects the two with a `ProcessTerminal` over the executor
 * protocol (executors/process_protocol.ts).
 */
import {
  decodeBase64,
  encodeBase64,
  type TerminalEvent,
  type ToExecutor,
} from "../executors/process_protocol.ts";

/** A terminal running in a job. */
export interface TerminalStream {
  /** Keystrokes for the job's shell. */
  write(data: Uint8Array): void;
  /**
   * The client is behind: read no more of the shell's output (the shell then
   * waits on its terminal) until `resume`. Output already on its way still comes.
   */
  pause(): void;
  resume(): void;
  /** Ends the terminal (its shell is killed); may run twice. */
  close(): void;
}

export interface TerminalCallbacks {
  onOutput(data: Uint8Array): void;
  /** The terminal ended (the shell exited, or the job did); called once. */
  onClosed(): void;
}

/** Opens terminals in one job; the session server serves them. */
export interface JobTerminal {
  /** Resolves once the terminal runs; rejects with why it cannot. */
  open(callbacks: TerminalCallbacks): Promise<TerminalStream>;
}

/** The web terminal session GitLab got with one job (session/ implements it). */
export interface JobTerminalSession {
  /** `[session_server] session_timeout`, seconds. */
  readonly sessionTimeoutSeconds: number;
  /** From now on, terminals asked for open through `terminal`. */
  attach(terminal: JobTerminal): void;
  /** The job ended: a connected terminal is closed, the session's URL answers 404. */
  close(): void;
}

/** Web terminal sessions by job (session/ implements it). */
export interface JobTerminalSessions {
  /** The session GitLab got with job `jobId`, or null; each is handed out once. */
  take(jobId: number): JobTerminalSession | null;
}

interface Pending {
  callbacks: TerminalCallbacks;
  started: PromiseWithResolvers<TerminalStream>;
  isStarted: boolean;
  /** Keystroke bytes (base64) handed to `send` and not yet written to the executor process. */
  inputInFlight: number;
}

/**
 * Keystrokes (as base64) that may wait for the executor process to take them;
 * more is dropped, as a full tty drops input. A client sending faster than
 * the job's shell reads (a paste of gigabytes) would otherwise be buffered by
 * the poller, the process every job depends on.
 */
export const MAX_TERMINAL_INPUT_IN_FLIGHT = 4 * 1024 * 1024;

/** Terminals of one executor process, relayed over its stdin and stdout. */
export class ProcessTerminal implements JobTerminal {
  #next = 1;
  readonly #terminals = new Map<number, Pending>();
  readonly #send: (message: ToExecutor) => Promise<void>;
  #isClosed = false;

  constructor(send: (message: ToExecutor) => Promise<void>) {
    this.#send = send;
  }

  open(callbacks: TerminalCallbacks): Promise<TerminalStream> {
    if (this.#isClosed) return Promise.reject(new Error("the job has ended"));
    const id = this.#next++;
    const pending: Pending = {
      callbacks,
      started: Promise.withResolvers(),
      isStarted: false,
      inputInFlight: 0,
    };
    this.#terminals.set(id, pending);
    this.#send({ type: "terminal-open", id }).catch((err) => this.#end(id, String(err)));
    return pending.started.promise;
  }

  /** An event of the executor process. */
  handle(event: TerminalEvent): void {
    const pending = this.#terminals.get(event.id);
    if (!pending) return;
    if (event.type === "terminal-output") pending.callbacks.onOutput(decodeBase64(event.data));
    else if (event.type === "terminal-closed") this.#end(event.id, event.error);
    else {
      pending.isStarted = true;
      const id = event.id;
      pending.started.resolve({
        write: (data) => {
          if (!this.#terminals.has(id)) return;
          const text = encodeBase64(data);
          if (pending.inputInFlight + text.length > MAX_TERMINAL_INPUT_IN_FLIGHT) return;
          pending.inputInFlight += text.length;
          this.#send({ type: "terminal-input", id, data: text }).catch(() => {})
            .finally(() => pending.inputInFlight -= text.length);
        },
        pause: () => {
          if (this.#terminals.has(id)) this.#send({ type: "terminal-pause", id }).catch(() => {});
        },
        resume: () => {
          if (this.#terminals.has(id)) this.#send({ type: "terminal-resume", id }).catch(() => {});
        },
        close: () => {
          if (this.#terminals.has(id)) {
            this.#send({ type: "terminal-close", id }).catch(() => {});
          }
        },
      });
    }
  }

  /** The executor process ended: every terminal is over. */
  close(): void {
    this.#isClosed = true;
    for (const id of [...this.#terminals.keys()]) this.#end(id, "the job has ended");
  }

  #end(id: number, error?: string): void {
    const pending = this.#terminals.get(id);
    if (!pending) return;
    this.#terminals.delete(id);
    if (pending.isStarted) pending.callbacks.onClosed();
    else pending.started.reject(new Error(error ?? "the terminal ended before it started"));
  }
}
