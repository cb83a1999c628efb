/**
 * Where a GCS object lives: `storage.<UniverseDomain>` (googleapis.com unless
 * set). Pure: also used to grant the executor process its network access.
 */
import type { GcsCacheConfig } from "../config/runner_config.ts";
import type { CacheSettingsProblem } from "./cache_settings.ts";

/**
 * `storage.<universe domain>`; a RangeError naming the key for a value that
 * is not a domain (a scheme or a path would make a host Deno's --allow-net
 * refuses, and a URL to nowhere).
 */
export function gcsStorageHost(gcs: GcsCacheConfig): string {
  const problem = gcsEndpointProblem(gcs);
  if (problem !== null) throw new RangeError(problem.message);
  return `storage.${gcs.universeDomain || "googleapis.com"}`;
}

/** A UniverseDomain that is not a domain, naming the key, else null (config loading names it too). */
export function gcsEndpointProblem(gcs: GcsCacheConfig): CacheSettingsProblem | null {
  const domain = gcs.universeDomain || "googleapis.com";
  if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain)) return null;
  return {
    key: "UniverseDomain",
    message: `[runners.cache.gcs] UniverseDomain ${JSON.stringify(domain)} is not a domain`,
  };
}
