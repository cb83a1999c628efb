import type { Logger } from "../log/logger.ts";
import { F } from "../log/fields.ts";
import { GitLabApiError } from "./api_error.ts";
import { fetchFailureReason } from "./fetch_failure.ts";
import { apiRootUrl } from "./api_url.ts";
import { type Clock, systemClock } from "./clock.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { type LongTimer, setLongTimeout } from "../time/clock.ts";
import { type RunnerInfo, userAgent } from "./runner_info.ts";

/** Endpoint names used for metrics labels (the official ones where they exist). */
export type ApiEndpoint =
  | "register_runner"
  | "verify_runner"
  | "unregister_runner"
  | "unregister_runner_manager"
  | "reset_token"
  | "request_job"
  | "update_job"
  | "patch_trace"
  | "upload_artifacts"
  | "download_artifacts";

/** One HTTP attempt, reported to `onRequest` (status 0: no answer). */
export interface RequestEvent {
  endpoint: ApiEndpoint;
  method: string;
  status: number;
  durationSeconds: number;
}

export interface ApiTransportOptions {
  /** The configured GitLab URL (spec §0.1 derives the API root from it). */
  url: string;
  runnerInfo: RunnerInfo;
  /** PEM bundle added to the system roots; "" or absent: system roots only. */
  tlsCaFile?: string;
  /** PEM client certificate (mutual TLS); used only together with `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM private key of `tlsCertFile`. */
  tlsKeyFile?: string;
  clock?: Clock;
  retryPolicy?: RetryPolicy;
  /** Metrics hook, called once per HTTP attempt. */
  onRequest?: (event: RequestEvent) => void;
  /**
   * Metrics hook, called once per `send` when it resolves or rejects, with the
   * number of HTTP attempts it made (gitlab_runner_api_request_retries_total).
   */
  onCompleted?: (event: { path: string; method: string; attempts: number }) => void;
  log?: Logger;
  /** Default RESPONSE_HEADER_TIMEOUT_MS; real time, not `clock`'s. */
  responseHeaderTimeoutMs?: number;
  /**
   * `connection_max_age` in ms, read at each request (a reload may change
   * it); 0 or less, or absent: connections are kept as long as they serve.
   */
  connectionMaxAgeMs?: () => number;
}

export interface ApiRequest {
  endpoint: ApiEndpoint;
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** Called once per attempt, because a body can only be sent once. */
  body?: () => BodyInit | null | Promise<BodyInit | null>;
  /** Adds `Accept: application/json`. */
  acceptJson?: boolean;
  redirect?: RequestRedirect;
  signal?: AbortSignal | undefined;
  /**
   * This request's wait for the answer's headers instead of the transport's
   * (`ms` 0 or less: no limit), and the setting that chose it, named when it
   * expires (`[runners.artifact] response_header_timeout`).
   */
  responseHeaderTimeout?: { ms: number; setting: string };
}

/**
 * Longest wait for an answer's status and headers (spec §7.3, as the official
 * client's response header timeout): a connection that went silent (a
 * firewall dropped it, GitLab's host died without a reset) otherwise holds
 * the request for ever, a job request stopping the entry's polling, a trace
 * PATCH or final update the job. The answer's body may take longer
 * (artifacts); a request that streams its body (an artifact upload) is not
 * bounded.
 */
export const RESPONSE_HEADER_TIMEOUT_MS = 10 * 60 * 1000;

/** A fresh correlation id: UUIDv4 as 32 lowercase hex digits. */
export function requestId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/**
 * The only place the GitLab client calls `fetch`. Adds identity headers,
 * applies the transport retry policy to retriable statuses, reports every
 * attempt. Network errors are not retried: they reject with a
 * `GitLabApiError` of status 0, or with the abort reason when `signal` aborted.
 * Dispose to close the TLS client; disposing twice is harmless.
 */
export class ApiTransport implements Disposable {
  readonly root: URL;
  readonly clock: Clock;
  readonly #info: RunnerInfo;
  readonly #policy: RetryPolicy;
  readonly #onRequest: ((event: RequestEvent) => void) | undefined;
  readonly #onCompleted: ApiTransportOptions["onCompleted"];
  readonly #caFile: string;
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #log: Logger | undefined;
  readonly #headerTimeoutMs: number;
  readonly #connectionMaxAgeMs: () => number;
  #client: Promise<Deno.HttpClient | undefined> | undefined;
  /** When `#client` was made (performance.now()), for connection_max_age. */
  #clientBornAt = 0;
  /** Requests under way on each client; a replaced one closes when its last ends. */
  readonly #users = new Map<Promise<Deno.HttpClient | undefined>, number>();
  /** Clients replaced (a TLS file changed, connection_max_age passed) that requests still use. */
  readonly #replaced = new Set<Promise<Deno.HttpClient | undefined>>();
  /** The TLS files' modification times when `#client` was made (see `#httpClient`). */
  #filesStamp = "";
  #filesCheckedAt = -Infinity;
  #isDisposed = false;

  constructor(options: ApiTransportOptions) {
    this.root = apiRootUrl(options.url);
    this.clock = options.clock ?? systemClock();
    this.#info = options.runnerInfo;
    this.#policy = options.retryPolicy ?? new RetryPolicy();
    this.#onRequest = options.onRequest;
    this.#onCompleted = options.onCompleted;
    this.#caFile = options.tlsCaFile ?? "";
    this.#certFile = options.tlsCertFile ?? "";
    this.#keyFile = options.tlsKeyFile ?? "";
    this.#log = options.log;
    this.#headerTimeoutMs = options.responseHeaderTimeoutMs ?? RESPONSE_HEADER_TIMEOUT_MS;
    this.#connectionMaxAgeMs = options.connectionMaxAgeMs ?? (() => 0);
  }

  get runnerInfo(): RunnerInfo {
    return this.#info;
  }

  async send(request: ApiRequest): Promise<Response> {
    let attempts = 0;
    try {
      return await this.#send(request, () => attempts++);
    } finally {
      if (attempts > 0) {
        this.#onCompleted?.({ path: request.url.pathname, method: request.method, attempts });
      }
    }
  }

  async #send(request: ApiRequest, countAttempt: () => void): Promise<Response> {
    // An object around the promise: the async call would unwrap a bare one.
    const { client: used } = await this.#httpClient();
    this.#users.set(used, (this.#users.get(used) ?? 0) + 1);
    try {
      return await this.#sendWith(await used, request, countAttempt);
    } finally {
      const left = this.#users.get(used)! - 1;
      if (left > 0) this.#users.set(used, left);
      else {
        this.#users.delete(used);
        if (this.#replaced.delete(used)) close(used);
      }
    }
  }

  async #sendWith(
    client: Deno.HttpClient | undefined,
    request: ApiRequest,
    countAttempt: () => void,
  ): Promise<Response> {
    for (let attempt = 1;; attempt++) {
      const headers = new Headers(request.headers);
      headers.set("User-Agent", userAgent(this.#info));
      // A request that keeps its id (a job request: the job's correlation ID) sets its own.
      if (!headers.has("X-Request-Id")) headers.set("X-Request-Id", requestId());
      if (request.acceptJson) headers.set("Accept", "application/json");
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method: request.method,
        headers,
        body: (await request.body?.()) ?? null,
        redirect: request.redirect ?? "follow",
      };
      // Aborts the fetch only until the headers are in: the timer is cleared
      // then, and the answer's body may take as long as it needs. For a
      // streamed body (an artifact upload) it starts once the body has been
      // read to its end, as the official timeout starts once the request is
      // written: a big archive on a slow link takes longer than this to send,
      // but a GitLab that took it all and never answers must not hold the
      // job until its timeout. A cleared timer, not the Clock's sleep:
      // its timer cannot be cleared and held ~4 KB for 10 minutes after each
      // request (20000 requests: +78 MB of RSS against +15).
      const headersLate = new AbortController();
      const headerTimeout = request.responseHeaderTimeout ??
        { ms: this.#headerTimeoutMs, setting: "" };
      let headersTimer: LongTimer | undefined;
      const startHeadersTimer = () => {
        if (headerTimeout.ms <= 0) return;
        headersTimer = setLongTimeout(() => headersLate.abort(), headerTimeout.ms);
      };
      let answered = false;
      // What reading our own body threw (an artifact file that cannot be
      // read): the request failed here, not on the way to GitLab.
      let bodyFailure: { error: unknown } | undefined;
      const streamed = init.body instanceof ReadableStream
        ? endNotified(init.body, {
          onEnd: () => answered ? undefined : startHeadersTimer(),
          onError: (error) => bodyFailure = { error },
        })
        : undefined;
      if (streamed) init.body = streamed;
      else startHeadersTimer();
      init.signal = request.signal
        ? AbortSignal.any([request.signal, headersLate.signal])
        : headersLate.signal;
      if (client) init.client = client;
      const started = performance.now();
      countAttempt();
      let response: Response;
      try {
        response = await fetch(request.url, init);
      } catch (cause) {
        // fetch lets go of a body it could not send; what it read of it
        // stays locked to the wrapper's reader until cancelled here.
        if (streamed && !streamed.locked) await streamed.cancel(cause).catch(() => {});
        this.#report(request, 0, started);
        if (request.signal?.aborted) throw request.signal.reason;
        if (bodyFailure) {
          const { error } = bodyFailure;
          throw new GitLabApiError(
            request.endpoint,
            0,
            `Cannot send "${request.method} ${request.url.pathname}": ${
              error instanceof Error ? error.message : String(error)
            }`,
            { cause: error },
          );
        }
        const why = headersLate.signal.aborted
          ? `no answer within ${headerTimeout.ms / 1000} s` +
            (headerTimeout.setting === "" ? "" : ` (${headerTimeout.setting})`)
          : fetchFailureReason(cause, {
            url: request.url,
            caFile: this.#caFile,
            certFile: this.#keyFile === "" ? "" : this.#certFile,
            env: readEnv,
          });
        throw new GitLabApiError(
          request.endpoint,
          0,
          `Cannot reach GitLab for "${request.method} ${request.url.pathname}": ${why}`,
          { cause },
        );
      } finally {
        answered = true;
        headersTimer?.clear();
      }
      this.#report(request, response.status, started);
      if (!this.#policy.shouldRetry(response.status, attempt)) return response;
      const delay = this.#policy.delayMs(attempt, response.headers, this.clock.now());
      await response.body?.cancel();
      this.#log?.warn("GitLab answered a retriable status, retrying", {
        [F.ENDPOINT]: request.endpoint,
        [F.STATUS]: response.status,
        [F.DURATION_S]: delay / 1000,
      });
      await this.clock.sleep(delay, request.signal);
    }
  }

  #report(request: ApiRequest, status: number, started: number): void {
    this.#onRequest?.({
      endpoint: request.endpoint,
      method: request.method,
      status,
      durationSeconds: (performance.now() - started) / 1000,
    });
  }

  /**
   * The HTTP client (as its promise) for the TLS files as they are now: as
   * the official client does, a file whose modification time changed (a
   * renewed client certificate, a CA bundle rotated) makes a new client,
   * looked at no more than once a second; without this the old certificate
   * stayed in use until the runner restarted. And, as the official client's
   * connection_max_age, a client older than that makes way for a new one:
   * new requests dial new connections (a load balancer behind GitLab's
   * address spreads them again), the old client's requests finish on its
   * connections, which close with it after the last.
   */
  async #httpClient(): Promise<{ client: Promise<Deno.HttpClient | undefined> }> {
    const files = [this.#caFile, this.#certFile, this.#keyFile].filter((f) => f !== "");
    if (files.length > 0 && !this.#isDisposed) {
      const now = performance.now();
      if (this.#client === undefined || now - this.#filesCheckedAt >= FILES_CHECK_INTERVAL_MS) {
        this.#filesCheckedAt = now;
        const stamp = await filesStamp(files);
        if (this.#client !== undefined && stamp !== this.#filesStamp) {
          this.#log?.info("A TLS file changed, using it from now on", {
            [F.FILE]: files.join(", "),
          });
          this.#replace();
        }
        if (this.#client === undefined) this.#filesStamp = stamp;
      }
    }
    const maxAgeMs = this.#connectionMaxAgeMs();
    if (
      this.#client !== undefined && !this.#isDisposed && maxAgeMs > 0 &&
      performance.now() - this.#clientBornAt > maxAgeMs
    ) {
      this.#log?.debug("Connections to GitLab reached connection_max_age: new requests dial anew", {
        [F.DURATION_S]: maxAgeMs / 1000,
      });
      this.#replace();
    }
    const client = this.#newClient();
    await client;
    return { client };
  }

  /** Sets `#client` aside: it closes once no request uses it. */
  #replace(): void {
    const old = this.#client;
    this.#client = undefined;
    if (old === undefined) return;
    if (this.#users.has(old)) this.#replaced.add(old);
    else close(old);
  }

  #newClient(): Promise<Deno.HttpClient | undefined> {
    if (this.#client === undefined) this.#clientBornAt = performance.now();
    this.#client ??= (async () => {
      const options: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = {};
      if (this.#caFile !== "") {
        try {
          const pem = await Deno.readTextFile(this.#caFile);
          // Deno takes a file without one as no certificate at all, without a word.
          if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
            throw new Error("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
          }
          options.caCerts = [pem];
        } catch (error) {
          // spec §7.3: an unreadable CA file falls back to the system roots.
          this.#warnFile("Cannot use tls-ca-file, using system roots only", this.#caFile, error);
        }
      }
      if ((this.#certFile === "") !== (this.#keyFile === "")) {
        this.#log?.warn(
          "tls-cert-file and tls-key-file must be set together; no client certificate is sent",
          { [F.FILE]: this.#certFile || this.#keyFile },
        );
      } else if (this.#certFile !== "") {
        try {
          options.cert = await Deno.readTextFile(this.#certFile);
          options.key = await Deno.readTextFile(this.#keyFile);
        } catch (error) {
          delete options.cert;
          this.#warnFile(
            "Cannot read tls-cert-file or tls-key-file, no client certificate is sent",
            `${this.#certFile}, ${this.#keyFile}`,
            error,
          );
        }
      }
      // Deno's shared pool serves a transport with no TLS files, unless its
      // connections must be renewed: only its own client's can be.
      if (Object.keys(options).length === 0 && this.#connectionMaxAgeMs() <= 0) return undefined;
      try {
        return Deno.createHttpClient(options);
      } catch (error) {
        const bundle = options.caCerts?.[0];
        const readable = bundle === undefined ? undefined : this.#readableCertificates(bundle);
        if (readable !== undefined && readable !== bundle) {
          try {
            return Deno.createHttpClient({ ...options, caCerts: [readable] });
          } catch {
            // Not the bundle's fault alone: said below.
          }
        }
        // Deno says what is wrong ("Unable to decode key"), not where: the CA
        // bundle alone tells whether it or the client certificate is at fault.
        const isCaFine = options.caCerts !== undefined && options.cert !== undefined &&
          isUsable({ caCerts: options.caCerts });
        const files = [
          ...(options.caCerts && !isCaFine ? [`tls-ca-file "${this.#caFile}"`] : []),
          ...(options.cert ? [`tls-cert-file "${this.#certFile}"`] : []),
          ...(options.key ? [`tls-key-file "${this.#keyFile}"`] : []),
        ];
        const encrypted = options.key?.includes("ENCRYPTED")
          ? " (the key is encrypted: Runner takes it without a passphrase)"
          : "";
        throw new Error(
          `Cannot use ${files.join(", ")}: ${
            error instanceof Error ? error.message : error
          }${encrypted}`,
          { cause: error },
        );
      }
    })();
    return this.#client;
  }

  /**
   * The bundle less the certificates Deno cannot read, as the official client
   * keeps those it can parse: one broken block made Deno refuse the whole
   * file, and with it every request. The blocks left out are named in a
   * warning; looked at only once Deno refused the bundle.
   */
  #readableCertificates(pem: string): string {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const bad = blocks.flatMap((b, i) => isUsable({ caCerts: [b] }) ? [] : [i + 1]);
    // None readable, or the fault is outside the blocks: Deno's error names it below.
    if (bad.length === 0 || bad.length === blocks.length) return pem;
    this.#log?.warn(
      `Cannot read certificate ${
        bad.join(", ")
      } of ${blocks.length} in tls-ca-file, using the others`,
      { [F.FILE]: this.#caFile },
    );
    return blocks.filter((_, i) => !bad.includes(i + 1)).join("\n");
  }

  #warnFile(message: string, file: string, error: unknown): void {
    this.#log?.warn(message, {
      [F.FILE]: file,
      [F.ERROR]: error instanceof Error ? error.message : String(error),
    });
  }

  [Symbol.dispose](): void {
    const pending = [this.#client, ...this.#replaced];
    this.#replaced.clear();
    this.#isDisposed = true;
    this.#client = Promise.resolve(undefined);
    for (const client of pending) if (client) close(client);
  }
}

/** Closes a client once made; one that failed to be made has nothing to close. */
function close(client: Promise<Deno.HttpClient | undefined>): void {
  client.then((c) => c?.close()).catch(() => {});
}

/** Whether Deno makes a client of `options`. */
function isUsable(options: Deno.CreateHttpClientOptions): boolean {
  try {
    Deno.createHttpClient(options).close();
    return true;
  } catch {
    return false;
  }
}

/** How often a transport with TLS files looks at their modification times. */
const FILES_CHECK_INTERVAL_MS = 1000;

/** The files' modification times ("-" for one that cannot be looked at). */
async function filesStamp(files: readonly string[]): Promise<string> {
  const times = await Promise.all(files.map(async (file) => {
    try {
      return String((await Deno.stat(file)).mtime?.getTime() ?? "-");
    } catch {
      return "-";
    }
  }));
  return times.join(",");
}

/** A variable of the environment, or undefined where the process may not read it. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * `body` as fetch reads it, calling `onEnd` once it has been read to its end
 * and `onError` with what a read of it threw.
 * The body is locked only once fetch reads it, so a request that fails before
 * leaves it to its owner to cancel; cancelling the wrapper cancels the body.
 */
function endNotified(
  body: ReadableStream<Uint8Array>,
  on: { onEnd: () => void; onError: (error: unknown) => void },
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= body.getReader();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        on.onError(error);
        throw error;
      }
      if (!chunk.done) {
        controller.enqueue(chunk.value);
        return;
      }
      controller.close();
      on.onEnd();
    },
    cancel: (reason) => reader ? reader.cancel(reason) : body.cancel(reason),
  }, { highWaterMark: 0 });
}
