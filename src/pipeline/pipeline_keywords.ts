/** Top-level keys that are not jobs. */
const RESERVED = new Set([
  "image",
  "services",
  "stages",
  "types",
  "before_script",
  "after_script",
  "variables",
  "cache",
  "include",
  "default",
  "workflow",
  "spec",
]);

export function isReservedKeyword(key: string): boolean {
  return RESERVED.has(key);
}

/** Keywords `default:` may hold, in GitLab's list. */
export const DEFAULT_KEYWORDS: readonly string[] = [
  "after_script",
  "artifacts",
  "before_script",
  "cache",
  "hooks",
  "id_tokens",
  "image",
  "interruptible",
  "retry",
  "services",
  "tags",
  "timeout",
];

/** Every job keyword GitLab knows; anything else draws an "unknown keyword" warning. */
export const JOB_KEYWORDS: ReadonlySet<string> = new Set([
  "after_script",
  "allow_failure",
  "artifacts",
  "before_script",
  "cache",
  "coverage",
  "dast_configuration",
  "dependencies",
  "environment",
  "except",
  "extends",
  "hooks",
  "id_tokens",
  "identity",
  "image",
  "inherit",
  "interruptible",
  "manual_confirmation",
  "needs",
  "only",
  "pages",
  "parallel",
  "release",
  "resource_group",
  "retry",
  "rules",
  "run",
  "script",
  "secrets",
  "services",
  "stage",
  "start_in",
  "tags",
  "timeout",
  "trigger",
  "variables",
  "when",
]);

/** Job keywords exec reads but cannot honour locally; each draws a warning. */
export const IGNORED_JOB_KEYWORDS: ReadonlyMap<string, string> = new Map([
  ["secrets", "external secrets are not resolved locally"],
  ["id_tokens", "ID tokens need GitLab; not issued locally"],
  [
    "hooks",
    "pre_get_sources_script and post_get_sources_script run around the git fetch, which exec does not do (it copies the working tree); ignored",
  ],
  ["identity", "cloud identity needs GitLab; ignored"],
  ["release", "releases need GitLab; ignored"],
  ["resource_group", "resource groups are not enforced locally"],
  ["dast_configuration", "DAST profiles need GitLab; ignored"],
  ["pages", "Pages deployment needs GitLab; ignored"],
  ["manual_confirmation", "ignored locally"],
]);

/** The stages a pipeline has when `stages:` is not set. */
export const DEFAULT_STAGES: readonly string[] = [".pre", "build", "test", "deploy", ".post"];
