import assert from "node:assert/strict";
import type { AzureCacheConfig } from "../config/runner_config.ts";
import { azureBlobUrl } from "./azure_endpoint.ts";
import { AzureUrlSigner } from "./azure_url_signer.ts";

const KEY = btoa("k".repeat(64));

function azure(overrides: Partial<AzureCacheConfig>): AzureCacheConfig {
  return {
    accountName: "acc",
    accountKey: KEY,
    containerName: "c",
    storageDomain: "",
    ...overrides,
  };
}

Deno.test("an Azure AccountName, AccountKey or StorageDomain that cannot sign or make the URL is refused naming the key", () => {
  const refused = (overrides: Partial<AzureCacheConfig>, message: string) =>
    assert.throws(
      () => {
        new AzureUrlSigner(azure(overrides), { env: () => undefined });
        azureBlobUrl(azure(overrides), "k");
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
  refused(
    { accountName: "a/b" },
    '[runners.cache.azure] AccountName "a/b" is not a storage account name: letters and digits only',
  );
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
  // What works stays: the default domain, an emulator by address, a sovereign cloud.
  assert.equal(azureBlobUrl(azure({}), "k").href, "https://acc.blob.core.windows.net/c/k");
  assert.equal(
    azureBlobUrl(azure({ accountName: "devstoreaccount1", storageDomain: "127.0.0.1:10000" }), "k")
      .href,
    "https://127.0.0.1:10000/devstoreaccount1/c/k",
  );
  assert.equal(
    azureBlobUrl(azure({ storageDomain: "blob.core.chinacloudapi.cn" }), "k").href,
    "https://acc.blob.core.chinacloudapi.cn/c/k",
  );
});
