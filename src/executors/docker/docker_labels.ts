/**
 * Labels on every container, network and volume the docker executor creates.
 * The `com.gitlab.gitlab-runner.*` names match the official runner so its
 * tooling and operators' filters keep working; the `runner.*` names are ours
 * and drive orphan sweeping and `cache clear`.
 */

export const LABEL_PREFIX = "com.gitlab.gitlab-runner";
/** "true" on everything Runner created. */
export const LABEL_MANAGED = "runner.managed";
/** Id of the executor process that created the resource (see OwnerLease). */
export const LABEL_OWNER = "runner.owner";
/** Id of the runner host whose state dir holds the owner's lease. */
export const LABEL_OWNER_HOST = "runner.owner.host";
/** "true" for resources that die with the job; cache volumes are "false". */
export const LABEL_TEMPORARY = "runner.temporary";
/** build, helper, service, health-check, network, cache, temporary-volume */
export const LABEL_TYPE = `${LABEL_PREFIX}.type`;
export const LABEL_JOB_ID = `${LABEL_PREFIX}.job.id`;
export const LABEL_PROJECT_ID = `${LABEL_PREFIX}.project.id`;
export const LABEL_RUNNER_SHORT_TOKEN = `${LABEL_PREFIX}.runner.short_token`;
export const LABEL_CONCURRENT_PROJECT_ID = `${LABEL_PREFIX}.concurrent.project.id`;

export type ResourceType =
  | "build"
  | "helper"
  | "service"
  | "health-check"
  | "network"
  | "cache"
  | "temporary-volume";

export interface LabelContext {
  ownerId: string;
  hostId: string;
  jobId: number;
  projectId: number;
  shortToken: string;
  concurrentProjectId: number;
}

export function resourceLabels(ctx: LabelContext, type: ResourceType): Record<string, string> {
  const isTemporary = type !== "cache";
  const labels: Record<string, string> = {
    [LABEL_MANAGED]: "true",
    [`${LABEL_PREFIX}.managed`]: "true",
    [LABEL_TYPE]: type,
    [LABEL_TEMPORARY]: String(isTemporary),
    [LABEL_PROJECT_ID]: String(ctx.projectId),
    [LABEL_RUNNER_SHORT_TOKEN]: ctx.shortToken,
    [LABEL_CONCURRENT_PROJECT_ID]: String(ctx.concurrentProjectId),
  };
  // Cache volumes outlive their creator: no owner, so no sweep ever takes them.
  if (isTemporary) {
    labels[LABEL_OWNER] = ctx.ownerId;
    labels[LABEL_OWNER_HOST] = ctx.hostId;
    labels[LABEL_JOB_ID] = String(ctx.jobId);
  }
  return labels;
}

/**
 * A container's labels: ours, then `container_labels` (values already
 * expanded). Service containers also get each user label under the
 * `com.gitlab.gitlab-runner.` prefix, as the official runner does for
 * backwards compatibility. Our `runner.*` labels always win: the orphan sweep
 * and `cache clear` depend on them.
 */
export function containerLabels(
  ours: Record<string, string>,
  user: Record<string, string>,
  isService: boolean,
): Record<string, string> {
  const labels: Record<string, string> = { ...ours, ...user };
  if (isService) {
    for (const [k, v] of Object.entries(user)) labels[`${LABEL_PREFIX}.${k}`] = v;
  }
  for (const [k, v] of Object.entries(ours)) if (k.startsWith("runner.")) labels[k] = v;
  return labels;
}
