/**
 * The `host:port` the executor process reaches for the distributed cache, so
 * the poller can grant exactly that network access. Pure.
 */
import type { RunnerCacheConfig } from "../config/runner_config.ts";
import { cacheBackend } from "./cache_url_signer.ts";
import { gcsStorageHost } from "./gcs_endpoint.ts";
import { s3HostPort } from "./s3_endpoint.ts";
import { azureHostPort } from "./azure_endpoint.ts";

/** Empty for a local-only cache, or a config that names no usable endpoint. */
export function cacheEndpoints(cache: RunnerCacheConfig): string[] {
  try {
    switch (cacheBackend(cache.type)) {
      case "s3":
        return [s3HostPort(cache.s3)];
      case "gcs":
        return [`${gcsStorageHost(cache.gcs)}:443`];
      case "azure":
        return [azureHostPort(cache.azure)];
      default:
        return [];
    }
  } catch {
    // The signer reports the config error to the job; no URL, no access needed.
    return [];
  }
}
