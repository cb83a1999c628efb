import type { FailureReason } from "../job/failure_reason.ts";

/** Reasons every GitLab accepts even when the job's `features.failure_reasons` omits them. */
const ALWAYS_SUPPORTED = ["script_failure", "runner_system_failure", "job_execution_timeout"];

/** Where a reason falls back to when the server does not list it (spec §5.4). */
const COMPATIBILITY: Readonly<Record<string, string>> = {
  "image_pull_failure": "runner_system_failure",
  "runner_configuration_error": "script_failure",
  "runner_external_dependency_failure": "runner_system_failure",
};

const MAX_HOPS = 10;

/**
 * The value to send as `failure_reason` for a failed job, given the job's
 * `features.failure_reasons`. Empty becomes `script_failure`; an unsupported
 * reason follows the compatibility map, else becomes `unknown_failure`.
 */
export function mapFailureReason(
  reason: FailureReason | "",
  serverReasons: readonly string[],
): string {
  if (reason === "") return "script_failure";
  const supported = new Set([...serverReasons, ...ALWAYS_SUPPORTED]);
  let current: string | undefined = reason;
  for (let hop = 0; hop < MAX_HOPS && current !== undefined; hop++) {
    if (supported.has(current)) return current;
    current = COMPATIBILITY[current];
  }
  return "unknown_failure";
}
