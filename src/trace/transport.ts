/**
 * What the trace uploader needs from GitLab; gitlab/client.ts implements it
 * (spec/gitlab-runner-api.md §4, §5). Implementations never throw for HTTP
 * answers: every outcome is a result value. Network errors resolve as
 * `{ kind: "failed" }`.
 */
export interface TraceTransport {
  /** `PATCH jobs/<id>/trace` with `Content-Range: <start>-<start+len-1>`. */
  patchTrace(
    job: JobRef,
    chunk: Uint8Array,
    start: number,
    signal?: AbortSignal,
  ): Promise<PatchResult>;
  /** `PUT jobs/<id>`. */
  updateJob(job: JobRef, update: JobUpdate, signal?: AbortSignal): Promise<UpdateResult>;
}

export interface JobRef {
  id: number;
  token: string;
  /** Sent as `?debug_trace=true` on trace PATCHes. */
  debugTrace?: boolean;
}

export type JobState = "running" | "success" | "failed";

export interface JobUpdate {
  state: JobState;
  /** Only with `failed`; already mapped to a value the server accepts. */
  failureReason?: string;
  /** `crc32:%08x` of the stored trace bytes. */
  checksum?: string;
  bytesize?: number;
  exitCode?: number;
}

/** `Job-Status` header as sent by GitLab, when present. */
export type RemoteJobStatus = "running" | "canceling" | "canceled" | "failed" | "success" | string;

export type PatchResult =
  | { kind: "accepted"; jobStatus?: RemoteJobStatus; updateIntervalSeconds?: number }
  /** 416: resend from `serverSize`. */
  | { kind: "range-mismatch"; serverSize: number; jobStatus?: RemoteJobStatus }
  /** 403 or `Job-Status: canceled|failed`: the job is gone for us. */
  | { kind: "abort"; jobStatus?: RemoteJobStatus }
  | { kind: "not-found" }
  | { kind: "failed"; status?: number; error?: string };

export type UpdateResult =
  | { kind: "ok"; jobStatus?: RemoteJobStatus }
  /** 202: repeat the same update after the interval. */
  | { kind: "accepted"; updateIntervalSeconds?: number; jobStatus?: RemoteJobStatus }
  /** 412: resend the whole trace from byte 0. */
  | { kind: "trace-invalid" }
  | { kind: "abort"; jobStatus?: RemoteJobStatus }
  | { kind: "not-found" }
  | { kind: "failed"; status?: number; error?: string };
