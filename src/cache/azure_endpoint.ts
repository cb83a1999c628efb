/**
 * Where an Azure blob lives: `https://<AccountName>.<StorageDomain>/<container>/<object>`,
 * the service URL the official runner builds (`StorageDomain` defaults to
 * `blob.core.windows.net`). A `StorageDomain` that is an IP address or
 * `localhost` (an emulator such as Azurite, an on-premises endpoint) cannot
 * take the account as a subdomain, so the account goes in the path instead,
 * as the Azure SDKs address IP endpoints. Always HTTPS: the SAS is signed
 * for HTTPS only, like the official runner's. Pure: also used to grant the
 * executor process its network access.
 */
import type { AzureCacheConfig } from "../config/runner_config.ts";
import type { CacheSettingsProblem } from "./cache_settings.ts";

export const DEFAULT_AZURE_STORAGE_DOMAIN = "blob.core.windows.net";

/** Whether the account goes in the path (IP or localhost endpoint) rather than the host. */
export function isAzureIpEndpoint(domain: string): boolean {
  const host = domain.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return host === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** `https://<account>.<domain>`, or `https://<domain>/<account>` for an IP endpoint. */
export function azureServiceUrl(azure: AzureCacheConfig): string {
  const problem = azureEndpointProblem(azure);
  if (problem !== null) throw new RangeError(problem.message);
  const domain = azure.storageDomain || DEFAULT_AZURE_STORAGE_DOMAIN;
  if (isAzureIpEndpoint(domain)) return `https://${domain}/${azure.accountName}`;
  return `https://${azure.accountName}.${domain}`;
}

/**
 * The first setting no service URL can be made from, naming the key, else
 * null: no AccountName, or one Azure never gives (3 to 24 lowercase letters
 * and digits: a capital signed for another name, and the service refused
 * it); a StorageDomain that is not `domain[:port]` (a scheme made URLs to a
 * host named "https", a path was dropped). Config loading names it once,
 * at load and in lint; each transfer again.
 */
export function azureEndpointProblem(azure: AzureCacheConfig): CacheSettingsProblem | null {
  if (azure.accountName === "") {
    return {
      key: "AccountName",
      message: "[runners.cache.azure] AccountName is empty: name the storage account to use",
    };
  }
  if (!/^[a-z0-9]{3,24}$/.test(azure.accountName)) {
    return {
      key: "AccountName",
      message: `[runners.cache.azure] AccountName ${
        JSON.stringify(azure.accountName)
      } is not a storage account name: 3 to 24 lowercase letters and digits`,
    };
  }
  const domain = azure.storageDomain || DEFAULT_AZURE_STORAGE_DOMAIN;
  const problem = (detail: string) => ({
    key: "StorageDomain",
    message: `[runners.cache.azure] StorageDomain ${JSON.stringify(domain)} is not a domain[:port]${
      detail ? `: ${detail}` : ""
    }`,
  });
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/i.exec(domain);
  if (scheme) return problem(`write ${JSON.stringify(scheme[1]!.replace(/\/+$/, ""))}`);
  const parts = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d+))?(\/.*)?$/i.exec(domain);
  if (!parts) return problem("");
  if (parts[3] !== undefined) return problem("a path is not allowed");
  if (parts[2] !== undefined && Number(parts[2]) > 65535) {
    return problem(`port ${parts[2]} is out of range 0-65535`);
  }
  return null;
}

/** Encodes an object name as a blob path: RFC 3986, `/` kept. */
function encodeBlobName(name: string): string {
  return name.split("/").map((segment) =>
    encodeURIComponent(segment).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    )
  ).join("/");
}

/** The URL of `objectName` (before the SAS). Throws a RangeError for a config that names no container. */
export function azureBlobUrl(azure: AzureCacheConfig, objectName: string): URL {
  if (azure.containerName === "") {
    throw new RangeError("[runners.cache.azure] ContainerName can't be empty: name the container");
  }
  return new URL(
    `${azureServiceUrl(azure)}/${encodeURIComponent(azure.containerName)}/${
      encodeBlobName(objectName)
    }`,
  );
}

/** `host:port` the executor process connects to for this cache. */
export function azureHostPort(azure: AzureCacheConfig): string {
  const url = new URL(azureServiceUrl(azure));
  return `${url.hostname}:${url.port || "443"}`;
}
