/**
 * What artifact upload needs from GitLab (§6.1); gitlab/client.ts implements
 * it. One call is one try of `POST jobs/<id>/artifacts` (the client may add
 * its transport-level retries of §7.1 inside, re-reading nothing: a try whose
 * body was consumed cannot be replayed, so the caller makes a new body for
 * each call). Retries across tries, the 307 base-URL switch and the job-log
 * lines are the caller's (upload_artifacts.ts). Aborting `signal` cancels the
 * request and the body stream.
 */
export interface ArtifactUploader {
  upload(request: ArtifactUploadRequest, signal: AbortSignal): Promise<ArtifactUploadResult>;
}

export interface ArtifactUploadRequest {
  jobId: number;
  /** Sent as `JOB-TOKEN`. */
  jobToken: string;
  /** Multipart field `file`, streamed with chunked encoding. */
  body: ReadableStream<Uint8Array>;
  /** `filename=` of the form part, e.g. `artifacts.zip`, `junit.xml.gz`. */
  fileName: string;
  /** Query parameters; each is omitted when "". */
  artifactType: string;
  artifactFormat: string;
  expireIn: string;
  /** Scheme and host to use instead of the configured URL, after a 307 (§6.1); "" for none. */
  baseUrl: string;
}

/** `status` is the HTTP status line as GitLab sent it (e.g. "201 Created"), or the network error. */
export type ArtifactUploadResult =
  | { kind: "created"; status: string }
  | { kind: "redirected"; status: string; location: string }
  /** A 307 to a host this process may not connect to (only GitLab's, docs/security.md). */
  | { kind: "redirected_elsewhere"; status: string; location: string }
  | { kind: "forbidden"; status: string }
  | { kind: "too_large"; status: string }
  | { kind: "service_unavailable"; status: string }
  | { kind: "failed"; status: string };
