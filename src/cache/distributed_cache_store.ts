/**
 * `CacheStore` for `[runners.cache] Type = "s3" | "gcs" | "azure"`, as the
 * official cache helpers behave: the archive is always kept in the local
 * cache store too, then uploaded to a pre-signed URL (unless it is larger
 * than `MaxUploadedArchiveSize`); a restore downloads the remote archive when
 * it is newer than the local one (`Last-Modified`), else uses the local copy.
 * Transfers retry on 5xx and network errors, a download broken off midway
 * included (3 attempts, 1 s apart, as the official helpers), each attempt
 * cut after `CACHE_REQUEST_TIMEOUT` (a server that never answers). Every
 * failure reaches the caller as an Error whose message says what the server
 * answered; cache stages turn it into a warning and the job goes on.
 */
import type { JobLogSink } from "../archive/log_sink.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { CacheBody, CacheSaveOptions, CacheStore } from "./cache_store.ts";
import type { CacheUrlMethod, PresignedRequest } from "./cache_url_signer.ts";
import type { ObjectTransfer } from "./object_transfer.ts";
import { TransferMeter, type TransferProgress } from "./transfer_meter.ts";
import { setLongTimeout } from "../time/clock.ts";

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
  /** The transfer meter's output, when the job sets TRANSFER_METER_FREQUENCY. */
  progress?: TransferProgress | null;
  /**
   * How long one request may take, its body included (the job's
   * `CACHE_REQUEST_TIMEOUT`, 10 minutes by default as in the official
   * helpers); 0 = no limit.
   */
  requestTimeoutMs?: number;
}

/** The official helpers' `DefaultCacheRequestTimeout`: 10 minutes. */
export const DEFAULT_CACHE_REQUEST_TIMEOUT_MS = 10 * 60_000;

const ATTEMPTS = 3;
const ARCHIVE_NAME = "cache.zip";
/** 404 codes that mean "no such archive" (S3/GCS, Azure); others (no bucket) are errors. */
const MISSING_OBJECT_CODES = new Set(["", "NoSuchKey", "BlobNotFound"]);

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
    // As the official extractor: a dropped connection in the middle of the
    // archive is retried like a 5xx, with a new GET from the start.
    const outcome = await this.#retry((signal) => this.#download(key, request, signal)).catch(
      (err) => {
        throw transferError("download", err);
      },
    );
    const { response } = outcome;
    if (response === undefined) return await local.open(key);
    if (response.status === 404) {
      const problem = parseStorageError(await response.text(), response.headers);
      // A missing bucket or container is a configuration error, not a missing archive.
      if (!MISSING_OBJECT_CODES.has(problem.code)) {
        throw new Error(`Cannot download cache: ${describe(404, problem)}`);
      }
      return await local.open(key);
    }
    const problem = parseStorageError(await response.text(), response.headers);
    throw new Error(`Cannot download cache: ${describe(response.status, problem)}`);
  }

  /**
   * One GET: saves a newer archive into the local store and resolves without
   * a response; resolves with the response (body unread) when it is not a
   * 2xx; rejects when the body breaks off.
   */
  async #download(
    key: string,
    request: PresignedRequest,
    signal: AbortSignal,
  ): Promise<{ status: number; response?: Response }> {
    const { local, log } = this.#o;
    const response = await this.#o.transfer.get(request, signal);
    if (!response.ok) return { status: response.status, response };
    // The official extractor's test: the remote archive is not newer than the local copy.
    const remoteTime = Date.parse(response.headers.get("last-modified") ?? "");
    const localTime = await local.modified(key);
    if (localTime !== null && !Number.isNaN(remoteTime) && remoteTime <= localTime.getTime()) {
      await response.body?.cancel();
      log(`${ARCHIVE_NAME} is up to date`);
      return { status: response.status };
    }
    // The official line: the name without its extension, the ETag as a log field.
    const etag = response.headers.get("etag");
    const line = `Downloading cache from ${displayUrl(request)}`;
    log(etag ? `${line.padEnd(50)}  etag=${etag}` : line);
    const size = Number(response.headers.get("content-length") ?? NaN);
    if (response.body === null) throw new Error("the answer has no body");
    const meter = this.#meter("Downloading cache", Number.isNaN(size) ? 0 : size);
    let stored: number;
    try {
      stored = await local.save(
        key,
        key,
        meter ? response.body.pipeThrough(meter.counter()) : response.body,
      );
    } finally {
      meter?.done();
    }
    if (!Number.isNaN(size) && stored !== size) {
      throw new Error(`got ${stored} of ${size} bytes`);
    }
    return { status: response.status };
  }

  modified(key: string): Promise<Date | null> {
    return this.#o.local.modified(key);
  }

  /**
   * Stores the archive locally and uploads it. The upload URL is asked for
   * as the archive starts (the poller's signing round trip overlaps writing
   * it), and asked for again once the archive is written if that first answer
   * was an error (the poller could not sign, or the executor process's 60 s
   * wait for its answer ran out while a long archive kept the process busy):
   * an early failure does not cost a long archive its upload. The upload
   * reads the written archive while the local store commits it (`alongside`).
   */
  async save(
    key: string,
    humanKey: string,
    body: CacheBody,
    options: CacheSaveOptions = {},
  ): Promise<number> {
    const { local, maxUploadedArchiveSize: limit } = this.#o;
    const url = this.#o.urls.presign(key, "PUT");
    // Awaited only once the archive is written, if it is to be uploaded.
    url.catch(() => {});
    return await local.save(key, humanKey, body, {
      alongside: async (archive) => {
        await this.#upload(archive, { key, url, limit });
        await options.alongside?.(archive);
      },
    });
  }

  async #upload(
    archive: RandomAccessReader,
    { key, url, limit }: { key: string; url: Promise<PresignedRequest>; limit: number },
  ): Promise<void> {
    const { log } = this.#o;
    // As the official runner, which passes the helper only a limit above 0.
    if (limit > 0 && archive.size > limit) {
      // The official helper's words.
      log(
        `Cache archive size (${archive.size}) is too big (Limit is set to ${limit}). Cache will be stored only locally.`,
      );
      return;
    }
    let request: PresignedRequest;
    try {
      request = await url.catch(() => this.#o.urls.presign(key, "PUT"));
    } catch (err) {
      // As the official archiver without a URL: the cache is stored, locally.
      log(`WARNING: No URL for the distributed cache: ${(err as Error).message}`);
      log(
        "No URL provided, cache will not be uploaded to shared cache server. Cache will be stored only locally.",
      );
      return;
    }
    log(`Uploading ${ARCHIVE_NAME} to ${displayUrl(request)}`);
    const answer = await this.#retry(async (signal) => {
      const meter = this.#meter("Uploading cache", archive.size);
      try {
        const body = meter ? meteredReader(archive, meter) : archive;
        const result = await this.#o.transfer.put(request, body, signal);
        return { status: result.status, headers: result.headers, text: result.text };
      } finally {
        meter?.done();
      }
    }).catch((err) => {
      throw transferError("upload", err);
    });
    if (answer.status < 200 || answer.status > 299) {
      const problem = parseStorageError(answer.text, answer.headers);
      const hint = answer.status === 400 && SSE_REFUSALS.has(problem.code) &&
          Object.keys(request.headers).some((h) =>
            h.toLowerCase() === "x-amz-server-side-encryption"
          )
        ? "the server refused the ServerSideEncryption of [runners.cache.s3]"
        : hintFor(problem);
      throw new Error(`Cannot upload cache: ${describe(answer.status, problem, hint)}`);
    }
  }

  /** The transfer meter, when the job asked for one (TRANSFER_METER_FREQUENCY). */
  #meter(label: string, total: number): TransferMeter | null {
    const progress = this.#o.progress;
    return progress ? new TransferMeter(label, total, { progress }) : null;
  }

  /** `attempt` under the job's signal, aborted with an Error naming the limit when it runs out. */
  async #timed<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = this.#o.requestTimeoutMs ?? DEFAULT_CACHE_REQUEST_TIMEOUT_MS;
    if (ms <= 0) return await attempt(this.#o.signal);
    const timeout = new AbortController();
    // A long timer: CACHE_REQUEST_TIMEOUT is minutes, and 35792 or more is
    // past what one timer holds (it would fire at once).
    const timer = setLongTimeout(
      () => timeout.abort(new Error(`no answer within ${ms / 1000} s (CACHE_REQUEST_TIMEOUT)`)),
      ms,
    );
    try {
      return await attempt(AbortSignal.any([this.#o.signal, timeout.signal]));
    } catch (err) {
      // node:http (an S3 or GCS upload) rejects with its own AbortError.
      if (timeout.signal.aborted && !this.#o.signal.aborted) throw timeout.signal.reason;
      throw err;
    } finally {
      timer.clear();
    }
  }

  /**
   * Runs `attempt` again after a network error or a 5xx answer, up to
   * ATTEMPTS times; each attempt's signal is the job's, cut after the
   * request timeout.
   */
  async #retry<T extends { status: number }>(
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    let last: unknown;
    for (let i = 1; i <= ATTEMPTS; i++) {
      this.#o.signal.throwIfAborted();
      try {
        const result = await this.#timed(attempt);
        if (result.status < 500 || i === ATTEMPTS) return result;
        if ("response" in result && result.response instanceof Response) {
          await result.response.body?.cancel();
        }
        last = new Error(`the server answered ${result.status}`);
      } catch (err) {
        this.#o.signal.throwIfAborted();
        if (i === ATTEMPTS) throw err;
        last = err;
      }
      this.#o.log(
        `WARNING: Retrying cache transfer (${i}/${ATTEMPTS - 1}): ${reasonOf(last)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, this.#o.retryDelayMs ?? 1000));
    }
    throw last;
  }
}

/** A network failure (TLS, refused connection) after the retries, saying which transfer failed. */
function transferError(what: "download" | "upload", err: unknown): Error {
  if (err instanceof DOMException && err.name === "AbortError") return err;
  const reason = reasonOf(err);
  // rustls (fetch) and OpenSSL (node:http) on an answer that is not TLS.
  const hint = /InvalidContentType|wrong version number/.test(reason)
    ? " (the server does not answer in TLS: an S3 server over plain HTTP needs Insecure = true in [runners.cache.s3])"
    : "";
  return new Error(`Cannot ${what} cache: ${reason}${hint}`, { cause: err });
}

/**
 * Why a transfer failed, URLs without their query: fetch says only "fetch
 * failed" and keeps the reason (refused, TLS, DNS) in its cause, whose
 * message holds the signed URL.
 */
function reasonOf(err: unknown): string {
  const { message, cause } = err as Error;
  const detail = cause instanceof Error && cause.message !== "" && !message.includes(cause.message)
    ? `${message}: ${cause.message}`
    : message;
  return detail.replace(/https?:\/\/[^\s)]+/g, (url) => {
    try {
      return cleanUrl(url);
    } catch {
      return url.replace(/\?.*$/, "");
    }
  });
}

/** How the job log names the object: the official runner's words for it. */
function displayUrl(request: PresignedRequest): string {
  return request.displayUrl ?? cleanUrl(request.url);
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

/**
 * The `<Code>` and `<Message>` of an S3, GCS or Azure XML error body (same
 * shape), or Azure's `x-ms-error-code` header when there is no body (HEAD).
 * Only the message's first line: Azure appends `RequestId:` and `Time:` lines.
 */
export function parseStorageError(body: string, headers?: Headers): StorageError {
  const field = (name: string) =>
    new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1]?.trim() ?? "";
  return {
    code: field("Code") || (headers?.get("x-ms-error-code") ?? ""),
    message: field("Message").split("\n")[0]?.trim() ?? "",
  };
}

function describe(
  status: number,
  problem: StorageError,
  hint: string | undefined = hintFor(problem),
): string {
  const detail = [problem.code, problem.message].filter((s) => s !== "").join(": ");
  return `the server answered ${status}${detail ? ` ${detail}` : ""}${hint ? ` (${hint})` : ""}`;
}

/**
 * What `problem` means for a runner operator. AWS answers a URL signed for
 * another region than the bucket's (BucketLocation unset: us-east-1; the
 * official runner asks AWS for the bucket's region) with one of these codes,
 * naming the region it expected.
 */
function hintFor(problem: StorageError): string | undefined {
  const isWrongRegion = problem.code === "PermanentRedirect" ||
    (/^Authorization(QueryParametersError|HeaderMalformed)$/.test(problem.code) &&
      /region/i.test(problem.message));
  return isWrongRegion
    ? "the bucket is in another region: set BucketLocation in [runners.cache.s3] to it"
    : HINTS[problem.code];
}

/** What the usual storage error codes mean for a runner operator. */
const HINTS: Record<string, string> = {
  NoSuchBucket: "the bucket in [runners.cache] does not exist",
  ContainerNotFound: "the container in [runners.cache.azure] does not exist",
  InvalidAccessKeyId: "check the access key in [runners.cache]",
  SignatureDoesNotMatch: "check the secret key in [runners.cache]",
  AuthenticationFailed: "check the account key in [runners.cache.azure]",
  // Azure's answer when the account refuses the SAS (Azurite's for a bad signature too).
  AuthorizationFailure:
    "check the account key in [runners.cache.azure] and that the account accepts this access",
  RequestTimeTooSkewed: "the runner's clock differs from the server's: sync the clock",
  AccessDenied: "the credentials may not access this object",
};

/**
 * 400 codes of an upload that asked for server-side encryption the server
 * will not do: radosgw without SSE set up answers "InvalidRequest" with no
 * message, AWS "InvalidArgument" for a mode or key it does not take.
 */
const SSE_REFUSALS = new Set(["InvalidRequest", "InvalidArgument", "NotImplemented"]);

/** `reader` counting what is read into `meter`. */
function meteredReader(reader: RandomAccessReader, meter: TransferMeter): RandomAccessReader {
  return {
    size: reader.size,
    async read(offset: number, length: number) {
      const bytes = await reader.read(offset, length);
      meter.add(bytes.length);
      return bytes;
    },
    ...(reader.readInto
      ? {
        readInto: async (offset: number, into: Uint8Array) => {
          await reader.readInto!(offset, into);
          meter.add(into.length);
        },
      }
      : {}),
    close: () => reader.close(),
  };
}
