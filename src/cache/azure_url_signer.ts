/**
 * Azure Blob Storage pre-signed URLs: a service SAS for one blob, signed
 * with the storage account key by `@azure/storage-blob`, as the official
 * runner signs them (read for GET, write for PUT, HTTPS only, valid from an
 * hour ago to allow for clock skew until the expiry asked for). The official
 * runner hands the SAS to GoCloud in its helper; here the executor process
 * gets a URL carrying it, and never the key. An upload stores a block blob
 * (object_transfer.ts): Put Blob with `x-ms-blob-type: BlockBlob`, which the
 * answer's headers carry, or Put Block + Put Block List for a large archive,
 * as GoCloud's Azure driver does in the official helper.
 *
 * Without `AccountKey` the official runner asks Microsoft Entra ID for a user
 * delegation key (managed or workload identity); Runner does not, and says
 * so. There is no key for a ready-made SAS token in the official config.
 */
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { AzureCacheConfig } from "../config/runner_config.ts";
import { azureBlobUrl } from "./azure_endpoint.ts";
import { azureSettingsProblem } from "./cache_settings.ts";
import {
  type CacheUrlMethod,
  type CacheUrlSigner,
  metadataHeaders,
  type PresignedRequest,
  type PresignOptions,
  type SignerContext,
} from "./cache_url_signer.ts";

/** The official runner starts the SAS an hour early so that a skewed clock still works. */
const CLOCK_SKEW_MS = 3600_000;

export class AzureUrlSigner implements CacheUrlSigner {
  readonly #azure: AzureCacheConfig;
  readonly #context: SignerContext;
  readonly #credential: StorageSharedKeyCredential;

  constructor(azure: AzureCacheConfig, context: SignerContext) {
    this.#azure = azure;
    this.#context = context;
    const problem = azureSettingsProblem(azure);
    if (problem !== null) throw new RangeError(problem.message);
    try {
      this.#credential = new StorageSharedKeyCredential(azure.accountName, azure.accountKey);
    } catch (err) {
      throw new RangeError(
        `[runners.cache.azure] AccountKey is not a valid key: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  presign(
    objectName: string,
    method: CacheUrlMethod,
    options: PresignOptions,
  ): Promise<PresignedRequest> {
    const url = azureBlobUrl(this.#azure, objectName);
    const now = (this.#context.now?.() ?? new Date()).getTime();
    const sas = generateBlobSASQueryParameters({
      containerName: this.#azure.containerName,
      blobName: objectName,
      permissions: BlobSASPermissions.parse(method === "PUT" ? "w" : "r"),
      protocol: SASProtocol.Https,
      startsOn: new Date(now - CLOCK_SKEW_MS),
      expiresOn: new Date(now + Math.max(1, Math.round(options.expiresSeconds)) * 1000),
    }, this.#credential);
    return Promise.resolve({
      url: `${url.href}?${sas.toString()}`,
      headers: method === "PUT"
        ? { "x-ms-blob-type": "BlockBlob", ...metadataHeaders("x-ms-meta-", options.metadata) }
        : {},
      displayUrl: `azblob://${this.#azure.containerName}/${objectName}`,
      ...(method === "PUT" ? { isBlockBlob: true } : {}),
    });
  }
}
