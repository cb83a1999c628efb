import assert from "node:assert/strict";
import {
  CacheKeyError,
  defaultCacheKey,
  isProtectedKey,
  resolveCacheKey,
  sanitizeCacheKey,
} from "./cache_key.ts";
import { parseCachePolicy } from "./cache_policy.ts";

// The official runner's table (cache/cachekey), plus the trailing-space case it missed.
const SANITIZED: [string, string][] = [
  ["fallback_key", "fallback_key"],
  ["some-job/some-ref", "some-job/some-ref"],
  [".../....", ".../...."],
  ["fallback_key/", "fallback_key"],
  ["fallback_key ", "fallback_key"],
  ["fallback_key\\", "fallback_key"],
  ["fallback_key/ / \\  \\", "fallback_key"],
  ["fallback_key / \\o", "fallback_key / /o"],
  ["\t foo bar \t\r", "\t foo bar"],
  [" foo / bar ", " foo / bar"],
  ["something %2F something", "something / something"],
  ["some%2f../job/some/ref/.", "job/some/ref"],
  ["%2E%2E%2E", "..."],
  ["%5C", "%5C"],
  ["foo/blipp/../bar", "foo/bar"],
  ["/foo/bar", "foo/bar"],
  ["../foo/bar", "foo/bar"],
  ["foo/bar/../../../.././blerp", "blerp"],
  ["job\\name/git\\ref", "job/name/git/ref"],
  ["..\\foo\\bar", "foo/bar"],
  ["foo/ /bar", "foo/ /bar"],
  ["foo/ / /", "foo"],
  ["a/foo/.. ", "a"],
];

const UNSANITIZABLE = [
  "\\",
  "/",
  " ",
  ".",
  "..",
  "//",
  "../.",
  "foo/bar/../..",
  " \t\r\n",
  "%2E",
  "%2e%2E",
  "foo/.. ",
];

Deno.test("sanitizeCacheKey matches the official table and warns when it changes a key", () => {
  for (const [raw, want] of SANITIZED) {
    const { key, warning } = sanitizeCacheKey(raw);
    assert.equal(key, want, JSON.stringify(raw));
    assert.equal(
      warning,
      raw === want ? null : `cache key ${JSON.stringify(raw)} sanitized to ${JSON.stringify(want)}`,
    );
  }
});

Deno.test("sanitizeCacheKey refuses keys with nothing usable left", () => {
  for (const raw of UNSANITIZABLE) {
    assert.throws(() => sanitizeCacheKey(raw), (err: unknown) => {
      assert.ok(err instanceof CacheKeyError, raw);
      assert.equal(err.message, `cache key ${JSON.stringify(raw)} could not be sanitized`);
      return true;
    });
  }
  assert.throws(() => sanitizeCacheKey(""), /empty cache key/);
});

Deno.test("sanitised keys never climb out, whatever the input", () => {
  for (
    const raw of ["a/../../b", "..%2f..%2fetc", "%2e%2e/%2e%2e/x", "a\\..\\..\\b", "x/.. /.. /y"]
  ) {
    const { key } = sanitizeCacheKey(raw);
    assert.ok(
      !key.startsWith("/") && !key.split("/").some((s) => s === ".." || s === "."),
      `${raw} -> ${key}`,
    );
  }
});

Deno.test("the default key is job name and ref, and resolveCacheKey expands then sanitises", () => {
  assert.equal(defaultCacheKey("test", "main"), "test/main");
  assert.equal(defaultCacheKey("../x", "feature/y"), "x/feature/y");
  const warnings: string[] = [];
  const ctx = {
    jobName: "build",
    gitRef: "main",
    expand: (s: string) => s.replace("$CI_COMMIT_REF_SLUG", "feature\\x"),
  };
  assert.equal(resolveCacheKey("", ctx, (w) => warnings.push(w)), "build/main");
  assert.equal(
    resolveCacheKey("deps-$CI_COMMIT_REF_SLUG", ctx, (w) => warnings.push(w)),
    "deps-feature/x",
  );
  assert.equal(resolveCacheKey("..", ctx, (w) => warnings.push(w)), null);
  assert.deepEqual(warnings, [
    'cache key "deps-feature\\\\x" sanitized to "deps-feature/x"',
    'cache key ".." could not be sanitized',
  ]);
});

Deno.test("protected keys are recognised despite trailing dots and spaces", () => {
  assert.equal(isProtectedKey("main-protected"), true);
  assert.equal(isProtectedKey("main-protected. ."), true);
  assert.equal(isProtectedKey("main-non_protected"), false);
  assert.equal(isProtectedKey("protected-main"), false);
});

Deno.test("cache policies", () => {
  assert.deepEqual(parseCachePolicy(""), { pull: true, push: true });
  assert.deepEqual(parseCachePolicy("pull-push"), { pull: true, push: true });
  assert.deepEqual(parseCachePolicy("pull"), { pull: true, push: false });
  assert.deepEqual(parseCachePolicy("push"), { pull: false, push: true });
  assert.throws(() => parseCachePolicy("pul"), /unknown cache policy "pul"/);
});
