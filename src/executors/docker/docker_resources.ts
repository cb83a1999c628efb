/**
 * Removing what the docker executor created: the orphan sweep at executor
 * start, and `runner cache clear`.
 */
import type { DockerApi } from "./docker_client.ts";
import {
  LABEL_MANAGED,
  LABEL_OWNER,
  LABEL_OWNER_HOST,
  LABEL_PROJECT_ID,
  LABEL_RUNNER_SHORT_TOKEN,
  LABEL_TEMPORARY,
  LABEL_TYPE,
} from "./docker_labels.ts";
import type { OwnerLease } from "./owner_lease.ts";
import { isNotFound } from "./_docker_errors.ts";

export interface SweepResult {
  containers: string[];
  networks: string[];
  volumes: string[];
  /** Resources that could not be removed, with the daemon's answer. */
  failures: { name: string; reason: string }[];
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Removes temporary containers, networks and volumes whose owning executor
 * process is gone (see OwnerLease). Cache volumes carry no owner and are never
 * touched; resources of live executors and of other runner hosts neither.
 * Containers go first, so their networks and volumes are free to remove.
 */
export async function sweepOrphans(docker: DockerApi, lease: OwnerLease): Promise<SweepResult> {
  const result: SweepResult = { containers: [], networks: [], volumes: [], failures: [] };
  const filters = JSON.stringify({
    label: [
      `${LABEL_MANAGED}=true`,
      `${LABEL_TEMPORARY}=true`,
      `${LABEL_OWNER_HOST}=${lease.hostId}`,
    ],
  });
  const deadOwners = new Map<string, boolean>();
  const isDead = async (labels: Record<string, string> | undefined): Promise<boolean> => {
    const owner = labels?.[LABEL_OWNER] ?? "";
    if (owner === lease.ownerId) return false;
    let dead = deadOwners.get(owner);
    if (dead === undefined) {
      dead = !(await lease.isAlive(owner));
      deadOwners.set(owner, dead);
    }
    return dead;
  };

  const containers = await docker.listContainers({ all: true, filters });
  for (const c of containers) {
    if (!(await isDead(c.Labels))) continue;
    const name = c.Names[0]?.replace(/^\//, "") ?? c.Id;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      result.containers.push(name);
    } catch (err) {
      if (!isNotFound(err)) result.failures.push({ name, reason: message(err) });
    }
  }
  const networks = await docker.listNetworks({ filters });
  for (const n of networks) {
    if (!(await isDead(n.Labels))) continue;
    try {
      await docker.getNetwork(n.Id).remove();
      result.networks.push(n.Name);
    } catch (err) {
      if (!isNotFound(err)) result.failures.push({ name: n.Name, reason: message(err) });
    }
  }
  const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  for (const v of volumes) {
    if (!(await isDead(v.Labels))) continue;
    try {
      await docker.getVolume(v.Name).remove();
      result.volumes.push(v.Name);
    } catch (err) {
      if (!isNotFound(err)) result.failures.push({ name: v.Name, reason: message(err) });
    }
  }
  for (const [owner, dead] of deadOwners) if (dead) await lease.forget(owner);
  return result;
}

export interface CacheVolumeFilter {
  /** Only this runner's volumes (CI_RUNNER_SHORT_TOKEN); "" or absent = all runners. */
  shortToken?: string;
  /** Only this project's volumes; absent = all projects. */
  projectId?: number;
}

/**
 * `runner cache clear`: removes Runner's per-project cache volumes (build
 * clones and /cache). A volume still used by a running job cannot be removed;
 * it is listed in `failures` with the daemon's reason.
 */
export async function clearCacheVolumes(
  docker: DockerApi,
  filter: CacheVolumeFilter = {},
): Promise<{ removed: string[]; failures: { name: string; reason: string }[] }> {
  const labels = [`${LABEL_MANAGED}=true`, `${LABEL_TYPE}=cache`];
  if (filter.shortToken) labels.push(`${LABEL_RUNNER_SHORT_TOKEN}=${filter.shortToken}`);
  if (filter.projectId !== undefined) labels.push(`${LABEL_PROJECT_ID}=${filter.projectId}`);
  const volumes = (await docker.listVolumes({ filters: JSON.stringify({ label: labels }) }))
    .Volumes ?? [];
  const removed: string[] = [];
  const failures: { name: string; reason: string }[] = [];
  for (const v of volumes) {
    try {
      await docker.getVolume(v.Name).remove();
      removed.push(v.Name);
    } catch (err) {
      if (!isNotFound(err)) failures.push({ name: v.Name, reason: message(err) });
    }
  }
  return { removed, failures };
}
