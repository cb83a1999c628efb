/**
 * `[runners.cache.s3]` settings an S3 signer cannot be made with: an unknown
 * AuthenticationType or ServerSideEncryption, or "access-key" without the
 * keys. The signer refuses them (s3_url_signer.ts) and config loading names
 * them once, at load and in lint. Pure and without imports: the poller loads it.
 */
import type { S3CacheConfig } from "../config/runner_config.ts";

/** AuthenticationType in lower case; "" means access-key when both keys are set, else iam. */
export function s3AuthenticationType(s3: S3CacheConfig): string {
  if (s3.authenticationType !== "") return s3.authenticationType.toLowerCase();
  return s3.accessKey !== "" && s3.secretKey !== "" ? "access-key" : "iam";
}

/** `ServerSideEncryption` (any case) -> the x-amz-server-side-encryption value; "": none. */
export const S3_ENCRYPTION_MODES: Readonly<Record<string, string>> = {
  "": "",
  "S3": "AES256",
  "AES256": "AES256",
  "KMS": "aws:kms",
  "AWS:KMS": "aws:kms",
  "DSSE-KMS": "aws:kms:dsse",
  "AWS:KMS:DSSE": "aws:kms:dsse",
};

/** The first setting of `s3` no signer can be made with: its key and why, else null. */
export function s3SettingsProblem(s3: S3CacheConfig): { key: string; message: string } | null {
  const type = s3AuthenticationType(s3);
  if (type !== "access-key" && type !== "iam") {
    return {
      key: "AuthenticationType",
      message: `AuthenticationType ${
        JSON.stringify(s3.authenticationType)
      } is not supported: use "access-key" or "iam"`,
    };
  }
  if (type === "access-key" && (s3.accessKey === "" || s3.secretKey === "")) {
    return {
      key: "AuthenticationType",
      message: 'AccessKey and SecretKey are required with AuthenticationType "access-key"',
    };
  }
  if (!Object.hasOwn(S3_ENCRYPTION_MODES, s3.serverSideEncryption.toUpperCase())) {
    return {
      key: "ServerSideEncryption",
      message: `ServerSideEncryption ${
        JSON.stringify(s3.serverSideEncryption)
      } is not supported: use "S3", "KMS" or "DSSE-KMS"`,
    };
  }
  return null;
}
