/**
 * Where a GCS object lives: `storage.<UniverseDomain>` (googleapis.com unless
 * set). Pure: also used to grant the executor process its network access.
 */
import type { GcsCacheConfig } from "../config/runner_config.ts";

/**
 * `storage.<universe domain>`; a RangeError naming the key for a value that
 * is not a domain (a scheme or a path would make a host Deno's --allow-net
 * refuses, and a URL to nowhere).
 */
export function gcsStorageHost(gcs: GcsCacheConfig): string {
  const domain = gcs.universeDomain || "googleapis.com";
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain)) {
    throw new RangeError(
      `[runners.cache.gcs] UniverseDomain ${JSON.stringify(domain)} is not a domain`,
    );
  }
  return `storage.${domain}`;
}
