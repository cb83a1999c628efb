import type {
  JobRef,
  JobUpdate,
  PatchResult,
  TraceTransport,
  UpdateResult,
} from "../trace/transport.ts";
import { describeFailure } from "./api_error.ts";
import { ApiTransport, type ApiTransportOptions } from "./api_transport.ts";
import { apiUrl, rebaseRoot } from "./api_url.ts";
import { isAbortStatus, jobStatusOf, traceRangeEnd, updateIntervalSeconds } from "./job_headers.ts";
import { multipartFileBody } from "./multipart_body.ts";
import { mayConnect, netHost } from "./net_permission.ts";
import {
  ARTIFACT_DOWNLOAD_RETRY_DELAY_MS,
  ARTIFACT_DOWNLOAD_TRIES,
  artifactUploadBackoffMs,
  artifactUploadVerdict,
  isArtifactDownloadRetriable,
} from "./retry_policy.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { runnerInfoBody } from "./runner_info.ts";

/** Largest trace chunk GitLab takes in one PATCH. */
export const MAX_TRACE_CHUNK_BYTES = 1024 * 1024;

export type JobClientOptions = ApiTransportOptions;

/** One artifact archive to send (spec §6.1). */
export interface ArtifactUpload {
  /** File name as sent in the form part, e.g. "artifacts.zip" (see `artifactFileName`). */
  fileName: string;
  /** "zip", "gzip", "raw", "zipzstd", "tarzstd" or "" (server default zip). */
  format: string;
  /** "archive", "junit", … or "" (server default archive). */
  type: string;
  /** As given in the job, e.g. "1 week"; "" for the server default. */
  expireIn: string;
  /** Opens the archive bytes; called once per try, since a stream is read only once. */
  open: () => ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
}

/** One try of an artifact upload whose caller runs the retries (see `postArtifact`). */
export interface ArtifactPost {
  fileName: string;
  format: string;
  type: string;
  expireIn: string;
  /** Sent once: this call makes exactly one HTTP request. */
  body: ReadableStream<Uint8Array>;
  /** Scheme and host replacing the configured URL's after a 307; "" for none. */
  baseUrl: string;
  /** The wait for GitLab's answer once the body is sent, if not the client's (ApiRequest). */
  responseHeaderTimeout?: { ms: number; setting: string };
}

/** GitLab's answer to one upload try. */
export interface ArtifactPostAnswer {
  status: number;
  /** `201 Created`, or the status with GitLab's message (`413 Request Entity Too Large`). */
  statusText: string;
  /** `Location` of a redirect; "" otherwise. */
  location: string;
}

export type ArtifactErrorKind = "forbidden" | "too_large" | "not_found" | "failed";

/** An artifact transfer failed for good; `kind` says whether retrying later could help. */
export class ArtifactTransferError extends Error {
  override readonly name = "ArtifactTransferError";
  constructor(
    readonly kind: ArtifactErrorKind,
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  "": ".zip",
  zip: ".zip",
  zipzstd: ".zip",
  gzip: ".gz",
  tarzstd: ".tar.zst",
  raw: "",
};

/** Base name of `artifacts[].name` (or "default") plus the format's extension. */
export function artifactFileName(name: string, format: string): string {
  const base = name.split(/[\\/]/).filter((p) => p !== "").pop() ?? "";
  return `${base || "default"}${EXTENSIONS[format] ?? ""}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Calls made with a job token: job update, trace, artifacts. It never holds a
 * runner token, so the executor process can own one. Implements
 * `TraceTransport`, whose methods resolve every outcome as a value.
 */
export class JobClient implements TraceTransport, Disposable {
  readonly #transport: ApiTransport;
  /** Without transport retries: for single tries whose body can be sent only once. */
  readonly #onceTransport: ApiTransport;

  constructor(options: JobClientOptions) {
    this.#transport = new ApiTransport(options);
    this.#onceTransport = new ApiTransport({
      ...options,
      retryPolicy: new RetryPolicy({ maxAttempts: 1 }),
    });
  }

  /** `PATCH jobs/<id>/trace` (spec §4). An empty chunk is accepted without a request. */
  async patchTrace(
    job: JobRef,
    chunk: Uint8Array,
    start: number,
    signal?: AbortSignal,
  ): Promise<PatchResult> {
    if (chunk.byteLength === 0) return { kind: "accepted" };
    if (chunk.byteLength > MAX_TRACE_CHUNK_BYTES) {
      throw new RangeError(
        `Trace chunk of ${chunk.byteLength} bytes exceeds ${MAX_TRACE_CHUNK_BYTES}`,
      );
    }
    let response: Response;
    try {
      response = await this.#transport.send({
        endpoint: "patch_trace",
        method: "PATCH",
        url: apiUrl(this.#transport.root, `jobs/${job.id}/trace`, {
          query: { "debug_trace": job.debugTrace ? "true" : "false" },
        }),
        headers: {
          "JOB-TOKEN": job.token,
          "Content-Type": "text/plain",
          // No "bytes " prefix and an inclusive end (spec §12.1).
          "Content-Range": `${start}-${start + chunk.byteLength - 1}`,
        },
        body: () => chunk as Uint8Array<ArrayBuffer>,
        signal,
      });
    } catch (error) {
      return { kind: "failed", error: errorText(error) };
    }
    await response.body?.cancel();
    const jobStatus = jobStatusOf(response.headers);
    const withStatus = jobStatus ? { jobStatus } : {};
    if (isAbortStatus(jobStatus)) return { kind: "abort", ...withStatus };
    switch (response.status) {
      case 202: {
        const interval = updateIntervalSeconds(response.headers);
        return {
          kind: "accepted",
          ...withStatus,
          ...(interval !== undefined ? { updateIntervalSeconds: interval } : {}),
        };
      }
      case 416: {
        const serverSize = traceRangeEnd(response.headers);
        if (serverSize === undefined) {
          return {
            kind: "failed",
            status: 416,
            error: `GitLab answered 416 with an unusable Range header "${
              response.headers.get("Range") ?? ""
            }"`,
          };
        }
        return { kind: "range-mismatch", serverSize, ...withStatus };
      }
      case 403:
        return { kind: "abort", ...withStatus };
      case 404:
        return { kind: "not-found" };
      default:
        return {
          kind: "failed",
          status: response.status,
          error:
            `Sending the trace of job ${job.id} failed: GitLab answered ${response.status} ${response.statusText}`,
        };
    }
  }

  /** `PUT jobs/<id>` (spec §5). */
  async updateJob(job: JobRef, update: JobUpdate, signal?: AbortSignal): Promise<UpdateResult> {
    const output: Record<string, unknown> = {};
    if (update.checksum) output["checksum"] = update.checksum;
    if (update.bytesize) output["bytesize"] = update.bytesize;
    const body: Record<string, unknown> = {
      info: runnerInfoBody(this.#transport.runnerInfo),
      token: job.token,
      state: update.state,
    };
    if (update.state === "failed" && update.failureReason) {
      body["failure_reason"] = update.failureReason;
    }
    if (update.checksum) body["checksum"] = update.checksum;
    body["output"] = output;
    // GitLab stores exit codes as signed 32-bit integers.
    const exitCode = (update.exitCode ?? 0) | 0;
    if (exitCode !== 0) body["exit_code"] = exitCode;
    const json = JSON.stringify(body);
    let response: Response;
    try {
      response = await this.#transport.send({
        endpoint: "update_job",
        method: "PUT",
        url: apiUrl(this.#transport.root, `jobs/${job.id}`),
        headers: { "JOB-TOKEN": job.token, "Content-Type": "application/json" },
        body: () => json,
        signal,
      });
    } catch (error) {
      return { kind: "failed", error: errorText(error) };
    }
    const jobStatus = jobStatusOf(response.headers);
    const withStatus = jobStatus ? { jobStatus } : {};
    if (isAbortStatus(jobStatus) || response.status === 403) {
      await response.body?.cancel();
      return { kind: "abort", ...withStatus };
    }
    switch (response.status) {
      case 200:
        await response.body?.cancel();
        return { kind: "ok", ...withStatus };
      case 202: {
        await response.body?.cancel();
        const interval = updateIntervalSeconds(response.headers);
        return {
          kind: "accepted",
          ...withStatus,
          ...(interval !== undefined ? { updateIntervalSeconds: interval } : {}),
        };
      }
      case 412:
        await response.body?.cancel();
        return { kind: "trace-invalid" };
      case 404:
        await response.body?.cancel();
        return { kind: "not-found" };
      default:
        return {
          kind: "failed",
          status: response.status,
          error: `Updating job ${job.id} failed: GitLab answered ${await describeFailure(
            response,
          )}`,
        };
    }
  }

  /**
   * `POST jobs/<id>/artifacts` (spec §6.1). Resolves when GitLab answered 201;
   * otherwise rejects with `ArtifactTransferError` after the tries the retry
   * policy allows (403 and 413 at once), or with the abort reason.
   */
  async uploadArtifact(job: JobRef, artifact: ArtifactUpload, signal?: AbortSignal): Promise<void> {
    let root = this.#transport.root;
    const what = `Cannot upload artifact "${artifact.fileName}" of job ${job.id}`;
    for (let tryNumber = 1;; tryNumber++) {
      const boundary = `runner-${crypto.randomUUID().replaceAll("-", "")}`;
      const bodies: ReadableStream<Uint8Array>[] = [];
      let status: number | undefined;
      let detail: string;
      let location = "";
      try {
        const response = await this.#transport.send({
          endpoint: "upload_artifacts",
          method: "POST",
          url: apiUrl(root, `jobs/${job.id}/artifacts`, {
            query: {
              "artifact_format": artifact.format,
              "artifact_type": artifact.type,
              "expire_in": artifact.expireIn,
            },
            keepEmptyQuery: true,
          }),
          headers: {
            "JOB-TOKEN": job.token,
            "Content-Type": `multipart/form-data; boundary=${boundary}`,
          },
          // Re-archived for every attempt: a stream can be sent only once.
          body: async () => {
            const { body } = multipartFileBody(
              "file",
              artifact.fileName,
              await artifact.open(),
              boundary,
            );
            bodies.push(body);
            return body;
          },
          redirect: "manual",
          signal,
        });
        status = response.status;
        location = response.headers.get("Location") ?? "";
        detail = await describeFailure(response);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        detail = errorText(error);
      } finally {
        // A body fetch never read still holds the archive open.
        for (const body of bodies) await body.cancel().catch(() => {});
      }
      const verdict = artifactUploadVerdict(status, tryNumber);
      if (verdict === "done") return;
      if (verdict === "redirect") {
        if (location === "") {
          throw new ArtifactTransferError(
            "failed",
            307,
            `${what}: GitLab answered 307 without a Location`,
          );
        }
        root = rebaseRoot(root, location);
        continue;
      }
      if (verdict === "fatal") {
        if (status === 413) {
          throw new ArtifactTransferError(
            "too_large",
            413,
            `${what}: GitLab answered ${detail}: the archive is larger than the maximum artifacts size the instance allows`,
          );
        }
        if (status === 403) {
          throw new ArtifactTransferError(
            "forbidden",
            403,
            `${what}: GitLab answered ${detail}: the job token is not valid or the job is no longer running`,
          );
        }
        throw new ArtifactTransferError(
          "failed",
          status ?? 0,
          `${what} after ${tryNumber} tries: ${detail}`,
        );
      }
      await this.#transport.clock.sleep(artifactUploadBackoffMs(tryNumber), signal);
    }
  }

  /**
   * One try of `POST jobs/<id>/artifacts` (spec §6.1) for a caller that runs
   * the tries, backoff and 307 switch itself (artifacts/upload_artifacts.ts).
   * No transport retry either: the body stream can be sent only once, so a
   * retriable status comes back as the answer. Rejects on a network error or
   * with the abort reason.
   */
  async postArtifact(
    job: JobRef,
    post: ArtifactPost,
    signal?: AbortSignal,
  ): Promise<ArtifactPostAnswer> {
    const boundary = `runner-${crypto.randomUUID().replaceAll("-", "")}`;
    const root = post.baseUrl === "" ? this.#onceTransport.root : rebaseRoot(
      this.#onceTransport.root,
      post.baseUrl,
    );
    let sent = false;
    const response = await this.#onceTransport.send({
      endpoint: "upload_artifacts",
      method: "POST",
      url: apiUrl(root, `jobs/${job.id}/artifacts`, {
        query: {
          "artifact_format": post.format,
          "artifact_type": post.type,
          "expire_in": post.expireIn,
        },
        keepEmptyQuery: true,
      }),
      headers: {
        "JOB-TOKEN": job.token,
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
      },
      body: () => {
        if (sent) throw new Error("The artifact body was already sent");
        sent = true;
        return multipartFileBody("file", post.fileName, post.body, boundary).body;
      },
      redirect: "manual",
      signal,
      ...(post.responseHeaderTimeout ? { responseHeaderTimeout: post.responseHeaderTimeout } : {}),
    });
    const location = response.headers.get("Location") ?? "";
    const statusText = response.status === 201
      ? `${response.status} ${response.statusText}`.trim()
      : await describeFailure(response);
    await response.body?.cancel().catch(() => {});
    return { status: response.status, statusText, location };
  }

  /**
   * `GET jobs/<id>/artifacts` with the dependency's token (spec §6.3). The
   * first try asks for `direct_download=true` (when `directDownload`) without
   * following redirects; a 302/307 is then fetched following redirects. Up to
   * three tries, 1 s apart; 401/403/404 are final. Retries cover getting the
   * answer; once the returned stream is being read, a broken transfer
   * surfaces as a stream error for the caller's stage retry.
   */
  async downloadArtifact(
    dependency: { id: number; token: string },
    options: {
      directDownload?: boolean;
      tries?: number;
      /**
       * Called with the `host:port` of a direct-download redirect this
       * process may not connect to; the file is then asked of GitLab itself.
       */
      onUnreachableRedirect?: (host: string) => void;
    } = {},
    signal?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const what = `Cannot download artifacts of job ${dependency.id}`;
    const headers = { "JOB-TOKEN": dependency.token };
    let detail = "";
    let status: number | undefined;
    // `tries: 1` is for callers with their own retry loop (artifacts/download_artifacts.ts).
    const tries = Math.max(
      1,
      Math.min(options.tries ?? ARTIFACT_DOWNLOAD_TRIES, ARTIFACT_DOWNLOAD_TRIES),
    );
    for (let tryNumber = 1; tryNumber <= tries; tryNumber++) {
      const direct = tryNumber === 1 && (options.directDownload ?? true);
      const url = apiUrl(this.#transport.root, `jobs/${dependency.id}/artifacts`, {
        query: direct ? { "direct_download": "true" } : {},
        keepEmptyQuery: true,
      });
      status = undefined;
      let storage = "";
      try {
        let response = await this.#transport.send({
          endpoint: "download_artifacts",
          method: "GET",
          url,
          headers,
          redirect: direct ? "manual" : "follow",
          signal,
        });
        if (direct && (response.status === 302 || response.status === 307)) {
          const location = response.headers.get("Location") ?? "";
          await response.body?.cancel();
          if (location === "") {
            detail = `GitLab answered ${response.status} without a Location`;
            status = response.status;
            throw new ArtifactTransferError("failed", response.status, `${what}: ${detail}`);
          }
          let target = url;
          const storage = new URL(location, url);
          if (!mayConnect(storage)) {
            // Without direct_download GitLab sends the file itself (§6.3).
            options.onUnreachableRedirect?.(netHost(storage));
            target = apiUrl(this.#transport.root, `jobs/${dependency.id}/artifacts`, {
              keepEmptyQuery: true,
            });
          }
          response = await this.#transport.send({
            endpoint: "download_artifacts",
            method: "GET",
            url: target,
            headers,
            redirect: "follow",
            signal,
          });
        }
        status = response.status;
        if (status === 200 && response.body) return response.body;
        // A redirect followed: object storage answered, not GitLab.
        storage = response.redirected ? new URL(response.url).host : "";
        detail = await describeFailure(response);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof ArtifactTransferError)) detail = errorText(error);
      }
      if (storage !== "" && (status === 401 || status === 403 || status === 404)) {
        throw new ArtifactTransferError(
          status === 404 ? "not_found" : "forbidden",
          status,
          `${what}: object storage at "${storage}" answered ${detail}`,
        );
      }
      if (status === 401 || status === 403) {
        throw new ArtifactTransferError(
          "forbidden",
          status,
          `${what}: GitLab answered ${detail}: the job token may not read them`,
        );
      }
      if (status === 404) {
        throw new ArtifactTransferError(
          "not_found",
          404,
          `${what}: GitLab answered ${detail}: no artifacts stored`,
        );
      }
      if (!isArtifactDownloadRetriable(status) || tryNumber === tries) break;
      await this.#transport.clock.sleep(ARTIFACT_DOWNLOAD_RETRY_DELAY_MS, signal);
    }
    throw new ArtifactTransferError(
      "failed",
      status ?? 0,
      tries === 1 ? `${what}: ${detail}` : `${what} after ${tries} tries: ${detail}`,
    );
  }

  /**
   * Whether this process may connect to the host of `location` (an upload's
   * 307): an executor process reaches only GitLab's host (net_permission.ts).
   */
  mayFollow(location: string): boolean {
    try {
      return mayConnect(new URL(location, this.#transport.root));
    } catch {
      return false;
    }
  }

  [Symbol.dispose](): void {
    this.#transport[Symbol.dispose]();
    this.#onceTransport[Symbol.dispose]();
  }
}
