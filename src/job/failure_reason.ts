/**
 * Why a job failed, in GitLab's words. `job_canceled` is internal: it is mapped
 * to a value the server lists before it is sent (see gitlab/failure_reasons.ts).
 */
export type FailureReason =
  | "script_failure" // the user's script exited non-zero
  | "runner_system_failure" // we or the host broke
  | "job_execution_timeout"
  | "image_pull_failure"
  | "runner_configuration_error"
  | "runner_external_dependency_failure"
  | "runner_interrupted"
  | "unknown_failure"
  | "job_canceled";

export const FAILURE_REASONS: readonly FailureReason[] = [
  "script_failure",
  "runner_system_failure",
  "job_execution_timeout",
  "image_pull_failure",
  "runner_configuration_error",
  "runner_external_dependency_failure",
  "runner_interrupted",
  "unknown_failure",
  "job_canceled",
];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === "string" && (FAILURE_REASONS as readonly string[]).includes(value);
}

/** A job ends with this error; everything else reaching the poller is runner_system_failure. */
export class JobFailedError extends Error {
  override readonly name = "JobFailedError";
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: ErrorOptions & { exitCode?: number },
  ) {
    super(message, options);
    this.exitCode = options?.exitCode ?? 0;
  }
  readonly exitCode: number;
}
