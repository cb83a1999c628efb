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
  environment: { name: string; url: string; action: string } | null;
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
  if (job.nodeTotal > 0) {
    vars.push(["CI_NODE_INDEX", String(job.nodeIndex)], ["CI_NODE_TOTAL", String(job.nodeTotal)]);
  }
  if (job.environment) {
    vars.push(
      ["CI_ENVIRONMENT_NAME", job.environment.name],
      ["CI_ENVIRONMENT_SLUG", slugify(job.environment.name, 24)],
      ["CI_ENVIRONMENT_ACTION", job.environment.action],
    );
    if (job.environment.url) vars.push(["CI_ENVIRONMENT_URL", job.environment.url]);
  }
  return vars;
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
