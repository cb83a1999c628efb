/**
 * The session server of `[session_server]`: an HTTPS listener with a
 * certificate made at start (self_signed_certificate.ts), serving each
 * running job's web terminal under `/session/<id>/` (terminal_session.ts).
 *
 * Call order: `start`; per job request `offer` (its `info` goes to GitLab
 * with the request; `accept` once the request brought a job, else drop it);
 * the job supervisor `take`s the job's session and closes it when the job
 * ends; `close` at shutdown (may run twice).
 */
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type { JobTerminalSessions } from "../poller/job_terminal.ts";
import { selfSignedCertificate } from "./self_signed_certificate.ts";
import { sessionAddresses } from "./session_address.ts";
import { type SessionInfo, TerminalSession } from "./terminal_session.ts";

export interface SessionServerOptions {
  listenAddress: string;
  /** "" = the listen address. */
  advertiseAddress: string;
  /** `session_timeout` as configured now, seconds. */
  sessionTimeoutSeconds: () => number;
  log: Logger;
}

/** A session announced with one job request. */
export interface SessionOffer {
  readonly info: SessionInfo;
  /** The request brought job `jobId`: its terminal is served from now on. */
  accept(jobId: number): void;
}

export class SessionServer implements JobTerminalSessions, AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #log: Logger;
  readonly #timeout: () => number;
  /** `https://<advertise address>`. */
  readonly url: string;
  /** PEM of the server's certificate, sent to GitLab. */
  readonly certificate: string;
  /** Sessions of running jobs by endpoint, and the same by job id until taken. */
  readonly #byEndpoint = new Map<string, TerminalSession>();
  readonly #byJob = new Map<number, TerminalSession>();

  private constructor(
    server: Deno.HttpServer<Deno.NetAddr>,
    url: string,
    certificate: string,
    options: SessionServerOptions,
  ) {
    this.#server = server;
    this.url = url;
    this.certificate = certificate;
    this.#log = options.log;
    this.#timeout = options.sessionTimeoutSeconds;
  }

  /** Makes the certificate and listens; rejects naming the address when it cannot. */
  static async start(options: SessionServerOptions): Promise<SessionServer> {
    const addresses = sessionAddresses(options.listenAddress, options.advertiseAddress);
    const { certificate, privateKey } = await selfSignedCertificate(addresses.certificateHost);
    let handler: (request: Request) => Promise<Response> = () =>
      Promise.resolve(new Response(null, { status: 503 }));
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: addresses.listen.hostname,
        port: addresses.listen.port,
        cert: certificate,
        key: privateKey,
        onListen: () => {},
      }, (request) => handler(request));
    } catch (err) {
      throw new Error(
        `Cannot start the session server on "${options.listenAddress}": ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Port 0 (tests): GitLab must be told the port the system picked.
    const url = options.advertiseAddress === "" && addresses.listen.port === 0
      ? addresses.advertise.replace(/:0$/, `:${server.addr.port}`)
      : addresses.advertise;
    const session = new SessionServer(server, url, certificate, options);
    handler = (request) => session.#handle(request);
    options.log.info("Session server listening", {
      [F.ADDRESS]: `${server.addr.hostname}:${server.addr.port}`,
      [F.URL]: url,
    });
    return session;
  }

  get port(): number {
    return this.#server.addr.port;
  }

  offer(): SessionOffer {
    const endpoint = `/session/${randomHex(32)}`;
    const session = new TerminalSession({
      endpoint,
      token: randomHex(32),
      sessionTimeoutSeconds: this.#timeout(),
      log: this.#log.child({ "uri": endpoint }),
      onClose: () => this.#byEndpoint.delete(endpoint),
    });
    return {
      info: {
        url: this.url + endpoint,
        certificate: this.certificate,
        authorization: session.token,
      },
      accept: (jobId) => {
        this.#byEndpoint.set(endpoint, session);
        this.#byJob.set(jobId, session);
      },
    };
  }

  take(jobId: number): TerminalSession | null {
    const session = this.#byJob.get(jobId) ?? null;
    this.#byJob.delete(jobId);
    return session;
  }

  async close(): Promise<void> {
    for (const session of [...this.#byEndpoint.values()]) session.close();
    this.#byEndpoint.clear();
    this.#byJob.clear();
    await this.#server.shutdown().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const id = /^\/session\/[^/]+/.exec(path)?.[0];
    const session = id === undefined ? undefined : this.#byEndpoint.get(id);
    if (!session || !path.startsWith(`${session.endpoint}/`)) {
      this.#log.error("Mux handler not found", { "uri": path });
      return Promise.resolve(new Response("404 page not found\n", { status: 404 }));
    }
    return session.handle(request, path);
  }
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
