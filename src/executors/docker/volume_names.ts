/**
 * Names of per-project volumes, shaped like the official runner's
 * `runner-<short token>-project-<id>-concurrent-<n>-cache-<md5(path)>`, so
 * a second job of the same project in the same slot finds its clone and cache.
 */
import { createHash } from "node:crypto";

export interface VolumeScope {
  shortToken: string;
  projectId: number;
  concurrentProjectId: number;
}

function pathHash(containerPath: string): string {
  return createHash("md5").update(containerPath).digest("hex");
}

export function volumePrefix(scope: VolumeScope): string {
  return `runner-${scope.shortToken}-project-${scope.projectId}-concurrent-${scope.concurrentProjectId}`;
}

/** Kept between jobs of the project and slot; removed only by `cache clear`. */
export function cacheVolumeName(scope: VolumeScope, containerPath: string): string {
  return `${volumePrefix(scope)}-cache-${pathHash(containerPath)}`;
}

/** Lives for one job (disable_cache); removed at cleanup or by the orphan sweep. */
export function temporaryVolumeName(
  scope: VolumeScope,
  jobId: number,
  containerPath: string,
): string {
  return `${volumePrefix(scope)}-job-${jobId}-tmp-${pathHash(containerPath)}`;
}

/** Name prefix of every container and network of one job. */
export function jobResourcePrefix(scope: VolumeScope, jobId: number): string {
  return `${volumePrefix(scope)}-job-${jobId}`;
}
