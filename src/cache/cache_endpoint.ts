/**
 * The `host:port` the executor process reaches for the distributed cache, so
 * the poller can grant exactly that network access. Pure.
 */
import type { RunnerCacheConfig } from "../config/runner_config.ts";
import { cacheBackend } from "./cache_url_signer.ts";
import { gcsStorageHost } from "./gcs_endpoint.ts";
import { s3HostPort, s3ObjectUrl } from "./s3_endpoint.ts";
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

/**
 * Where the executor process PUTs cache archives with node:http (S3, GCS),
 * which connects to a proxy of the environment itself: the poller grants
 * that proxy too. Azure's blocks go with fetch, which needs no such grant.
 */
export function cacheUploadUrls(cache: RunnerCacheConfig): URL[] {
  try {
    switch (cacheBackend(cache.type)) {
      case "s3":
        return [s3ObjectUrl(cache.s3, "x")];
      case "gcs":
        return [new URL(`https://${gcsStorageHost(cache.gcs)}/`)];
      default:
        return [];
    }
  } catch {
    return [];
  }
}
