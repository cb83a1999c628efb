/**
 * The artifact stages' GitLab calls (`ArtifactUploader`, `ArtifactDownloader`)
 * made with the job's JobClient: one HTTP try per call, the outcome as a
 * value. Tries, backoff and job-log lines stay in artifacts/.
 */
import type {
  ArtifactDownloader,
  ArtifactDownloadRequest,
  ArtifactDownloadResult,
} from "../artifacts/artifact_downloader.ts";
import type {
  ArtifactUploader,
  ArtifactUploadRequest,
  ArtifactUploadResult,
} from "../artifacts/artifact_uploader.ts";
import type { JobRef } from "../trace/transport.ts";
import { formatGoDuration } from "../config/go_duration.ts";
import type { RunnerArtifactConfig } from "../config/runner_config.ts";
import { setLongTimeout } from "../time/clock.ts";

/** What the adapter needs from GitLab; gitlab/job_client.ts `JobClient` implements it. */
export interface ArtifactApi {
  /** One upload try; resolves with GitLab's answer, rejects on network errors. */
  postArtifact(
    job: JobRef,
    post: {
      fileName: string;
      format: string;
      type: string;
      expireIn: string;
      body: ReadableStream<Uint8Array>;
      baseUrl: string;
      responseHeaderTimeout?: { ms: number; setting: string };
    },
    signal?: AbortSignal,
  ): Promise<{ status: number; statusText: string; location: string }>;
  /**
   * Download with `tries` tries; rejects with an error whose `kind` is
   * `forbidden`, `not_found` or `failed` and whose `status` is the HTTP status.
   */
  downloadArtifact(
    dependency: { id: number; token: string },
    options: {
      directDownload?: boolean;
      tries?: number;
      onUnreachableRedirect?: (host: string) => void;
    },
    signal?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>>;
  /** Whether this process may connect to the host an upload was redirected to. */
  mayFollow(location: string): boolean;
}

/**
 * The deadlines of one upload try, in seconds (0 or less: none), each with
 * the setting that chose it, named in the try's failure when it ends it:
 * `[runners.artifact]` in config.toml, or the `artifacts-uploader` flags.
 */
export interface UploadDeadlines {
  /** From the request to GitLab's answer (the official uploader's `--timeout`). */
  upload: { seconds: number; setting: string };
  /** For GitLab's answer once the body is sent (`--response-header-timeout`). */
  responseHeader: { seconds: number; setting: string };
}

/** The deadlines `[runners.artifact]` sets. */
export function configUploadDeadlines(artifact: RunnerArtifactConfig): UploadDeadlines {
  return {
    upload: { seconds: artifact.uploadTimeout, setting: "[runners.artifact] upload_timeout" },
    responseHeader: {
      seconds: artifact.responseHeaderTimeout,
      setting: "[runners.artifact] response_header_timeout",
    },
  };
}

export class JobArtifactTransfer implements ArtifactUploader, ArtifactDownloader {
  readonly #api: ArtifactApi;
  readonly #deadlines: UploadDeadlines | undefined;

  /** Without `deadlines`, an upload try waits as the client's other requests do. */
  constructor(api: ArtifactApi, deadlines?: UploadDeadlines) {
    this.#api = api;
    this.#deadlines = deadlines;
  }

  async upload(request: ArtifactUploadRequest, signal: AbortSignal): Promise<ArtifactUploadResult> {
    const deadlines = this.#deadlines;
    // Ends this try only: the stage retries it like any failed try.
    const late = new AbortController();
    const timer = deadlines && deadlines.upload.seconds > 0
      ? setLongTimeout(() => late.abort(), deadlines.upload.seconds * 1000)
      : undefined;
    let answer;
    try {
      answer = await this.#api.postArtifact(
        { id: request.jobId, token: request.jobToken },
        {
          fileName: request.fileName,
          format: request.artifactFormat,
          type: request.artifactType,
          expireIn: request.expireIn,
          body: request.body,
          baseUrl: request.baseUrl,
          ...(deadlines
            ? {
              responseHeaderTimeout: {
                ms: deadlines.responseHeader.seconds * 1000,
                setting: deadlines.responseHeader.setting,
              },
            }
            : {}),
        },
        timer ? AbortSignal.any([signal, late.signal]) : signal,
      );
    } catch (err) {
      signal.throwIfAborted();
      if (late.signal.aborted && deadlines) {
        return {
          kind: "failed",
          status: `no answer from GitLab within ${
            formatGoDuration(deadlines.upload.seconds)
          } of the upload's start (${deadlines.upload.setting})`,
        };
      }
      return { kind: "failed", status: messageOf(err) };
    } finally {
      timer?.clear();
    }
    const status = answer.statusText;
    switch (answer.status) {
      case 201:
        return { kind: "created", status };
      case 307:
        if (answer.location !== "" && !this.#api.mayFollow(answer.location)) {
          return { kind: "redirected_elsewhere", status, location: answer.location };
        }
        return { kind: "redirected", status, location: answer.location };
      case 403:
        return { kind: "forbidden", status };
      case 413:
        return { kind: "too_large", status };
      case 503:
        return { kind: "service_unavailable", status };
      default:
        return { kind: "failed", status };
    }
  }

  async download(
    request: ArtifactDownloadRequest,
    signal: AbortSignal,
  ): Promise<ArtifactDownloadResult> {
    try {
      let unreachable = "";
      const body = await this.#api.downloadArtifact(
        { id: request.jobId, token: request.jobToken },
        {
          directDownload: request.directDownload,
          tries: 1,
          onUnreachableRedirect: (host) => unreachable = host,
        },
        signal,
      );
      return {
        kind: "ok",
        status: "200 OK",
        body,
        ...(unreachable ? { unreachableRedirect: unreachable } : {}),
      };
    } catch (err) {
      signal.throwIfAborted();
      const { kind, status } = err as { kind?: unknown; status?: unknown };
      const text = messageOf(err);
      if (kind === "forbidden") {
        return status === 401 ? { kind: "unauthorized", status: text } : {
          kind: "forbidden",
          status: text,
        };
      }
      if (kind === "not_found") return { kind: "not_found", status: text };
      return { kind: "failed", status: text };
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
