/**
 * `[runners.cache]` settings that are set but that nothing reads, given the
 * rest of the section: config loading names each once, at load and in lint,
 * so that a setting is acted on or said to be ignored (the official runner
 * ignores the same ones without a word). Pure: the poller loads it.
 */
import type { RunnerCacheConfig, S3CacheConfig } from "../config/runner_config.ts";
import { hasCustomServerAddress } from "./s3_endpoint.ts";
import { S3_ENCRYPTION_MODES, s3AuthenticationType } from "./s3_settings.ts";

export type CacheSection = "" | "s3" | "gcs" | "azure";

/** A set key nothing reads: where it is (`""`: `[runners.cache]` itself) and why. */
export interface UnusedCacheSetting {
  section: CacheSection;
  /** The official TOML spelling. */
  key: string;
  /** Why it is not used, a clause after "is not used: ". */
  why: string;
}

/** The TOML key and config field of each backend section, the main key first. */
const SECTION_KEYS = {
  s3: [
    ["BucketName", "bucketName"],
    ["ServerAddress", "serverAddress"],
    ["AccessKey", "accessKey"],
    ["SecretKey", "secretKey"],
    ["SessionToken", "sessionToken"],
    ["BucketLocation", "bucketLocation"],
    ["Insecure", "insecure"],
    ["AuthenticationType", "authenticationType"],
    ["ServerSideEncryption", "serverSideEncryption"],
    ["ServerSideEncryptionKeyID", "serverSideEncryptionKeyId"],
    ["DualStack", "dualStack"],
    ["PathStyle", "pathStyle"],
    ["Accelerate", "accelerate"],
    ["RoleARN", "roleArn"],
    ["UploadRoleARN", "uploadRoleArn"],
    ["AssumeRoleMaxConcurrency", "assumeRoleMaxConcurrency"],
    ["DisableAssumeRoleCredentialsCaching", "disableAssumeRoleCredentialsCaching"],
  ],
  gcs: [
    ["BucketName", "bucketName"],
    ["CredentialsFile", "credentialsFile"],
    ["AccessID", "accessId"],
    ["PrivateKey", "privateKey"],
    ["UniverseDomain", "universeDomain"],
  ],
  azure: [
    ["ContainerName", "containerName"],
    ["AccountName", "accountName"],
    ["AccountKey", "accountKey"],
    ["StorageDomain", "storageDomain"],
  ],
} as const;

const LOCAL_ONLY = "so jobs keep their cache in cache_dir on this host";

/**
 * The settings of `cache` that `backend` (the one `Type` names, `""` for
 * none) does not read; `defaults` is an unconfigured `[runners.cache]`, to
 * tell a set key from the empty sections `register` writes.
 */
export function unusedCacheSettings(
  cache: RunnerCacheConfig,
  backend: CacheSection,
  defaults: RunnerCacheConfig,
): UnusedCacheSetting[] {
  const unused: UnusedCacheSetting[] = [];
  for (const section of ["s3", "gcs", "azure"] as const) {
    if (section === backend) continue;
    // One warning per section, naming its main key when set, else its first set key.
    const values = cache[section] as unknown as Record<string, unknown>;
    const base = defaults[section] as unknown as Record<string, unknown>;
    const set = SECTION_KEYS[section].find(([, field]) => values[field] !== base[field]);
    if (set === undefined) continue;
    unused.push({
      section,
      key: set[0],
      why: backend === ""
        ? `[runners.cache] Type is not set, ${LOCAL_ONLY} (set Type = "${section}" to use it)`
        : `[runners.cache] Type is "${cache.type}", which does not read [runners.cache.${section}]`,
    });
  }
  if (backend === "") {
    // Path and Shared only name objects in the bucket; the limit is on uploads.
    const why = `[runners.cache] Type is not set, ${LOCAL_ONLY}`;
    if (cache.path !== "") unused.push({ section: "", key: "Path", why });
    if (cache.shared) unused.push({ section: "", key: "Shared", why });
    if (cache.maxUploadedArchiveSize > 0) {
      unused.push({ section: "", key: "MaxUploadedArchiveSize", why });
    }
  }
  if (backend === "s3") unused.push(...unusedS3Settings(cache.s3, defaults.s3));
  if (backend === "gcs" && cache.gcs.credentialsFile !== "") {
    // The key file wins, as in the official runner.
    for (
      const [key, value] of [["AccessID", cache.gcs.accessId], [
        "PrivateKey",
        cache.gcs.privateKey,
      ]] as const
    ) {
      if (value !== "") {
        unused.push({
          section: "gcs",
          key,
          why: "CredentialsFile is set, and its key signs the URLs",
        });
      }
    }
  }
  return unused;
}

function unusedS3Settings(s3: S3CacheConfig, defaults: S3CacheConfig): UnusedCacheSetting[] {
  const unused: UnusedCacheSetting[] = [];
  const add = (key: string, why: string) => unused.push({ section: "s3", key, why });
  if (s3AuthenticationType(s3) === "iam") {
    const why = s3.authenticationType !== ""
      ? `AuthenticationType is ${JSON.stringify(s3.authenticationType)}, ` +
        "which takes credentials from the environment or the instance role"
      : `${s3.accessKey === "" ? "AccessKey" : "SecretKey"} is not set, so the credentials ` +
        'come from the environment or the instance role (AuthenticationType "iam")';
    if (s3.accessKey !== "") add("AccessKey", why);
    if (s3.secretKey !== "") add("SecretKey", why);
    if (s3.sessionToken !== "") add("SessionToken", why);
  }
  const encryption = S3_ENCRYPTION_MODES[s3.serverSideEncryption.toUpperCase()];
  if (s3.serverSideEncryptionKeyId !== "" && encryption !== undefined) {
    if (!encryption.startsWith("aws:kms")) {
      add(
        "ServerSideEncryptionKeyID",
        `ServerSideEncryption is ${
          s3.serverSideEncryption === "" ? "not set" : JSON.stringify(s3.serverSideEncryption)
        }: only "KMS" and "DSSE-KMS" take a key`,
      );
    }
  }
  if (s3.accelerate && hasCustomServerAddress(s3)) {
    add(
      "Accelerate",
      `ServerAddress ${
        JSON.stringify(s3.serverAddress)
      } is set, and Transfer Acceleration is AWS's own endpoint (leave ServerAddress empty to use it)`,
    );
  }
  if (!s3.dualStack && hasCustomServerAddress(s3)) {
    add(
      "DualStack",
      `ServerAddress ${
        JSON.stringify(s3.serverAddress)
      } is set, and dual-stack endpoints are AWS's own (leave ServerAddress empty to use them)`,
    );
  }
  if (s3.pathStyle === true && s3.accelerate && !hasCustomServerAddress(s3)) {
    add("PathStyle", "Accelerate is set, and its endpoint takes the bucket in the host name");
  }
  if (s3.roleArn !== "" && s3.uploadRoleArn !== "") {
    add("UploadRoleARN", "RoleARN is set, and it is assumed for uploads too");
  }
  if (s3.roleArn === "" && s3.uploadRoleArn === "") {
    const why = "neither RoleARN nor UploadRoleARN is set, so no role is assumed";
    if (
      s3.assumeRoleMaxConcurrency !== defaults.assumeRoleMaxConcurrency &&
      s3.assumeRoleMaxConcurrency !== 0
    ) {
      add("AssumeRoleMaxConcurrency", why);
    }
    if (s3.disableAssumeRoleCredentialsCaching) add("DisableAssumeRoleCredentialsCaching", why);
  }
  return unused;
}
