/**
 * Object names of the distributed cache, as the official runner forms them so
 * that a fleet mixing both runners shares one bucket:
 * `[<Path>/]runner/<short token>/project/<project id>/<key>`, without the
 * `runner/<short token>` part when `Shared` is true. Pure.
 */
import { joinPosix } from "../path/host_path.ts";

export interface CacheObjectNameOptions {
  /** `[runners.cache] Path`. */
  path: string;
  /** `[runners.cache] Shared`. */
  shared: boolean;
  /** The runner's short token (first 8 characters of the token, without its prefix). */
  shortToken: string;
  projectId: number;
}

/**
 * The object name for cache `key`, or a `RangeError` when the key would leave
 * the project's prefix (the official runner refuses `../` in keys the same way)
 * or `Path` the bucket.
 */
export function cacheObjectName(key: string, options: CacheObjectNameOptions): string {
  const namespace = options.shared ? "" : joinPosix("runner", options.shortToken);
  const base = joinPosix(options.path, namespace, "project", String(options.projectId));
  // A URL resolves "..": the object would land in another bucket or container.
  if (base.startsWith("../")) {
    throw new RangeError(
      `[runners.cache] Path ${
        JSON.stringify(options.path)
      } leaves the bucket or container: remove "../" from it`,
    );
  }
  const full = joinPosix(base, key);
  if (key === "" || !full.startsWith(`${base}/`)) {
    throw new RangeError(
      `Cache key ${
        JSON.stringify(key)
      } leaves the project's cache prefix: remove "../" from the key`,
    );
  }
  return full.replace(/^\/+/, "");
}
