import type { JobSpec } from "../job/job_spec.ts";
import { tokenMaskPrefixes } from "./token_prefixes.ts";
import type { TraceMaskerOptions } from "./trace_masker.ts";

/**
 * What to mask in a job's trace, as the official runner chooses it: the
 * values of all masked variables, and the token prefixes (`glpat-`, the
 * default list when `FF_MASK_ALL_DEFAULT_TOKENS` is on, and the job's
 * `features.token_mask_prefixes`).
 */
export function maskOptionsForJob(
  job: Pick<JobSpec, "variables" | "features">,
  options: { isMaskAllDefaultTokens: boolean },
): TraceMaskerOptions {
  return {
    phrases: job.variables.filter((v) => v.masked).map((v) => v.value),
    tokenPrefixes: tokenMaskPrefixes(job.features.tokenMaskPrefixes, options),
  };
}
