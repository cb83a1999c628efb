/**
 * What artifact download needs from GitLab (§6.3); gitlab/client.ts implements
 * it. One call is one try of `GET jobs/<id>/artifacts` with the dependency's
 * own token. With `directDownload`, the client adds `direct_download=true`
 * and follows the redirect to object storage itself. Retries across tries and
 * the job-log lines are the caller's (download_artifacts.ts). Aborting
 * `signal` cancels the request and the body.
 */
export interface ArtifactDownloader {
  download(request: ArtifactDownloadRequest, signal: AbortSignal): Promise<ArtifactDownloadResult>;
}

export interface ArtifactDownloadRequest {
  jobId: number;
  /** Sent as `JOB-TOKEN`: the dependency's token, not necessarily the running job's. */
  jobToken: string;
  directDownload: boolean;
}

/** `status` is the HTTP status line (e.g. "404 Not Found"), or the network error. */
export type ArtifactDownloadResult =
  | {
    kind: "ok";
    status: string;
    body: ReadableStream<Uint8Array>;
    /**
     * `host:port` of a direct-download redirect this process may not
     * connect to: the body came from GitLab instead.
     */
    unreachableRedirect?: string;
  }
  | { kind: "forbidden"; status: string }
  | { kind: "unauthorized"; status: string }
  | { kind: "not_found"; status: string }
  | { kind: "failed"; status: string };
