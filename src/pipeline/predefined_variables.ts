import type { GitState } from "./git_state.ts";

/** What the predefined pipeline variables are computed from. */
export interface PipelineContext {
  git: GitState;
  /** Absolute path of the project; also the local "repository URL". */
  projectDir: string;
  projectName: string;
  /** `namespace/name`. */
  projectPath: string;
  pipelineId: number;
  pipelineSource: string;
  pipelineName: string;
  /** ISO 8601. */
  createdAt: string;
}

/**
 * The CI_* values GitLab would put in every job of this pipeline, in GitLab's
 * order. `CI_PROJECT_DIR` and the `CI_RUNNER_*`/`CI_BUILDS_DIR` values are
 * not here: the runner adds them for the directory it actually uses.
 */
export function pipelineVariables(ctx: PipelineContext): Array<[string, string]> {
  const { git } = ctx;
  const namespace = ctx.projectPath.includes("/")
    ? ctx.projectPath.slice(0, ctx.projectPath.lastIndexOf("/"))
    : "";
  const [title = "", ...body] = git.commitMessage.split("\n");
  const vars: Array<[string, string]> = [
    ["CI", "true"],
    ["GITLAB_CI", "true"],
    ["CI_SERVER", "yes"],
    ["CI_CONFIG_PATH", ".gitlab-ci.yml"],
    ["CI_PIPELINE_ID", String(ctx.pipelineId)],
    ["CI_PIPELINE_IID", String(ctx.pipelineId)],
    ["CI_PIPELINE_SOURCE", ctx.pipelineSource],
    ["CI_PIPELINE_CREATED_AT", ctx.createdAt],
    ["CI_PROJECT_NAME", ctx.projectName],
    ["CI_PROJECT_TITLE", ctx.projectName],
    ["CI_PROJECT_PATH", ctx.projectPath],
    ["CI_PROJECT_PATH_SLUG", slugify(ctx.projectPath, 0)],
    ["CI_PROJECT_NAMESPACE", namespace],
    ["CI_PROJECT_ROOT_NAMESPACE", namespace.split("/")[0] ?? ""],
    ["CI_REPOSITORY_URL", ctx.projectDir],
    ["CI_DEFAULT_BRANCH", git.defaultBranch],
    ["CI_COMMIT_SHA", git.sha],
    ["CI_COMMIT_SHORT_SHA", git.sha.slice(0, 8)],
    ["CI_COMMIT_BEFORE_SHA", git.beforeSha],
    ["CI_COMMIT_REF_NAME", git.ref],
    ["CI_COMMIT_REF_SLUG", slugify(git.ref, 63)],
    ["CI_COMMIT_REF_PROTECTED", "false"],
    ["CI_COMMIT_MESSAGE", git.commitMessage],
    ["CI_COMMIT_TITLE", title],
    ["CI_COMMIT_DESCRIPTION", body.join("\n").trim()],
    ["CI_COMMIT_AUTHOR", git.commitAuthor],
    ["CI_COMMIT_TIMESTAMP", git.commitTimestamp],
  ];
  if (git.refType === "tag") vars.push(["CI_COMMIT_TAG", git.ref]);
  else if (git.ref) vars.push(["CI_COMMIT_BRANCH", git.ref]);
  if (ctx.pipelineName) vars.push(["CI_PIPELINE_NAME", ctx.pipelineName]);
  return vars;
}

/** What the job-level predefined variables are computed from. */
export interface JobContext {
  name: string;
  stage: string;
  id: number;
  nodeIndex: number;
  nodeTotal: number;
  isManual: boolean;
  /** Name and URL already expanded (see `environmentSlug`); an empty tier is guessed from the name. */
  environment: { name: string; slug: string; url: string; action: string; tier: string } | null;
}

/** CI_JOB_* and friends; CI_JOB_TOKEN is added by the caller, masked. */
export function jobVariables(job: JobContext): Array<[string, string]> {
  const vars: Array<[string, string]> = [
    ["CI_JOB_ID", String(job.id)],
    ["CI_JOB_NAME", job.name],
    ["CI_JOB_NAME_SLUG", slugify(job.name, 63)],
    ["CI_JOB_STAGE", job.stage],
  ];
  if (job.isManual) vars.push(["CI_JOB_MANUAL", "true"]);
  // GitLab sets CI_NODE_TOTAL=1 for a job that is not parallel, CI_NODE_INDEX only for parallel ones.
  if (job.nodeTotal > 0) vars.push(["CI_NODE_INDEX", String(job.nodeIndex)]);
  vars.push(["CI_NODE_TOTAL", String(Math.max(job.nodeTotal, 1))]);
  if (job.environment) {
    vars.push(
      ["CI_ENVIRONMENT_NAME", job.environment.name],
      ["CI_ENVIRONMENT_SLUG", job.environment.slug],
      ["CI_ENVIRONMENT_TIER", job.environment.tier || environmentTier(job.environment.name)],
      ["CI_ENVIRONMENT_ACTION", job.environment.action],
    );
    if (job.environment.url) vars.push(["CI_ENVIRONMENT_URL", job.environment.url]);
  }
  return vars;
}

/**
 * GitLab's environment slug (`Gitlab::Slug::Environment`): lower case, a-z
 * and 0-9 only, starts with a letter (else `env-` is put first), no repeated
 * `-`. When that changed the name or left it longer than 24 characters, the
 * first 17 characters get a 6-character suffix: the SHA-256 of the name as a
 * number in base 36, last 6 digits. So the same name always gets the same slug.
 */
export async function environmentSlug(name: string): Promise<string> {
  let slug = name.toLowerCase().replace(/[^a-z0-9]/g, "-");
  if (!/^[a-z]/.test(slug)) slug = `env-${slug}`;
  slug = slug.replace(/-+/g, "-");
  if (slug.length <= 24 && slug === name) return slug.replace(/-$/, "");
  slug = slug.slice(0, 17);
  if (!slug.endsWith("-")) slug += "-";
  return slug + (await sha256Base36(name)).slice(-6);
}

/**
 * The tier GitLab guesses from an environment's name when
 * `environment:deployment_tier` is not set (`Environment#guess_tier`).
 */
export function environmentTier(name: string): string {
  if (/dev|review|trunk/i.test(name)) return "development";
  if (/test|tst|int|ac(ce|)pt|qa|qc|control|quality/i.test(name)) return "testing";
  if (/st(a|)g|mod(e|)l|pre|demo|non/i.test(name)) return "staging";
  if (/pr(o|)d|live/i.test(name)) return "production";
  return "other";
}

/** Web crypto: node:crypto takes tens of ms to load on exec's start-up path. */
async function sha256Base36(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return BigInt(`0x${hex}`).toString(36);
}

/**
 * GitLab's slug: lower case, every run of characters other than a-z and 0-9
 * becomes `-`, cut to `max` characters (0: no limit), no `-` at either end.
 */
export function slugify(text: string, max: number): string {
  let slug = text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  if (max > 0) slug = slug.slice(0, max);
  return slug.replace(/^-+|-+$/g, "");
}
