import type { Registry } from "./prom_client.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import { formatListenAddress, type ListenAddress, parseListenAddress } from "./listen_address.ts";
import { formatJobList, type JobListProvider } from "./runner_metrics.ts";

export interface MetricsServerOptions {
  registry: Registry;
  /** Source of /debug/jobs/list; RunnerMetrics implements it. */
  jobs: JobListProvider;
  /** Text of /debug/process/state: starting, running, graceful-shutdown, forceful-shutdown. */
  processState: () => string;
  /** /health/ready answers 503 `boot-verify pending` while this is false. Default: always ready. */
  isReady?: () => boolean;
  log: Logger;
}

const TEXT = "text/plain; charset=utf-8";

/**
 * The HTTP listener for `listen_address` (config-reference §18): /metrics,
 * /debug/jobs/list, /debug/process/state and /health/ready. Runs in the
 * poller process on Deno.serve; it needs `--allow-net` for that address only.
 *
 * `listen` starts it, or moves it when the address changed (config reload);
 * `stop` closes it and waits for requests in flight. Calls are serialised,
 * and stop may run any number of times.
 */
export class MetricsServer implements AsyncDisposable {
  readonly #options: MetricsServerOptions;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #configured: string | undefined;
  #bound: ListenAddress | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MetricsServerOptions) {
    this.#options = options;
  }

  /** The address actually bound (port 0 resolved), or undefined when stopped. */
  get address(): ListenAddress | undefined {
    return this.#bound;
  }

  /**
   * Serves on `listenAddress` (`host:port`, `:port`, or `host` for port
   * 9252). Same address as now: nothing happens. Another address: the old
   * listener is closed first. Rejects with a TypeError for a malformed
   * address and an Error naming the address when it cannot be bound; the
   * server is then stopped.
   */
  listen(listenAddress: string): Promise<ListenAddress> {
    return this.#serialise(async () => {
      const wanted = parseListenAddress(listenAddress);
      const key = formatListenAddress(wanted);
      if (this.#server !== undefined && this.#bound !== undefined && this.#configured === key) {
        return this.#bound;
      }
      await this.#stopNow();
      let server: Deno.HttpServer<Deno.NetAddr>;
      try {
        server = Deno.serve({
          hostname: wanted.hostname,
          port: wanted.port,
          onListen: () => {},
        }, (request) => this.#handle(request));
      } catch (error) {
        throw new Error(`Cannot start the metrics server on "${key}": ${errorText(error)}`, {
          cause: error,
        });
      }
      this.#server = server;
      this.#configured = key;
      this.#bound = { hostname: server.addr.hostname, port: server.addr.port };
      this.#options.log.info("Metrics server listening", {
        [F.ADDRESS]: formatListenAddress(this.#bound),
      });
      return this.#bound;
    });
  }

  stop(): Promise<void> {
    return this.#serialise(() => this.#stopNow());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stopNow(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#configured = undefined;
    this.#bound = undefined;
    await server.shutdown();
  }

  #serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const route = ROUTES[path];
    if (route === undefined) {
      return new Response("404 page not found\n", {
        status: 404,
        headers: { "content-type": TEXT },
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "content-type": TEXT },
      });
    }
    let response: Response;
    try {
      response = await route(this.#options);
    } catch (error) {
      this.#options.log.error("Metrics endpoint failed", {
        [F.URL]: path,
        [F.ERROR]: errorText(error),
      });
      response = new Response(`Internal server error: ${errorText(error)}\n`, {
        status: 500,
        headers: { "content-type": TEXT },
      });
    }
    return request.method === "HEAD"
      ? new Response(null, { status: response.status, headers: response.headers })
      : response;
  }
}

type Route = (options: MetricsServerOptions) => Promise<Response> | Response;

const ROUTES: Record<string, Route> = {
  "/metrics": async ({ registry }) =>
    new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } }),
  "/debug/jobs/list": ({ jobs }) =>
    new Response(formatJobList(jobs.listJobs()), {
      headers: { "content-type": TEXT, "x-list-version": "2" },
    }),
  // One line each, as the official runner writes them (`curl` output ends its line).
  "/debug/process/state": ({ processState }) =>
    new Response(`${processState()}\n`, { headers: { "content-type": TEXT } }),
  "/health/ready": ({ isReady }) =>
    (isReady?.() ?? true)
      ? new Response("ready\n", { headers: { "content-type": TEXT } })
      : new Response("boot-verify pending\n", {
        status: 503,
        headers: { "content-type": TEXT },
      }),
};

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
