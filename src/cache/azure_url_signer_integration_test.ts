/**
 * The Azure SAS signer. An integration test by name only: `@azure/storage-blob`
 * reads `DEBUG` and `AZURE_LOG_LEVEL` when it loads, which the unit task (no
 * permissions) refuses.
 */
import assert from "node:assert/strict";
import type { AzureCacheConfig } from "../config/runner_config.ts";
import { azureBlobUrl, azureHostPort } from "./azure_endpoint.ts";
import { AzureUrlSigner } from "./azure_url_signer.ts";
import { cacheEndpoints } from "./cache_endpoint.ts";

const KEY = btoa("0123456789abcdef0123456789abcdef");
const config = (over: Partial<AzureCacheConfig> = {}): AzureCacheConfig => ({
  accountName: "acct",
  accountKey: KEY,
  containerName: "runner-cache",
  storageDomain: "",
  ...over,
});
const context = { env: () => undefined, now: () => new Date("2026-03-01T12:00:00Z") };

Deno.test("Azure SAS URL: the official service URL, a blob SAS for HTTPS, read for GET, write for PUT", async () => {
  const signer = new AzureUrlSigner(config(), context);
  const get = await signer.presign("runner/abc/project/7/deps v1", "GET", { expiresSeconds: 7200 });
  const url = new URL(get.url);
  assert.equal(url.origin, "https://acct.blob.core.windows.net");
  assert.equal(url.pathname, "/runner-cache/runner/abc/project/7/deps%20v1");
  const q = url.searchParams;
  assert.equal(q.get("sr"), "b");
  assert.equal(q.get("sp"), "r");
  assert.equal(q.get("spr"), "https");
  // Valid from an hour before (clock skew) until the expiry asked for.
  assert.equal(q.get("st"), "2026-03-01T11:00:00Z");
  assert.equal(q.get("se"), "2026-03-01T14:00:00Z");
  assert.ok(q.get("sig"));
  assert.deepEqual(get.headers, {});
  assert.equal(get.displayUrl, "azblob://runner-cache/runner/abc/project/7/deps v1");

  const put = await signer.presign("project/7/deps", "PUT", { expiresSeconds: 60 });
  assert.equal(new URL(put.url).searchParams.get("sp"), "w");
  assert.deepEqual(put.headers, { "x-ms-blob-type": "BlockBlob" });
  assert.equal(put.isBlockBlob, true);
});

Deno.test("Azure SAS URL: StorageDomain for sovereign clouds, and an IP endpoint takes the account in the path", async () => {
  const china = new AzureUrlSigner(
    config({ storageDomain: "blob.core.chinacloudapi.cn" }),
    context,
  );
  const a = new URL((await china.presign("k", "GET", { expiresSeconds: 60 })).url);
  assert.equal(a.origin, "https://acct.blob.core.chinacloudapi.cn");
  const local = new AzureUrlSigner(config({ storageDomain: "127.0.0.1:10000" }), context);
  const b = new URL((await local.presign("k", "GET", { expiresSeconds: 60 })).url);
  assert.equal(`${b.origin}${b.pathname}`, "https://127.0.0.1:10000/acct/runner-cache/k");
  assert.equal(azureHostPort(config()), "acct.blob.core.windows.net:443");
  assert.equal(azureHostPort(config({ storageDomain: "localhost:10000" })), "localhost:10000");
  assert.deepEqual(
    cacheEndpoints(
      {
        type: "azure",
        azure: config({ storageDomain: "127.0.0.1:10000" }),
      } as Parameters<typeof cacheEndpoints>[0],
    ),
    ["127.0.0.1:10000"],
  );
});

Deno.test("Azure signer refuses a config without account, container or key, naming the key", () => {
  assert.throws(() => new AzureUrlSigner(config({ accountName: "" }), context), /AccountName/);
  assert.throws(() => new AzureUrlSigner(config({ containerName: "" }), context), /ContainerName/);
  assert.throws(
    () => new AzureUrlSigner(config({ accountKey: "" }), context),
    /AccountKey is empty: Runner signs SAS URLs with the account key only/,
  );
});

/** `config()` with the default test key's account "acc" and container "cache". */
function azureWith(overrides: Partial<AzureCacheConfig>): AzureCacheConfig {
  return {
    accountName: "acc",
    accountKey: btoa("k".repeat(64)),
    containerName: "cache",
    storageDomain: "",
    ...overrides,
  };
}

Deno.test("an Azure AccountName, AccountKey or StorageDomain that cannot sign or make the URL is refused naming the key", () => {
  const refused = (overrides: Partial<AzureCacheConfig>, message: string) =>
    assert.throws(
      () => {
        new AzureUrlSigner(azureWith(overrides), { env: () => undefined });
        azureBlobUrl(azureWith(overrides), "k");
      },
      (err: Error) => {
        assert.equal(err.message, message);
        return true;
      },
    );
  refused(
    { accountKey: "not base64 !!" },
    "[runners.cache.azure] AccountKey is not a valid key: it is not base64",
  );
  // A capital signed for another name than the account's: Azurite answered 404 ResourceNotFound.
  for (const accountName of ["a/b", "DevStoreAccount1", "ab", "a".repeat(25)]) {
    refused(
      { accountName },
      `[runners.cache.azure] AccountName ${
        JSON.stringify(accountName)
      } is not a storage account name: 3 to 24 lowercase letters and digits`,
    );
  }
  refused(
    { storageDomain: "https://blob.example.com" },
    '[runners.cache.azure] StorageDomain "https://blob.example.com" is not a domain[:port]: write "blob.example.com"',
  );
  refused(
    { storageDomain: "blob.example.com/path" },
    '[runners.cache.azure] StorageDomain "blob.example.com/path" is not a domain[:port]: a path is not allowed',
  );
  refused(
    { storageDomain: "127.0.0.1:99999" },
    '[runners.cache.azure] StorageDomain "127.0.0.1:99999" is not a domain[:port]: port 99999 is out of range 0-65535',
  );
  // Before, ".." sent the blobs to the container "runner" (or "project").
  for (const containerName of [".", ".."]) {
    refused(
      { containerName },
      `[runners.cache.azure] ContainerName ${
        JSON.stringify(containerName)
      } is not a name: a URL resolves it as a path step, so the cache would go to another bucket or container`,
    );
  }
  // Before, Azure answered each transfer "400 InvalidResourceName" (or OutOfRangeInput).
  for (const containerName of ["RunnerCache", "a/b", "my_cache", "ab", "-cache", "a--b"]) {
    refused(
      { containerName },
      `[runners.cache.azure] ContainerName ${
        JSON.stringify(containerName)
      } is not a container name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`,
    );
  }
  for (const containerName of ["abc", "runner-cache-2", "$root", "a".repeat(63)]) {
    new AzureUrlSigner(azureWith({ containerName }), { env: () => undefined });
  }
  // What works stays: the default domain, an emulator by address, a sovereign cloud.
  assert.equal(azureBlobUrl(azureWith({}), "k").href, "https://acc.blob.core.windows.net/cache/k");
  assert.equal(
    azureBlobUrl(
      azureWith({ accountName: "devstoreaccount1", storageDomain: "127.0.0.1:10000" }),
      "k",
    )
      .href,
    "https://127.0.0.1:10000/devstoreaccount1/cache/k",
  );
  assert.equal(
    azureBlobUrl(azureWith({ storageDomain: "blob.core.chinacloudapi.cn" }), "k").href,
    "https://acc.blob.core.chinacloudapi.cn/cache/k",
  );
});
