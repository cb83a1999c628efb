/**
 * S3 pre-signed URLs (AWS Signature Version 4, query form, UNSIGNED-PAYLOAD)
 * signed with the `aws4` library. Credentials: the static AccessKey and
 * SecretKey (and SessionToken), or with `AuthenticationType = "iam"` the
 * standard environment variables, then the EC2 instance role (IMDSv2).
 *
 * With `RoleARN` (or the deprecated `UploadRoleARN`, for uploads) those
 * credentials only call STS AssumeRole, as the official runner does: one
 * hour of temporary credentials whose session policy allows one action
 * (`s3:GetObject` or `s3:PutObject`) on one object, kept per role, object
 * and direction while they have 55 minutes left (unless
 * `DisableAssumeRoleCredentialsCaching`), at most `AssumeRoleMaxConcurrency`
 * calls at a time. The official runner hands such credentials to its helper;
 * here they sign the URL and stay in the poller.
 */
import aws4 from "aws4";
import type { S3CacheConfig } from "../config/runner_config.ts";
import {
  type CacheUrlMethod,
  type CacheUrlSigner,
  metadataHeaders,
  type PresignedRequest,
  type PresignOptions,
  type SignerContext,
} from "./cache_url_signer.ts";
import { s3ObjectUrl, s3Partition, s3Region, s3StsUrl } from "./s3_endpoint.ts";
import { S3_ENCRYPTION_MODES, s3AuthenticationType, s3SettingsProblem } from "./s3_settings.ts";

/** S3 refuses pre-signed URLs that live longer than a week. */
const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working; null for static ones. */
  expiresAt: number | null;
}

const IMDS = "http://169.254.169.254";

/** The official session length; credentials are reused while 55 minutes remain. */
const ROLE_SESSION_SECONDS = 3600;
const ROLE_MIN_VALIDITY_MS = 55 * 60_000;
const DEFAULT_ASSUME_ROLE_CONCURRENCY = 5;

export class S3UrlSigner implements CacheUrlSigner {
  readonly #s3: S3CacheConfig;
  readonly #context: SignerContext;
  #instanceCredentials: Credentials | null = null;
  readonly #roleCredentials = new Map<string, Promise<Credentials>>();
  readonly #assumeRoleSlots: AsyncSemaphore | null;

  constructor(s3: S3CacheConfig, context: SignerContext) {
    this.#s3 = s3;
    this.#context = context;
    const problem = s3SettingsProblem(s3);
    if (problem !== null) throw new RangeError(`[runners.cache.s3] ${problem.message}`);
    const limit = s3.assumeRoleMaxConcurrency;
    this.#assumeRoleSlots = limit < 0
      ? null
      : new AsyncSemaphore(limit === 0 ? DEFAULT_ASSUME_ROLE_CONCURRENCY : limit);
  }

  async presign(
    objectName: string,
    method: CacheUrlMethod,
    options: PresignOptions,
  ): Promise<PresignedRequest> {
    const url = s3ObjectUrl(this.#s3, objectName);
    const role = this.#s3.roleArn || (method === "PUT" ? this.#s3.uploadRoleArn : "");
    const credentials = role
      ? await this.#assumedRole(role, objectName, method)
      : await this.#credentials();
    let expires = Math.max(1, Math.min(MAX_EXPIRY_SECONDS, Math.round(options.expiresSeconds)));
    // A URL signed with temporary credentials dies with them.
    if (credentials.expiresAt !== null) {
      const left = Math.floor(
        (credentials.expiresAt - (this.#context.now?.() ?? new Date()).getTime()) / 1000,
      );
      expires = Math.max(1, Math.min(expires, left));
    }
    const headers = method === "PUT"
      ? { ...sseHeaders(this.#s3), ...metadataHeaders("x-amz-meta-", options.metadata) }
      : {};
    const now = this.#context.now?.() ?? new Date();
    // aws4 takes the signing time from X-Amz-Date when the query has it.
    const date = now.toISOString().replace(/[:-]|\.\d{3}/g, "");
    const signed = aws4.sign({
      host: url.host,
      path: `${url.pathname}?X-Amz-Expires=${expires}&X-Amz-Date=${date}`,
      method,
      service: "s3",
      region: s3Region(this.#s3),
      signQuery: true,
      headers: { ...headers },
    }, {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    });
    return { url: `${url.protocol}//${url.host}${signed.path}`, headers };
  }

  /** Temporary credentials for `role`, allowed one action on one object. */
  #assumedRole(role: string, objectName: string, method: CacheUrlMethod): Promise<Credentials> {
    const id = [role, this.#s3.bucketName, objectName, method].join("\0");
    const now = () => (this.#context.now?.() ?? new Date()).getTime();
    const cached = this.#s3.disableAssumeRoleCredentialsCaching
      ? undefined
      : this.#roleCredentials.get(id);
    if (cached) {
      return cached.then((c) =>
        c.expiresAt !== null && c.expiresAt - now() > ROLE_MIN_VALIDITY_MS
          ? c
          : (this.#roleCredentials.delete(id), this.#assumedRole(role, objectName, method))
      );
    }
    const fresh = this.#assumeRole(role, objectName, method);
    if (!this.#s3.disableAssumeRoleCredentialsCaching) {
      this.#roleCredentials.set(id, fresh);
      fresh.catch(() => this.#roleCredentials.delete(id));
    }
    return fresh;
  }

  async #assumeRole(
    role: string,
    objectName: string,
    method: CacheUrlMethod,
  ): Promise<Credentials> {
    const s3 = this.#s3;
    const statements: Record<string, unknown>[] = [{
      Effect: "Allow",
      Action: [method === "PUT" ? "s3:PutObject" : "s3:GetObject"],
      Resource: `arn:${s3Partition(s3)}:s3:::${s3.bucketName}/${objectName}`,
    }];
    const sse = sseHeaders(s3)["x-amz-server-side-encryption"] ?? "";
    if (sse.startsWith("aws:kms") && s3.serverSideEncryptionKeyId) {
      statements.push({
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: s3.serverSideEncryptionKeyId,
      });
    }
    const session = Array.from(crypto.getRandomValues(new Uint8Array(4)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const body = new URLSearchParams({
      Action: "AssumeRole",
      Version: "2011-06-15",
      RoleArn: role,
      RoleSessionName: `gitlab-runner-cache-upload-${session}`,
      DurationSeconds: String(ROLE_SESSION_SECONDS),
      Policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
    }).toString();
    const base = await this.#credentials();
    const sts = new URL(s3StsUrl(s3));
    const signed = aws4.sign({
      host: sts.host,
      path: sts.pathname,
      method: "POST",
      service: "sts",
      region: s3Region(s3),
      body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }, {
      accessKeyId: base.accessKeyId,
      secretAccessKey: base.secretAccessKey,
      ...(base.sessionToken ? { sessionToken: base.sessionToken } : {}),
    });
    const release = await this.#assumeRoleSlots?.acquire();
    let status: number;
    let text: string;
    try {
      const answer = await (this.#context.fetch ?? fetch)(sts.href, {
        method: "POST",
        headers: signed.headers as Record<string, string>,
        body,
        signal: AbortSignal.timeout(30_000),
      });
      status = answer.status;
      text = await answer.text();
    } catch (err) {
      throw new Error(`Cannot assume role "${role}" at ${sts.origin}: ${withCause(err)}`, {
        cause: err,
      });
    } finally {
      release?.();
    }
    const field = (name: string) =>
      new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1]?.trim() ?? "";
    if (status !== 200 || !field("AccessKeyId")) {
      const detail = [field("Code"), field("Message")].filter((s) => s !== "").join(": ");
      throw new Error(
        `Cannot assume role "${role}" at ${sts.origin}: STS answered ${status}${
          detail ? ` ${detail}` : ""
        }`,
      );
    }
    const expiration = Date.parse(field("Expiration"));
    return {
      accessKeyId: field("AccessKeyId"),
      secretAccessKey: field("SecretAccessKey"),
      sessionToken: field("SessionToken"),
      expiresAt: Number.isNaN(expiration) ? Date.now() + ROLE_SESSION_SECONDS * 1000 : expiration,
    };
  }

  async #credentials(): Promise<Credentials> {
    const s3 = this.#s3;
    if (s3AuthenticationType(s3) === "access-key") {
      return {
        accessKeyId: s3.accessKey,
        secretAccessKey: s3.secretKey,
        ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}),
        expiresAt: null,
      };
    }
    const env = this.#context.env;
    const id = env("AWS_ACCESS_KEY_ID");
    const secret = env("AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
      const token = env("AWS_SESSION_TOKEN");
      return {
        accessKeyId: id,
        secretAccessKey: secret,
        ...(token ? { sessionToken: token } : {}),
        expiresAt: null,
      };
    }
    const cached = this.#instanceCredentials;
    const now = (this.#context.now?.() ?? new Date()).getTime();
    if (cached && cached.expiresAt !== null && cached.expiresAt - now > 5 * 60_000) {
      return cached;
    }
    this.#instanceCredentials = await instanceRoleCredentials(this.#context.fetch ?? fetch);
    return this.#instanceCredentials;
  }
}

/** Headers a PUT must carry for `ServerSideEncryption` (signed, so the holder must send them). */
export function sseHeaders(s3: S3CacheConfig): Record<string, string> {
  const name = s3.serverSideEncryption.toUpperCase();
  const mode = Object.hasOwn(S3_ENCRYPTION_MODES, name) ? S3_ENCRYPTION_MODES[name] : undefined;
  if (mode === undefined) {
    throw new RangeError(
      `[runners.cache.s3] ServerSideEncryption ${
        JSON.stringify(s3.serverSideEncryption)
      } is not supported: use "S3", "KMS" or "DSSE-KMS"`,
    );
  }
  if (mode === "") return {};
  const keyId = s3.serverSideEncryptionKeyId;
  return {
    "x-amz-server-side-encryption": mode,
    ...(mode !== "AES256" && keyId ? { "x-amz-server-side-encryption-aws-kms-key-id": keyId } : {}),
  };
}

/**
 * An error's message with its cause's: fetch says only "fetch failed" and
 * keeps the reason (refused, TLS, DNS) in its cause. The URLs here (STS,
 * the metadata service) carry no secret.
 */
function withCause(err: unknown): string {
  const { message, cause } = err as Error;
  return cause instanceof Error && cause.message !== "" && !message.includes(cause.message)
    ? `${message}: ${cause.message}`
    : message;
}

/** EC2 instance-role credentials through IMDSv2 (token first, then the role's document). */
async function instanceRoleCredentials(fetcher: typeof fetch): Promise<Credentials> {
  const signal = AbortSignal.timeout(2000);
  try {
    const tokenAnswer = await fetcher(`${IMDS}/latest/api/token`, {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "21600" },
      signal,
    });
    const token = await tokenAnswer.text();
    if (!tokenAnswer.ok) {
      throw new Error(`the metadata service answered ${tokenAnswer.status} to the token request`);
    }
    const headers = { "X-aws-ec2-metadata-token": token };
    const base = `${IMDS}/latest/meta-data/iam/security-credentials/`;
    const roles = await fetcher(base, { headers, signal });
    const roleText = await roles.text();
    // IMDS answers 404 for the role list when no instance profile is attached.
    if (roles.status === 404) throw new Error("the instance has no IAM role");
    if (!roles.ok) throw new Error(`the metadata service answered ${roles.status} for the role`);
    const role = roleText.split("\n")[0]?.trim();
    if (!role) throw new Error("the instance has no IAM role");
    const docAnswer = await fetcher(base + role, { headers, signal });
    if (!docAnswer.ok) {
      await docAnswer.body?.cancel();
      throw new Error(
        `the metadata service answered ${docAnswer.status} for the credentials of role "${role}"`,
      );
    }
    const doc = await docAnswer.json() as Record<string, string>;
    if (!doc["AccessKeyId"] || !doc["SecretAccessKey"]) {
      throw new Error(`the role's credentials document has no keys`);
    }
    return {
      accessKeyId: doc["AccessKeyId"],
      secretAccessKey: doc["SecretAccessKey"],
      ...(doc["Token"] ? { sessionToken: doc["Token"] } : {}),
      expiresAt: doc["Expiration"] ? Date.parse(doc["Expiration"]) : null,
    };
  } catch (err) {
    throw new Error(
      `No S3 credentials for AuthenticationType "iam": AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are unset and the instance role is unavailable: ${
        withCause(err)
      }`,
      { cause: err },
    );
  }
}

/** At most `size` holders at a time; `acquire` resolves with the release. */
class AsyncSemaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}
