/**
 * `CacheStore` for `[runners.cache] Type = "s3" | "gcs" | "azure"`, as the
 * official cache helpers behave: the archive is always kept in the local
 * cache store too, then uploaded to a pre-signed URL (unless it is larger
 * than `MaxUploadedArchiveSize`); a restore downloads the remote archive when
 * it is newer than the local one (`Last-Modified`), else uses the local copy.
 * Transfers retry on 5xx and network errors (3 attempts, 1 s apart). Every
 * failure reaches the caller as an Error whose message says what the server
 * answered; cache stages turn it into a warning and the job goes on.
 */
import type { JobLogSink } from "../archive/log_sink.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { CacheStore } from "./cache_store.ts";
import type { CacheUrlMethod, PresignedRequest } from "./cache_url_signer.ts";
import type { ObjectTransfer } from "./object_transfer.ts";

/** Where pre-signed requests come from: the poller, over the executor protocol. */
export interface CacheUrlSource {
  /** Rejects with the reason when there is no URL (bad config, no credentials). */
  presign(key: string, method: CacheUrlMethod): Promise<PresignedRequest>;
}

export interface DistributedCacheStoreOptions {
  local: CacheStore;
  urls: CacheUrlSource;
  transfer: ObjectTransfer;
  /** Bytes; 0 = no limit. */
  maxUploadedArchiveSize: number;
  log: JobLogSink;
  signal: AbortSignal;
  /** Between attempts; a parameter so tests need not wait. */
  retryDelayMs?: number;
}

const ATTEMPTS = 3;
const ARCHIVE_NAME = "cache.zip";

export class DistributedCacheStore implements CacheStore {
  readonly #o: DistributedCacheStoreOptions;

  constructor(options: DistributedCacheStoreOptions) {
    this.#o = options;
  }

  async open(key: string): Promise<RandomAccessReader | null> {
    const { local, log } = this.#o;
    let request: PresignedRequest;
    try {
      request = await this.#o.urls.presign(key, "GET");
    } catch (err) {
      log(`WARNING: No URL for the distributed cache: ${(err as Error).message}`);
      return await local.open(key);
    }
    log(`Downloading ${ARCHIVE_NAME} from ${cleanUrl(request.url)}`);
    const response = await this.#retry(() => this.#o.transfer.get(request, this.#o.signal));
    if (response.status === 404) {
      const problem = parseS3Error(await response.text());
      // A missing bucket is a configuration error, not a missing archive.
      if (problem.code !== "" && problem.code !== "NoSuchKey") {
        throw new Error(`Cannot download cache: ${describe(404, problem)}`);
      }
      return await local.open(key);
    }
    if (!response.ok) {
      throw new Error(
        `Cannot download cache: ${describe(response.status, parseS3Error(await response.text()))}`,
      );
    }
    const remoteTime = Date.parse(response.headers.get("last-modified") ?? "");
    const localTime = await local.modified(key);
    if (localTime !== null && !Number.isNaN(remoteTime) && remoteTime <= localTime.getTime()) {
      await response.body?.cancel();
      log(`${ARCHIVE_NAME} is up to date`);
      return await local.open(key);
    }
    const size = Number(response.headers.get("content-length") ?? NaN);
    if (response.body === null) throw new Error("Cannot download cache: the answer has no body");
    const stored = await local.save(key, key, response.body);
    if (!Number.isNaN(size) && stored !== size) {
      throw new Error(`Cannot download cache: got ${stored} of ${size} bytes`);
    }
    log(`Downloaded ${ARCHIVE_NAME} (${formatSize(stored)})`);
    return await local.open(key);
  }

  modified(key: string): Promise<Date | null> {
    return this.#o.local.modified(key);
  }

  async save(key: string, humanKey: string, body: ReadableStream<Uint8Array>): Promise<number> {
    const { local, log, maxUploadedArchiveSize: limit } = this.#o;
    const size = await local.save(key, humanKey, body);
    if (limit !== 0 && size > limit) {
      // The official helper's words.
      log(
        `Cache archive size (${size}) is too big (Limit is set to ${limit}). Cache will be stored only locally.`,
      );
      return size;
    }
    const request = await this.#o.urls.presign(key, "PUT").catch((err) => {
      throw new Error(`No URL for the distributed cache: ${(err as Error).message}`, {
        cause: err,
      });
    });
    log(`Uploading ${ARCHIVE_NAME} to ${cleanUrl(request.url)}`);
    const answer = await this.#retry(async () => {
      const reader = await local.open(key);
      if (reader === null) throw new Error(`Cache archive for ${key} vanished before its upload`);
      try {
        const result = await this.#o.transfer.put(request, reader, this.#o.signal);
        return { status: result.status, text: result.text };
      } finally {
        await reader.close();
      }
    });
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`Cannot upload cache: ${describe(answer.status, parseS3Error(answer.text))}`);
    }
    log(`Uploaded ${ARCHIVE_NAME} (${formatSize(size)})`);
    return size;
  }

  /** Runs `attempt` again after a network error or a 5xx answer, up to ATTEMPTS times. */
  async #retry<T extends { status: number }>(attempt: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 1; i <= ATTEMPTS; i++) {
      this.#o.signal.throwIfAborted();
      try {
        const result = await attempt();
        if (result.status < 500 || i === ATTEMPTS) return result;
        if (result instanceof Response) await result.body?.cancel();
        last = new Error(`the server answered ${result.status}`);
      } catch (err) {
        this.#o.signal.throwIfAborted();
        if (i === ATTEMPTS) throw err;
        last = err;
      }
      this.#o.log(
        `WARNING: Retrying cache transfer (${i}/${ATTEMPTS - 1}): ${(last as Error).message}`,
      );
      await new Promise((resolve) => setTimeout(resolve, this.#o.retryDelayMs ?? 1000));
    }
    throw last;
  }
}

/** The URL without its query (signature) and user info, as the official helper logs it. */
export function cleanUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

interface StorageError {
  code: string;
  message: string;
}

/** The `<Code>` and `<Message>` of an S3 (or Azure/GCS: same shape) XML error body. */
export function parseS3Error(body: string): StorageError {
  const field = (name: string) =>
    new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1]?.trim() ?? "";
  return { code: field("Code"), message: field("Message") };
}

function describe(status: number, problem: StorageError): string {
  const hint = HINTS[problem.code];
  const detail = [problem.code, problem.message].filter((s) => s !== "").join(": ");
  return `the server answered ${status}${detail ? ` ${detail}` : ""}${hint ? ` (${hint})` : ""}`;
}

/** What the usual storage error codes mean for a runner operator. */
const HINTS: Record<string, string> = {
  NoSuchBucket: "the bucket in [runners.cache] does not exist",
  ContainerNotFound: "the container in [runners.cache.azure] does not exist",
  InvalidAccessKeyId: "check the access key in [runners.cache]",
  SignatureDoesNotMatch: "check the secret key in [runners.cache]",
  AuthenticationFailed: "check the account key in [runners.cache.azure]",
  RequestTimeTooSkewed: "the runner's clock differs from the server's: sync the clock",
  AccessDenied: "the credentials may not access this object",
};

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
