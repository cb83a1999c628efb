/**
 * One job's web terminal session, as the official runner serves it: GitLab
 * (workhorse) connects to `<url>/exec` with the session's `Authorization`,
 * upgraded to a websocket with the `terminal.gitlab.com` subprotocol (binary
 * frames carry keystrokes in and terminal output out) or
 * `base64.terminal.gitlab.com` (the same bytes base64-encoded in text
 * frames). One terminal at a time; a second gets 423 Locked.
 */
import type { Logger } from "../log/logger.ts";
import { decodeBase64, encodeBase64 } from "../executors/process_protocol.ts";
import type { JobTerminal, JobTerminalSession, TerminalStream } from "../poller/job_terminal.ts";

/** The `session` object of `POST /jobs/request` (spec §2.1). */
export interface SessionInfo {
  url: string;
  certificate: string;
  authorization: string;
}

/** Subprotocols in the server's order of preference, as gitlab-terminal lists them. */
const SUBPROTOCOLS = ["terminal.gitlab.com", "base64.terminal.gitlab.com"] as const;

/** How long an exec request waits for the job's terminal to be hooked up (upstream: 1 minute). */
const ATTACH_WAIT_MS = 60_000;

/** Pings keep proxies between GitLab and the runner from dropping an idle terminal. */
const PING_SECONDS = 30;

/**
 * Output the websocket may hold unsent before the job's shell is paused, and
 * the level it must drain to before it goes on: a client that reads slowly
 * (or not at all) holds up the shell, as upstream's blocking writes do,
 * instead of the poller buffering all the shell prints (`yes` grew it by
 * about 10 MB a second).
 */
const PAUSE_AT_BYTES = 1024 * 1024;
const RESUME_AT_BYTES = 256 * 1024;
/** How often a paused terminal checks whether its websocket drained (it has no event for that). */
const DRAIN_CHECK_MS = 50;

export interface TerminalSessionOptions {
  /** `/session/<64 hex>`. */
  endpoint: string;
  /** The `authorization` GitLab must send back. */
  token: string;
  sessionTimeoutSeconds: number;
  log: Logger;
  /** Called once by `close`. */
  onClose?: () => void;
}

export class TerminalSession implements JobTerminalSession {
  readonly endpoint: string;
  readonly token: string;
  readonly sessionTimeoutSeconds: number;
  readonly #log: Logger;
  readonly #onClose: () => void;
  readonly #attached = Promise.withResolvers<JobTerminal | null>();
  #terminal: JobTerminal | null = null;
  /** The connected websocket's teardown; null when no terminal is connected. */
  #connected: (() => void) | null = null;
  #isClosed = false;

  constructor(options: TerminalSessionOptions) {
    this.endpoint = options.endpoint;
    this.token = options.token;
    this.sessionTimeoutSeconds = options.sessionTimeoutSeconds;
    this.#log = options.log;
    this.#onClose = options.onClose ?? (() => {});
  }

  attach(terminal: JobTerminal): void {
    this.#terminal = terminal;
    this.#attached.resolve(terminal);
  }

  close(): void {
    if (!this.#isClosed) this.#onClose();
    this.#isClosed = true;
    this.#attached.resolve(null);
    this.#connected?.();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Serves a request whose path starts with this session's endpoint. */
  async handle(request: Request, path: string): Promise<Response> {
    const isExec = path === `${this.endpoint}/exec`;
    if (!isExec && !path.startsWith(`${this.endpoint}/proxy/`)) return status(404);
    if (request.headers.get("authorization") !== this.token) {
      this.#log.error("Authorization header is not valid", { "uri": path });
      return status(401);
    }
    // Upstream proxies to services only on Kubernetes; docker and shell jobs have none.
    if (!isExec) return status(404);
    if (!isWebSocketUpgrade(request)) {
      this.#log.error("Request is not a web socket connection", { "uri": path });
      return status(405);
    }
    const terminal = this.#terminal ?? await waitFor(this.#attached.promise);
    if (!terminal || this.#isClosed) {
      this.#log.error("Interactive terminal not set", { "uri": path });
      return status(503);
    }
    if (this.#connected) {
      this.#log.warn("Terminal already connected, revoking connection", { "uri": path });
      return status(423);
    }
    return await this.#connect(request, terminal, path);
  }

  async #connect(request: Request, terminal: JobTerminal, path: string): Promise<Response> {
    const offered = (request.headers.get("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim());
    const protocol = SUBPROTOCOLS.find((p) => offered.includes(p));
    let socket: WebSocket | null = null;
    /** Output written before the websocket opened. */
    const early: Uint8Array[] = [];
    /** Without a subprotocol, answer in the kind of frame the client last sent (as gitlab-terminal). */
    let isText = false;
    /** Set while the shell is paused: the timer that waits for the websocket to drain. */
    let drainCheck: ReturnType<typeof setInterval> | undefined;
    const send = (data: Uint8Array) => {
      if (socket === null || socket.readyState === WebSocket.CONNECTING) {
        early.push(data);
        return;
      }
      if (socket.readyState !== WebSocket.OPEN) return;
      if (protocol === "base64.terminal.gitlab.com") socket.send(encodeBase64(data));
      else if (protocol === undefined && isText) socket.send(new TextDecoder().decode(data));
      else socket.send(data);
      if (drainCheck === undefined && socket.bufferedAmount > PAUSE_AT_BYTES) {
        const open = socket;
        stream.pause();
        drainCheck = setInterval(() => {
          if (open.readyState !== WebSocket.OPEN || open.bufferedAmount > RESUME_AT_BYTES) return;
          clearInterval(drainCheck);
          drainCheck = undefined;
          stream.resume();
        }, DRAIN_CHECK_MS);
      }
    };
    let stream: TerminalStream;
    let isEnded = false;
    const teardown = () => {
      if (isEnded) return;
      isEnded = true;
      clearInterval(drainCheck);
      if (this.#connected === teardown) this.#connected = null;
      stream?.close();
      if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    };
    this.#connected = teardown;
    try {
      stream = await terminal.open({
        onOutput: send,
        onClosed: () => teardown(),
      });
    } catch (err) {
      this.#connected = null;
      this.#log.error("Failed to connect to terminal", {
        "uri": path,
        "error": (err as Error).message,
      });
      return status(500);
    }
    if (isEnded || this.#isClosed) {
      teardown();
      return status(503);
    }
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        ...(protocol ? { protocol } : {}),
        idleTimeout: PING_SECONDS,
      });
    } catch (err) {
      // A malformed handshake (no Sec-WebSocket-Key): the terminal just opened is
      // ended, or it would hold the session (423 to the next client) and keep the
      // job open for session_timeout as if someone were typing.
      teardown();
      const why = (err as Error).message;
      this.#log.error("Terminal websocket upgrade failed", { "uri": path, "error": why });
      return status(400, why);
    }
    socket = upgraded.socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      for (const chunk of early.splice(0)) send(chunk);
    };
    socket.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (typeof data === "string") {
        isText = true;
        stream.write(
          protocol === "base64.terminal.gitlab.com"
            ? fromBase64(data)
            : new TextEncoder().encode(data),
        );
      } else {
        isText = false;
        const bytes = new Uint8Array(data as ArrayBuffer);
        stream.write(protocol === "base64.terminal.gitlab.com" ? fromBase64(decode(bytes)) : bytes);
      }
    };
    socket.onclose = () => teardown();
    socket.onerror = () => teardown();
    this.#log.debug("Starting terminal session", { "uri": path });
    return upgraded.response;
  }
}

function status(code: number, detail?: string): Response {
  const text: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    423: "Locked",
    500: "Internal Server Error",
    503: "Service Unavailable",
  };
  return new Response(`${text[code] ?? ""}${detail ? `: ${detail}` : ""}\n`, {
    status: code,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** A websocket handshake is a GET (RFC 6455; upstream answers anything else 405 too). */
function isWebSocketUpgrade(request: Request): boolean {
  if (request.method !== "GET") return false;
  const connection = (request.headers.get("connection") ?? "").toLowerCase();
  return connection.split(",").some((t) => t.trim() === "upgrade") &&
    (request.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
}

/**
 * Waits for the job's terminal to be hooked up, at most ATTACH_WAIT_MS. (Not
 * on `request.signal`: Deno.serve aborts it on every answered request.)
 */
async function waitFor<T>(promise: Promise<T | null>): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const give = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ATTACH_WAIT_MS);
  });
  try {
    return await Promise.race([promise, give]);
  } finally {
    clearTimeout(timer);
  }
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Keystrokes of `base64.terminal.gitlab.com`; a frame that is not base64 is dropped. */
function fromBase64(text: string): Uint8Array {
  try {
    return decodeBase64(text.trim());
  } catch {
    return new Uint8Array(0);
  }
}
