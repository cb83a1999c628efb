import assert from "node:assert/strict";
import { computeCacheKey } from "./cache_key.ts";
import type { CacheConfig } from "./pipeline.ts";
import type { ProjectFiles } from "./project_files.ts";

class MemoryFiles implements ProjectFiles {
  constructor(readonly files: Record<string, string>) {}
  readText(path: string): Promise<string | null> {
    return Promise.resolve(this.files[path] ?? null);
  }
  readBytes(path: string): Promise<Uint8Array | null> {
    const text = this.files[path];
    return Promise.resolve(text === undefined ? null : new TextEncoder().encode(text));
  }
  listFiles(): Promise<string[]> {
    return Promise.resolve(Object.keys(this.files).sort());
  }
}

/** sha1 of `package.json\0{"a":1}\0./yarn.lock\0lock\0` (paths as written in the key). */
const DIGEST = "06a1ff08c6f77e9517a1a52950beb2bfd1629af1";

function cache(key: CacheConfig["key"]): CacheConfig {
  return {
    key,
    paths: ["vendor"],
    untracked: false,
    policy: "pull-push",
    when: "on_success",
    fallbackKeys: [],
  };
}

Deno.test("cache key files: is the SHA-1 of each present file's path and contents, with its prefix", async () => {
  const files = new MemoryFiles({ "package.json": '{"a":1}', "yarn.lock": "lock" });
  const key = {
    kind: "files" as const,
    files: ["package.json", "./yarn.lock", "missing"],
    prefix: "",
  };
  assert.equal(
    await computeCacheKey(cache(key), files),
    DIGEST,
  );
  assert.equal(
    await computeCacheKey(cache({ ...key, prefix: "deps" }), files),
    `deps-${DIGEST}`,
  );
  assert.equal(await computeCacheKey(cache({ ...key, files: ["missing"] }), files), "default");
  assert.equal(
    await computeCacheKey(cache({ ...key, files: ["missing"], prefix: "p" }), files),
    "p-default",
  );
  assert.equal(
    await computeCacheKey(cache({ kind: "text", value: "$CI_COMMIT_REF_SLUG" }), files),
    "$CI_COMMIT_REF_SLUG",
  );
});
