/**
 * Google Cloud Storage pre-signed URLs, V4 signing (GOOG4-RSA-SHA256) as
 * Google's client libraries sign them: path-style
 * `https://storage.<universe domain>/<bucket>/<object>`, UNSIGNED-PAYLOAD,
 * signed with the service account's RSA key through node:crypto. Checked
 * against Google's published V4 signing examples (gcs_url_signer_test.ts).
 *
 * Credentials: `CredentialsFile` (a service-account JSON key) wins over
 * `AccessID` + `PrivateKey`, as in the official runner.
 */
import { createHash, createPrivateKey, createSign } from "node:crypto";
import type { GcsCacheConfig } from "../config/runner_config.ts";
import { gcsStorageHost } from "./gcs_endpoint.ts";
import { gcsSettingsProblem } from "./cache_settings.ts";
import {
  type CacheUrlMethod,
  type CacheUrlSigner,
  metadataHeaders,
  type PresignedRequest,
  type PresignOptions,
  type SignerContext,
} from "./cache_url_signer.ts";

/** V4 signed URLs live at most a week. */
const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;

export interface GcsCredentials {
  clientEmail: string;
  privateKey: string;
}

export interface GcsSignOptions {
  bucket: string;
  objectName: string;
  method: string;
  expiresSeconds: number;
  now: Date;
  /** Default `storage.googleapis.com`. */
  host?: string;
  /** Extra headers to sign (the holder must send them). */
  headers?: Record<string, string>;
}

/** Encodes as RFC 3986 unreserved-or-escaped, like Google's canonical form. */
function encode(value: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? encoded.replaceAll("%2F", "/") : encoded;
}

/** A V4 signed URL for one request; pure apart from the RSA signature. */
export function signGcsUrl(credentials: GcsCredentials, o: GcsSignOptions): string {
  const host = o.host ?? "storage.googleapis.com";
  const datetime = o.now.toISOString().replace(/[:-]|\.\d{3}/g, "");
  const date = datetime.slice(0, 8);
  const scope = `${date}/auto/storage/goog4_request`;
  const headers: Record<string, string> = { host };
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    headers[k.toLowerCase()] = v.trim().replace(/\s+/g, " ");
  }
  const headerNames = Object.keys(headers).sort();
  const signedHeaders = headerNames.join(";");
  const query: Record<string, string> = {
    "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
    "X-Goog-Credential": `${credentials.clientEmail}/${scope}`,
    "X-Goog-Date": datetime,
    "X-Goog-Expires": String(o.expiresSeconds),
    "X-Goog-SignedHeaders": signedHeaders,
  };
  const canonicalQuery = Object.keys(query).sort()
    .map((k) => `${encode(k, false)}=${encode(query[k]!, false)}`).join("&");
  const path = o.objectName === "" ? `/${o.bucket}` : `/${o.bucket}/${encode(o.objectName, true)}`;
  const canonicalRequest = [
    o.method,
    path,
    canonicalQuery,
    headerNames.map((k) => `${k}:${headers[k]}\n`).join(""),
    signedHeaders,
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const stringToSign = [
    "GOOG4-RSA-SHA256",
    datetime,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const signature = createSign("RSA-SHA256").update(stringToSign).sign(
    credentials.privateKey,
    "hex",
  );
  return `https://${host}${path}?${canonicalQuery}&X-Goog-Signature=${signature}`;
}

export class GcsUrlSigner implements CacheUrlSigner {
  readonly #gcs: GcsCacheConfig;
  readonly #context: SignerContext;
  #credentials: Promise<GcsCredentials> | null = null;

  constructor(gcs: GcsCacheConfig, context: SignerContext) {
    const problem = gcsSettingsProblem(gcs);
    if (problem !== null) throw new RangeError(problem.message);
    this.#gcs = gcs;
    this.#context = context;
  }

  async presign(
    objectName: string,
    method: CacheUrlMethod,
    options: PresignOptions,
  ): Promise<PresignedRequest> {
    this.#credentials ??= this.#load();
    const credentials = await this.#credentials;
    // The official runner signs uploads for this content type; the PUT must send it.
    const headers: Record<string, string> = method === "PUT"
      ? {
        "Content-Type": "application/octet-stream",
        ...metadataHeaders("x-goog-meta-", options.metadata),
      }
      : {};
    const url = signGcsUrl(credentials, {
      bucket: this.#gcs.bucketName,
      objectName,
      method,
      expiresSeconds: Math.max(1, Math.min(MAX_EXPIRY_SECONDS, Math.round(options.expiresSeconds))),
      now: this.#context.now?.() ?? new Date(),
      host: gcsStorageHost(this.#gcs),
      headers,
    });
    return { url, headers };
  }

  async #load(): Promise<GcsCredentials> {
    const gcs = this.#gcs;
    if (gcs.credentialsFile === "") {
      checkPrivateKey(gcs.privateKey, "[runners.cache.gcs] PrivateKey");
      return { clientEmail: gcs.accessId, privateKey: gcs.privateKey };
    }
    const file = `[runners.cache.gcs] CredentialsFile "${gcs.credentialsFile}"`;
    let key: { client_email?: unknown; private_key?: unknown };
    try {
      key = JSON.parse(await Deno.readTextFile(gcs.credentialsFile));
    } catch (err) {
      this.#credentials = null;
      if (err instanceof SyntaxError) {
        // V8 quotes the file's first characters, which may be key material.
        const at = /at position .*$/.exec(err.message)?.[0].replace(/ \(/, ", ").replace(/\)$/, "");
        throw new Error(`${file} is not a JSON key file${at ? ` (${at})` : ""}`);
      }
      throw new Error(`Cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof key.client_email !== "string" || typeof key.private_key !== "string") {
      this.#credentials = null;
      throw new Error(`${file} has no client_email and private_key`);
    }
    try {
      checkPrivateKey(key.private_key, `${file}: private_key`);
    } catch (err) {
      this.#credentials = null;
      throw err;
    }
    return { clientEmail: key.client_email, privateKey: key.private_key };
  }
}

/** Refuses, naming `what`, a key node:crypto cannot sign with (its error names no key). */
function checkPrivateKey(pem: string, what: string): void {
  try {
    createPrivateKey(pem);
  } catch {
    throw new RangeError(`${what} is not a PEM private key`);
  }
}
