/** Structured log keys; use these so `job_id` never becomes `jobId`. */
export const F = {
  JOB_ID: "job_id",
  RUNNER: "runner",
  RUNNER_NAME: "runner_name",
  EXECUTOR: "executor",
  FAILURE_REASON: "failure_reason",
  STAGE: "stage",
  STATUS: "status",
  DURATION_S: "duration_s",
  ERROR: "error",
  URL: "url",
  FILE: "file",
  KEY: "key",
  ENDPOINT: "endpoint",
  SYSTEM_ID: "system_id",
  CORRELATION_ID: "correlation_id",
  PID: "pid",
} as const;
