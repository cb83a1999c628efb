/**
 * S3 pre-signed URLs (AWS Signature Version 4, query form, UNSIGNED-PAYLOAD)
 * signed with the `aws4` library. Credentials: the static AccessKey and
 * SecretKey (and SessionToken), or with `AuthenticationType = "iam"` the
 * standard environment variables, then the EC2 instance role (IMDSv2).
 */
import aws4 from "aws4";
import type { S3CacheConfig } from "../config/runner_config.ts";
import type {
  CacheUrlMethod,
  CacheUrlSigner,
  PresignedRequest,
  SignerContext,
} from "./cache_url_signer.ts";
import { s3ObjectUrl, s3Region } from "./s3_endpoint.ts";

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

export class S3UrlSigner implements CacheUrlSigner {
  readonly #s3: S3CacheConfig;
  readonly #context: SignerContext;
  #instanceCredentials: Credentials | null = null;

  constructor(s3: S3CacheConfig, context: SignerContext) {
    this.#s3 = s3;
    this.#context = context;
    const type = authenticationType(s3);
    if (type !== "access-key" && type !== "iam") {
      throw new RangeError(
        `[runners.cache.s3] AuthenticationType ${
          JSON.stringify(s3.authenticationType)
        } is not supported: use "access-key" or "iam"`,
      );
    }
    if (type === "access-key" && (s3.accessKey === "" || s3.secretKey === "")) {
      throw new RangeError(
        '[runners.cache.s3] AccessKey and SecretKey are required with AuthenticationType "access-key"',
      );
    }
    sseHeaders(s3); // fails early for an unknown ServerSideEncryption
  }

  async presign(
    objectName: string,
    method: CacheUrlMethod,
    options: { expiresSeconds: number },
  ): Promise<PresignedRequest> {
    const url = s3ObjectUrl(this.#s3, objectName);
    const credentials = await this.#credentials();
    const expires = Math.max(1, Math.min(MAX_EXPIRY_SECONDS, Math.round(options.expiresSeconds)));
    const headers = method === "PUT" ? sseHeaders(this.#s3) : {};
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

  async #credentials(): Promise<Credentials> {
    const s3 = this.#s3;
    if (authenticationType(s3) === "access-key") {
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
    if (cached && cached.expiresAt !== null && cached.expiresAt - Date.now() > 5 * 60_000) {
      return cached;
    }
    this.#instanceCredentials = await instanceRoleCredentials(this.#context.fetch ?? fetch);
    return this.#instanceCredentials;
  }
}

/** "" means access-key when keys are set, else iam (the official default). */
function authenticationType(s3: S3CacheConfig): string {
  if (s3.authenticationType !== "") return s3.authenticationType.toLowerCase();
  return s3.accessKey !== "" && s3.secretKey !== "" ? "access-key" : "iam";
}

/** Headers a PUT must carry for `ServerSideEncryption` (signed, so the holder must send them). */
export function sseHeaders(s3: S3CacheConfig): Record<string, string> {
  const keyId = s3.serverSideEncryptionKeyId;
  switch (s3.serverSideEncryption.toUpperCase()) {
    case "":
      return {};
    case "S3":
    case "AES256":
      return { "x-amz-server-side-encryption": "AES256" };
    case "KMS":
    case "AWS:KMS":
      return {
        "x-amz-server-side-encryption": "aws:kms",
        ...(keyId ? { "x-amz-server-side-encryption-aws-kms-key-id": keyId } : {}),
      };
    case "DSSE-KMS":
    case "AWS:KMS:DSSE":
      return {
        "x-amz-server-side-encryption": "aws:kms:dsse",
        ...(keyId ? { "x-amz-server-side-encryption-aws-kms-key-id": keyId } : {}),
      };
    default:
      throw new RangeError(
        `[runners.cache.s3] ServerSideEncryption ${
          JSON.stringify(s3.serverSideEncryption)
        } is not supported: use "S3", "KMS" or "DSSE-KMS"`,
      );
  }
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
    const headers = { "X-aws-ec2-metadata-token": token };
    const base = `${IMDS}/latest/meta-data/iam/security-credentials/`;
    const role = (await (await fetcher(base, { headers, signal })).text()).split("\n")[0]?.trim();
    if (!role) throw new Error("the instance has no IAM role");
    const doc = await (await fetcher(base + role, { headers, signal })).json() as Record<
      string,
      string
    >;
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
        (err as Error).message
      }`,
      { cause: err },
    );
  }
}
