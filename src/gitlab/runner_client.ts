import { JobPayloadError, type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import { describeFailure, GitLabApiError, readJsonBody } from "./api_error.ts";
import {
  type ApiEndpoint,
  ApiTransport,
  type ApiTransportOptions,
  requestId,
} from "./api_transport.ts";
import { apiUrl } from "./api_url.ts";
import type { Logger } from "../log/logger.ts";
import { runnerInfoBody } from "./runner_info.ts";

export interface RunnerClientOptions extends ApiTransportOptions {
  /** Runner authentication token, or the registration token for `register`. */
  token: string;
  /** `^[sr]_[0-9a-zA-Z]{12}$` or "" (spec §1.7). */
  systemId?: string;
}

/** What GitLab returns for a runner: `POST runners`, `runners/verify`. */
export interface RunnerCredentials {
  id: number;
  token: string;
  /** RFC 3339, "" when the token never expires. */
  tokenExpiresAt: string;
  /** RFC 3339 UTC, truncated to seconds. */
  tokenObtainedAt: string;
}

export interface RegisterOptions {
  description?: string;
  maintenanceNote?: string;
  tagList?: string[];
  runUntagged: boolean;
  locked: boolean;
  /** "not_protected" | "ref_protected" | "". */
  accessLevel?: string;
  maximumTimeout?: number;
  paused: boolean;
}

export interface VerifyResult {
  /** 0 when an old GitLab answered plain text. */
  id: number;
  tokenExpiresAt: string;
  /** Old GitLab answered `200` with a non-JSON body. */
  isLegacyText: boolean;
}

export interface ResetTokenResult {
  token: string;
  tokenExpiresAt: string;
  tokenObtainedAt: string;
}

export interface SessionInfo {
  url: string;
  certificate: string;
  authorization: string;
}

/** Outcome of `POST jobs/request` (spec §2.2). Only an aborted signal throws. */
export type RequestJobResult =
  | { kind: "job"; job: JobSpec; raw: unknown }
  /** `isQueueChanged`: the queue changed since the version we sent (a released long poll, or a stale version). */
  | { kind: "none"; isQueueChanged?: boolean }
  | {
    kind: "error";
    /** False for 403, network errors and undecodable 201 bodies (spec §2.2 health). */
    healthy: boolean;
    /** HTTP status, 0 when there was no usable answer. */
    status: number;
    message: string;
    /**
     * A 201 whose body had an id and token but did not validate as a job:
     * GitLab now believes the job is ours, so fail it with `message`.
     */
    invalidJob?: { id: number; token: string };
  };

/** The JSON body of a 201 that hands out a runner token (register, reset). */
async function tokenAnswer(
  response: Response,
  endpoint: ApiEndpoint,
  what: string,
): Promise<{ value: unknown; token: string }> {
  const parsed = await readJsonBody(response);
  if (!parsed.ok) throw new GitLabApiError(endpoint, 0, `${what} failed: ${parsed.reason}`);
  const token = stringField(parsed.value, "token");
  if (!token) throw new GitLabApiError(endpoint, 0, `${what} failed: answer has no "token"`);
  return { value: parsed.value, token };
}

function nowRfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === "object" && obj !== null
    ? (obj as Record<string, unknown>)[key]
    : undefined;
}

function stringField(obj: unknown, key: string): string {
  const v = field(obj, key);
  return typeof v === "string" ? v : "";
}

/**
 * `token_expires_at` as a date-time config.toml can hold (years 1 to 9999), ""
 * when absent. One that is not is dropped with a warning, the token then
 * kept as one that does not expire: written as is, config.toml could not be
 * saved, and a reset token with it ("cannot serialize invalid date"), which
 * left the old, revoked token in the file for the next start.
 */
function expiryField(obj: unknown, log: Logger | undefined): string {
  const text = stringField(obj, "token_expires_at");
  if (text === "") return "";
  const ms = Date.parse(text);
  const year = new Date(ms).getUTCFullYear();
  if (!Number.isNaN(ms) && year >= 1 && year <= 9999) return text;
  log?.warn(
    "GitLab sent a token_expires_at that is not a date; the token is kept as not expiring",
    {
      "token_expires_at": text,
    },
  );
  return "";
}

function numberField(obj: unknown, key: string): number {
  const v = field(obj, key);
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/**
 * Calls made with a runner token: register, verify, unregister, reset token,
 * request job. One client per (URL, token): it keeps the last
 * `X-GitLab-Last-Update` it saw (spec §2.3). The executor process never gets
 * one of these; it uses `JobClient`.
 */
export class RunnerClient implements Disposable {
  readonly #transport: ApiTransport;
  #token: string;
  readonly #systemId: string;
  readonly #log: Logger | undefined;
  #lastUpdate = "";

  constructor(options: RunnerClientOptions) {
    this.#transport = new ApiTransport(options);
    this.#token = options.token;
    this.#systemId = options.systemId ?? "";
    this.#log = options.log;
  }

  /** The token in use; changes after `resetToken`. */
  get token(): string {
    return this.#token;
  }

  /** The last non-empty `X-GitLab-Last-Update` seen, "" before any. */
  get lastUpdate(): string {
    return this.#lastUpdate;
  }

  /** Whether the token is a `glrt-` runner authentication token (verify/manager flow). */
  get isCreatedRunnerToken(): boolean {
    return this.#token.startsWith("glrt-");
  }

  async #post(
    endpoint: ApiEndpoint,
    method: string,
    path: string,
    body: unknown,
    options: {
      signal?: AbortSignal | undefined;
      acceptJson?: boolean;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Response> {
    const json = JSON.stringify(body);
    const response = await this.#transport.send({
      endpoint,
      method,
      url: apiUrl(this.#transport.root, path),
      headers: {
        "Content-Type": "application/json",
        "RUNNER-TOKEN": this.#token,
        ...options.headers,
      },
      body: () => json,
      acceptJson: options.acceptJson ?? true,
      signal: options.signal,
    });
    const lastUpdate = response.headers.get("X-GitLab-Last-Update");
    if (lastUpdate) this.#lastUpdate = lastUpdate;
    return response;
  }

  async #fail(endpoint: ApiEndpoint, what: string, response: Response, hint = ""): Promise<never> {
    const detail = await describeFailure(response);
    throw new GitLabApiError(
      endpoint,
      response.status,
      `${what} failed: GitLab answered ${detail}${hint ? ` (${hint})` : ""}`,
    );
  }

  /** Legacy registration with a registration token: `POST runners` (spec §1.2). */
  async register(options: RegisterOptions, signal?: AbortSignal): Promise<RunnerCredentials> {
    const body: Record<string, unknown> = {};
    if (options.description) body["description"] = options.description;
    if (options.maintenanceNote) body["maintenance_note"] = options.maintenanceNote;
    if (options.tagList && options.tagList.length > 0) body["tag_list"] = options.tagList.join(",");
    body["run_untagged"] = options.runUntagged;
    body["locked"] = options.locked;
    if (options.accessLevel) body["access_level"] = options.accessLevel;
    if (options.maximumTimeout) body["maximum_timeout"] = options.maximumTimeout;
    body["paused"] = options.paused;
    body["info"] = runnerInfoBody(this.#transport.runnerInfo);
    if (this.#token) body["token"] = this.#token;
    const response = await this.#post("register_runner", "POST", "runners", body, { signal });
    if (response.status !== 201) {
      return this.#fail(
        "register_runner",
        "Registering the runner",
        response,
        response.status === 403 ? "check registration token" : "",
      );
    }
    const { value, token } = await tokenAnswer(
      response,
      "register_runner",
      "Registering the runner",
    );
    return {
      id: numberField(value, "id"),
      token,
      tokenExpiresAt: expiryField(value, this.#log),
      tokenObtainedAt: nowRfc3339(this.#transport.clock.now()),
    };
  }

  /**
   * `POST runners/verify` (spec §1.3). Throws `GitLabApiError`; status 403
   * means the runner is invalid or removed.
   */
  async verify(signal?: AbortSignal): Promise<VerifyResult> {
    const body: Record<string, unknown> = {
      info: runnerInfoBody(this.#transport.runnerInfo),
      token: this.#token,
    };
    if (this.#systemId) body["system_id"] = this.#systemId;
    const response = await this.#post("verify_runner", "POST", "runners/verify", body, { signal });
    if (response.status !== 200) {
      return this.#fail(
        "verify_runner",
        "Verifying the runner",
        response,
        response.status === 403 ? "runner is invalid or removed" : "",
      );
    }
    const parsed = await readJsonBody(response);
    if (parsed.ok) {
      return {
        id: numberField(parsed.value, "id"),
        tokenExpiresAt: expiryField(parsed.value, this.#log),
        isLegacyText: false,
      };
    }
    // Old GitLab answered 200 with the text "200": re-send once without parsing.
    const again = await this.#post("verify_runner", "POST", "runners/verify", body, {
      signal,
      acceptJson: false,
    });
    await again.body?.cancel();
    if (again.status !== 200) return this.#fail("verify_runner", "Verifying the runner", again);
    return { id: 0, tokenExpiresAt: "", isLegacyText: true };
  }

  /**
   * `DELETE runners/managers` for `glrt-` tokens (this host's manager only),
   * else `DELETE runners` (spec §1.4).
   */
  async unregister(signal?: AbortSignal): Promise<void> {
    const isManager = this.isCreatedRunnerToken;
    const endpoint = isManager ? "unregister_runner_manager" : "unregister_runner";
    const body = isManager
      ? { token: this.#token, "system_id": this.#systemId }
      : { token: this.#token };
    const response = await this.#post(
      endpoint,
      "DELETE",
      isManager ? "runners/managers" : "runners",
      body,
      {
        signal,
        acceptJson: false,
      },
    );
    if (response.status !== 204) {
      const hint = response.status === 403
        ? "forbidden"
        : response.status === 404 && isManager
        ? "runner manager not found"
        : "";
      return this.#fail(endpoint, "Unregistering the runner", response, hint);
    }
    await response.body?.cancel();
  }

  /**
   * `POST runners/reset_authentication_token` with the current token, or
   * `POST runners/<id>/reset_authentication_token` with a personal access
   * token (spec §1.5). On success this client uses the new token and forgets
   * its stored last_update (it belonged to the old token).
   */
  async resetToken(
    options: { personalAccessToken?: { runnerId: number; token: string } } = {},
    signal?: AbortSignal,
  ): Promise<ResetTokenResult> {
    const pat = options.personalAccessToken;
    const response = pat
      ? await this.#post(
        "reset_token",
        "POST",
        `runners/${pat.runnerId}/reset_authentication_token`,
        null,
        {
          signal,
          headers: { "PRIVATE-TOKEN": pat.token },
        },
      )
      : await this.#post("reset_token", "POST", "runners/reset_authentication_token", {
        token: this.#token,
      }, { signal });
    if (response.status !== 201) {
      return this.#fail(
        "reset_token",
        "Resetting the runner token",
        response,
        response.status === 403 ? "check used token" : "",
      );
    }
    const { value, token } = await tokenAnswer(
      response,
      "reset_token",
      "Resetting the runner token",
    );
    this.#token = token;
    this.#lastUpdate = "";
    return {
      token,
      tokenExpiresAt: expiryField(value, this.#log),
      tokenObtainedAt: nowRfc3339(this.#transport.clock.now()),
    };
  }

  /**
   * `POST jobs/request` (spec §2). Never throws for HTTP or network outcomes;
   * rejects only with the abort reason when `signal` aborts (shutdown).
   */
  async requestJob(
    options: { session?: SessionInfo } = {},
    signal?: AbortSignal,
  ): Promise<RequestJobResult> {
    const body: Record<string, unknown> = {
      info: runnerInfoBody(this.#transport.runnerInfo),
      token: this.#token,
    };
    if (this.#systemId) body["system_id"] = this.#systemId;
    if (this.#lastUpdate) body["last_update"] = this.#lastUpdate;
    if (options.session) body["session"] = { ...options.session };
    // The job's correlation ID, as the official client's: GitLab's X-Request-Id, else ours.
    const correlationId = requestId();
    let response: Response;
    try {
      response = await this.#post("request_job", "POST", "jobs/request", body, {
        signal,
        headers: { "X-Request-Id": correlationId },
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      return {
        kind: "error",
        healthy: false,
        status: 0,
        message: error instanceof Error ? error.message : String(error),
      };
    }
    try {
      return await this.#jobResult(response, body["last_update"], correlationId);
    } catch (error) {
      if (signal?.aborted) throw error;
      return {
        kind: "error",
        healthy: false,
        status: 0,
        message: `Reading the job request answer failed: ${
          error instanceof Error ? error.message : String(error)
        }`,
      };
    }
  }

  async #jobResult(
    response: Response,
    sentLastUpdate: unknown,
    sentCorrelationId: string,
  ): Promise<RequestJobResult> {
    const status = response.status;
    if (status === 204) {
      await response.body?.cancel();
      // Workhorse ends a held long poll with a bare 204 when the queue changed
      // (spec §2.3): a job is probably waiting, so ask again at once. A 204
      // naming another queue version than the one we sent says the same: the
      // queue moved since we last looked (typically while we ran a job; or
      // this was our first look), and the next request, carrying the new
      // version, is the one Workhorse holds. A GitLab that sends no version
      // gets no immediate second request.
      const answered = response.headers.get("X-GitLab-Last-Update");
      const isQueueChanged = typeof sentLastUpdate === "string"
        ? answered === null || answered !== sentLastUpdate
        : answered !== null;
      return isQueueChanged ? { kind: "none", isQueueChanged } : { kind: "none" };
    }
    if (status !== 201) {
      const detail = await describeFailure(response);
      const what = status === 403
        ? "forbidden (check the runner token)"
        : status === 503
        ? "GitLab instance currently unavailable"
        : "failed";
      return {
        kind: "error",
        healthy: status !== 403,
        status,
        message: `Requesting a job ${what}: GitLab answered ${detail}`,
      };
    }
    const parsed = await readJsonBody(response);
    if (!parsed.ok) {
      return {
        kind: "error",
        healthy: false,
        status,
        message: `Requesting a job failed: GitLab answered 201 but ${parsed.reason}`,
      };
    }
    try {
      const job = parseJobSpec(parsed.value);
      // It goes into git's config and the job log: only an id of Rails' shape (request_id.rb).
      const answered = response.headers.get("X-Request-Id") ?? "";
      job.requestCorrelationId = /^[\w@-]{1,255}$/.test(answered) ? answered : sentCorrelationId;
      return { kind: "job", job, raw: parsed.value };
    } catch (error) {
      if (!(error instanceof JobPayloadError)) throw error;
      const result: RequestJobResult = {
        kind: "error",
        healthy: false,
        status,
        message:
          `Requesting a job failed: GitLab sent a job the runner cannot read: ${error.message}`,
      };
      const id = field(parsed.value, "id");
      const token = field(parsed.value, "token");
      if (
        typeof id === "number" && Number.isSafeInteger(id) && id > 0 && typeof token === "string" &&
        token
      ) {
        result.invalidJob = { id, token };
      }
      return result;
    }
  }

  [Symbol.dispose](): void {
    this.#transport[Symbol.dispose]();
  }
}
