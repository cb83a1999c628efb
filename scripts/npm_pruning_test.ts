import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { lockedNpmPackages, npmPrunePaths, npmRegistryDir, npmRegistryUrl } from "./npm_pruning.ts";

async function files(root: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    await Deno.mkdir(dirname(join(root, path)), { recursive: true });
    await Deno.writeTextFile(join(root, path), "x");
  }
}

Deno.test("lockedNpmPackages reads name and version of every locked package once", () => {
  const lock = {
    npm: { "@azure/core-auth@1.11.0": {}, "nan@2.30.0": {}, "x@1.0.0_y@2.0.0": {}, "x@1.0.0": {} },
  };
  assert.deepEqual(lockedNpmPackages(lock), [
    ["@azure/core-auth", "1.11.0"],
    ["nan", "2.30.0"],
    ["x", "1.0.0"],
  ]);
  assert.deepEqual(lockedNpmPackages({}), []);
});

Deno.test("npmRegistryDir is Deno's folder for the registry's host", () => {
  assert.equal(
    npmRegistryDir("/c/npm", npmRegistryUrl(() => undefined)),
    "/c/npm/registry.npmjs.org",
  );
  assert.equal(
    npmRegistryDir("/c/npm", npmRegistryUrl(() => "http://127.0.0.1:4873/")),
    "/c/npm/127.0.0.1_4873",
  );
});

Deno.test("npmPrunePaths lists pruned folders whole, files one by one, and keeps package.json, licenses and ! paths", async () => {
  const registry = await Deno.makeTempDir();
  try {
    await files(registry, [
      "@azure/core-tracing/1.4.0/package.json",
      "@azure/core-tracing/1.4.0/LICENSE",
      "@azure/core-tracing/1.4.0/README.md",
      "@azure/core-tracing/1.4.0/dist/browser/index.js",
      "@azure/core-tracing/1.4.0/dist/browser/package.json",
      "@azure/core-tracing/1.4.0/dist/commonjs/index.js",
      "@azure/core-tracing/1.4.0/dist/commonjs/package.json",
      "@azure/core-tracing/1.4.0/dist/commonjs/state-cjs.js",
      "@azure/core-tracing/1.4.0/dist/esm/index.js",
      "@azure/core-tracing/1.4.0/dist/esm/index.d.ts",
      "@azure/core-tracing/1.4.0/dist/esm/index.js.map",
      "@azure/core-tracing/1.4.0/dist/react-native/index.js",
      "nan/2.30.0/package.json",
      "nan/2.30.0/LICENSE.md",
      "nan/2.30.0/include_dirs.js",
      "nan/2.30.0/nan.h",
      "nan/2.30.0/doc/a.md",
      "nan/2.30.0/types/only.d.ts",
      "unlocked/1.0.0/README.md",
    ]);
    const lock = { npm: { "@azure/core-tracing@1.4.0": {}, "nan@2.30.0": {}, "gone@1.0.0": {} } };
    const pkg = (path: string) => join(registry, path);
    assert.deepEqual(await npmPrunePaths(lock, registry), [
      pkg("@azure/core-tracing/1.4.0/README.md"),
      pkg("@azure/core-tracing/1.4.0/dist/browser"),
      pkg("@azure/core-tracing/1.4.0/dist/commonjs/index.js"),
      pkg("@azure/core-tracing/1.4.0/dist/esm/index.d.ts"),
      pkg("@azure/core-tracing/1.4.0/dist/esm/index.js.map"),
      pkg("@azure/core-tracing/1.4.0/dist/react-native"),
      pkg("nan/2.30.0/doc"),
      pkg("nan/2.30.0/nan.h"),
      pkg("nan/2.30.0/types"),
    ]);
  } finally {
    await Deno.remove(registry, { recursive: true });
  }
});
