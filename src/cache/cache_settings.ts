/**
 * `[runners.cache.gcs]` and `[runners.cache.azure]` settings no signer can be
 * made with: a missing bucket, container, account or credential, an account
 * key that is not base64, a bucket or container name a URL cannot hold. The signers refuse them (gcs_url_signer.ts,
 * azure_url_signer.ts) and config loading names them once, at load and in
 * lint. Pure and without imports: the poller loads it.
 */
import type { AzureCacheConfig, GcsCacheConfig } from "../config/runner_config.ts";

/** A setting no signer can be made with: its key and why (a sentence naming the section). */
export interface CacheSettingsProblem {
  key: string;
  message: string;
}

/** The first `[runners.cache.gcs]` setting no signer takes, else null. */
export function gcsSettingsProblem(gcs: GcsCacheConfig): CacheSettingsProblem | null {
  if (gcs.bucketName === "") {
    return {
      key: "BucketName",
      message: "[runners.cache.gcs] BucketName is empty: name the bucket to use",
    };
  }
  if (!/^[a-z0-9._-]+$/i.test(gcs.bucketName)) {
    return {
      key: "BucketName",
      message: `[runners.cache.gcs] BucketName ${
        JSON.stringify(gcs.bucketName)
      } is not a bucket name: letters, digits, ".", "-" and "_" only`,
    };
  }
  if (isDotSegment(gcs.bucketName)) {
    return {
      key: "BucketName",
      message: `[runners.cache.gcs] BucketName ${dotSegmentProblem(gcs.bucketName)}`,
    };
  }
  if (gcs.credentialsFile === "" && (gcs.accessId === "" || gcs.privateKey === "")) {
    return {
      key: "CredentialsFile",
      message:
        "[runners.cache.gcs] needs CredentialsFile, or AccessID and PrivateKey, to sign URLs",
    };
  }
  return null;
}

/** The first `[runners.cache.azure]` setting no signer takes, else null. */
export function azureSettingsProblem(azure: AzureCacheConfig): CacheSettingsProblem | null {
  if (azure.accountName === "") {
    return {
      key: "AccountName",
      message: "[runners.cache.azure] AccountName is empty: name the storage account",
    };
  }
  if (azure.containerName === "") {
    return {
      key: "ContainerName",
      message: "[runners.cache.azure] ContainerName can't be empty: name the container",
    };
  }
  if (isDotSegment(azure.containerName)) {
    return {
      key: "ContainerName",
      message: `[runners.cache.azure] ContainerName ${dotSegmentProblem(azure.containerName)}`,
    };
  }
  // Azure's rule for container names; it answers 400 InvalidResourceName (or
  // OutOfRangeInput) to any other, naming no setting. "$root", "$web" and
  // "$logs" are the special containers.
  if (!/^([a-z0-9](-?[a-z0-9]){2,62}|\$root|\$web|\$logs)$/.test(azure.containerName)) {
    return {
      key: "ContainerName",
      message: `[runners.cache.azure] ContainerName ${
        JSON.stringify(azure.containerName)
      } is not a container name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`,
    };
  }
  if (azure.accountKey === "") {
    return {
      key: "AccountKey",
      message:
        "[runners.cache.azure] AccountKey is empty: Runner signs SAS URLs with the account key only (Microsoft Entra ID user delegation keys are not supported)",
    };
  }
  // As the official runner's credential (Go's base64.StdEncoding): the
  // library would sign with what it could decode, and Azure answer 403.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(azure.accountKey) || azure.accountKey.length % 4 !== 0) {
    return {
      key: "AccountKey",
      message: "[runners.cache.azure] AccountKey is not a valid key: it is not base64",
    };
  }
  return null;
}

/**
 * Whether a bucket or container name is "." or "..": the name is a path
 * segment of the object's URL (path-style S3, GCS, Azure), which URL
 * parsing resolves, so the objects went to the bucket named by the next
 * segment ("runner" or "project", or Path's first).
 */
export function isDotSegment(name: string): boolean {
  return name === "." || name === "..";
}

/** Why `name` (a dot segment) is refused, after the key. */
export function dotSegmentProblem(name: string): string {
  return `${
    JSON.stringify(name)
  } is not a name: a URL resolves it as a path step, so the cache would go to another bucket or container`;
}
