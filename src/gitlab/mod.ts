/** The GitLab API client: runner-token calls, job-token calls, and their policies. */
export { GitLabApiError } from "./api_error.ts";
export {
  type ApiEndpoint,
  ApiTransport,
  type ApiTransportOptions,
  type RequestEvent,
} from "./api_transport.ts";
export { apiRootUrl } from "./api_url.ts";
export { type Clock, systemClock } from "./clock.ts";
export { mapFailureReason } from "./failure_reasons.ts";
export {
  type ArtifactErrorKind,
  artifactFileName,
  ArtifactTransferError,
  type ArtifactUpload,
  JobClient,
  type JobClientOptions,
  MAX_TRACE_CHUNK_BYTES,
} from "./job_client.ts";
export { isRetriableStatus, RetryPolicy, type RetryPolicyOptions } from "./retry_policy.ts";
export {
  CLIENT_FEATURES,
  createRunnerInfo,
  FEATURE_NAMES,
  type RunnerInfo,
  runnerInfoBody,
  userAgent,
} from "./runner_info.ts";
export {
  type RegisterOptions,
  type RequestJobResult,
  type ResetTokenResult,
  RunnerClient,
  type RunnerClientOptions,
  type RunnerCredentials,
  type SessionInfo,
  type VerifyResult,
} from "./runner_client.ts";
