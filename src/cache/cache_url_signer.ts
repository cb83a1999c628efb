/**
 * Pre-signed URLs for the distributed cache (`[runners.cache] Type`). The
 * poller holds the credentials and signs; the executor process and the job
 * only ever see URLs that expire, each good for one method on one object.
 *
 * The signing libraries load here, with literal specifiers, only when a
 * runner has a distributed cache: an idle poller without one never loads them.
 */
import type { RunnerCacheConfig } from "../config/runner_config.ts";
import { cacheObjectName } from "./cache_object_name.ts";

export type CacheUrlMethod = "GET" | "PUT";

/** One request the holder of the URL may make: the headers are part of the signature. */
export interface PresignedRequest {
  url: string;
  headers: Record<string, string>;
  /**
   * How the job log names the object when it is not the URL without its
   * query: the official runner moves Azure blobs with GoCloud and logs
   * `azblob://<container>/<object>`.
   */
  displayUrl?: string;
  /**
   * Azure: a PUT stores a block blob, in one Put Blob request when the
   * archive fits in one block, else as Put Block requests and a Put Block
   * List; each request carries a body of known length.
   */
  isBlockBlob?: boolean;
}

/** Signs requests for object names; implementations are pure apart from the clock and credentials. */
export interface CacheUrlSigner {
  /** Rejects with an Error naming what is wrong (bad config, no credentials). */
  presign(
    objectName: string,
    method: CacheUrlMethod,
    options: PresignOptions,
  ): Promise<PresignedRequest>;
}

export interface PresignOptions {
  expiresSeconds: number;
  /**
   * Object metadata a PUT stores (`{ cachekey: <key> }`, as the official
   * runner sets it): `x-amz-meta-*`, `x-goog-meta-*` or `x-ms-meta-*`
   * headers, signed where the service signs headers.
   */
  metadata?: Readonly<Record<string, string>>;
}

/** `metadata` as headers with `prefix`; values that are not printable ASCII are left out. */
export function metadataHeaders(
  prefix: string,
  metadata: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    // A header value must be ASCII here; such a key is stored without its metadata.
    if (/^[\x20-\x7e]*$/.test(v)) headers[`${prefix}${k.toLowerCase()}`] = v;
  }
  return headers;
}

/** The cache types the official runner knows (`s3v2`/`gcsv2` are its internal adapter names). */
export function cacheBackend(type: string): "s3" | "gcs" | "azure" | "" | null {
  switch (type) {
    case "":
      return "";
    case "s3":
    case "s3v2":
      return "s3";
    case "gcs":
    case "gcsv2":
      return "gcs";
    case "azure":
      return "azure";
    default:
      return null;
  }
}

export interface SignerContext {
  env: (name: string) => string | undefined;
  /** Seconds since the epoch; a parameter so tests can sign at a fixed time. */
  now?: () => Date;
  /** For IAM instance-role credentials (S3) or token exchange; defaults to global fetch. */
  fetch?: typeof fetch;
}

/** Loads the signer for `cache`, or null for a local-only cache. Rejects for an unknown type. */
export async function loadCacheUrlSigner(
  cache: RunnerCacheConfig,
  context: SignerContext,
): Promise<CacheUrlSigner | null> {
  switch (cacheBackend(cache.type)) {
    case "":
      return null;
    case "s3": {
      const { S3UrlSigner } = await import("./s3_url_signer.ts");
      return new S3UrlSigner(cache.s3, context);
    }
    case "gcs": {
      const { GcsUrlSigner } = await import("./gcs_url_signer.ts");
      return new GcsUrlSigner(cache.gcs, context);
    }
    case "azure": {
      const { AzureUrlSigner } = await import("./azure_url_signer.ts");
      return new AzureUrlSigner(cache.azure, context);
    }
    default:
      throw new RangeError(
        `Cache type ${JSON.stringify(cache.type)} is not supported: use "s3", "gcs" or "azure"`,
      );
  }
}

/**
 * One signer per distinct `[runners.cache]` section, made on first use: a
 * poller whose runners have no distributed cache never loads a signing
 * library. A config that cannot make a signer is retried at the next job
 * (after a reload fixed it, say) and its reason given to each caller.
 */
export class CacheUrlSigners {
  readonly #context: SignerContext;
  readonly #signers = new Map<string, Promise<CacheUrlSigner | null>>();

  constructor(context: SignerContext) {
    this.#context = context;
  }

  signerFor(cache: RunnerCacheConfig): Promise<CacheUrlSigner | null> {
    const id = JSON.stringify(cache);
    let signer = this.#signers.get(id);
    if (signer === undefined) {
      signer = loadCacheUrlSigner(cache, this.#context);
      signer.catch(() => this.#signers.delete(id));
      this.#signers.set(id, signer);
    }
    return signer;
  }
}

/** The job a cache URL is signed for. */
export interface CacheUrlJob {
  /** The runner's `[runners.cache]` section, with its credentials. */
  cache: RunnerCacheConfig;
  shortToken: string;
  projectId: number;
  /** The job's timeout: the URL stays valid for it and an hour more. */
  timeoutSeconds: number;
}

/**
 * Signs `method` on cache `key` of `job`'s project, the object name formed
 * here (never by the executor process that asks). Valid for the whole job
 * and an hour more, and an upload stores the key as object metadata, as the
 * official runner does. Rejects naming what is wrong.
 */
export async function presignJobCache(
  signers: CacheUrlSigners,
  request: { key: string; method: CacheUrlMethod },
  job: CacheUrlJob,
): Promise<PresignedRequest> {
  const signer = await signers.signerFor(job.cache);
  if (!signer) throw new Error("the runner has no distributed cache");
  const objectName = cacheObjectName(request.key, {
    path: job.cache.path,
    shared: job.cache.shared,
    shortToken: job.shortToken,
    projectId: job.projectId,
  });
  return await signer.presign(objectName, request.method, {
    expiresSeconds: job.timeoutSeconds + 3600,
    ...(request.method === "PUT" ? { metadata: { cachekey: request.key } } : {}),
  });
}
