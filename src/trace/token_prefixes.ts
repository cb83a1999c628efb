/**
 * Which GitLab token prefixes the trace masks (spec/gitlab-runner-api.md §4.4,
 * https://docs.gitlab.com/security/tokens/#token-prefixes).
 */

/** Always masked, like the official runner. */
export const PERSONAL_ACCESS_TOKEN_PREFIX = "glpat-";

/** Masked too when `FF_MASK_ALL_DEFAULT_TOKENS` is on (its default). */
export const DEFAULT_TOKEN_PREFIXES: readonly string[] = [
  "gloas-",
  "gldt-",
  "glrt-",
  "glcbt-",
  "glrtr-",
  "glptt-",
  "glft-",
  "glimt-",
  "glagent-",
  "glsoat-",
  "glffct-",
  "_gitlab_session=",
  "gltok-",
];

/**
 * The prefixes to mask for a job: `glpat-`, the default list when
 * `isMaskAllDefaultTokens`, and the job's `features.token_mask_prefixes`.
 * Trimmed, empty ones dropped, duplicates removed.
 *
 * Unlike the official runner, which silently keeps only the 15 shortest, every
 * prefix is kept: the masker's cost does not grow with their number.
 */
export function tokenMaskPrefixes(
  jobPrefixes: readonly string[],
  options: { isMaskAllDefaultTokens: boolean },
): string[] {
  const all = [
    PERSONAL_ACCESS_TOKEN_PREFIX,
    ...(options.isMaskAllDefaultTokens ? DEFAULT_TOKEN_PREFIXES : []),
    ...jobPrefixes,
  ];
  return [...new Set(all.map((p) => p.trim()).filter((p) => p !== ""))];
}
