/**
 * `[runners.cache.gcs]` and `[runners.cache.azure]` settings no signer can be
 * made with: a missing bucket, container, account or credential, an account
 * key that is not base64. The signers refuse them (gcs_url_signer.ts,
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
