/**
 * The npm files Runner never reads at run time, left out of the compiled
 * binary (scripts/compile.ts passes them to `deno compile` as excludes) and
 * deleted from the container image's vendored Deno cache
 * (tests/fixtures/runner_image.ts). One list and one function for both, so
 * that the stand-in image the tests run is pruned exactly as the binary is.
 *
 * What Deno reads of an npm package: its package.json, then the files its
 * `exports` (or, without `exports`, `main`) name under Deno's conditions —
 * "deno", "node", "import" for an `import`, "require" for a `require()`,
 * and "default" — and what those files import or require. Deno ignores the
 * "browser", "react-native" and "workerd" conditions, the `browser` and
 * `module` fields, type declarations and source maps. Every package folder of
 * the lockfile stays, with its package.json: Deno checks that each one is in
 * the cache. License and notice files stay too.
 *
 * tests/e2e/npm_pruning_test.ts proves the list: against a Deno cache pruned by
 * this function, with `--cached-only`, it loads every module of src/ that
 * imports an npm package and exercises each package the runner reaches.
 */
import { join } from "node:path";

/**
 * A rule is a path inside the package (a file, or a folder and all it
 * holds), `*.ext`: every file of the package whose name ends with `.ext`, or
 * `!path`: a file that stays although a folder rule covers it.
 */
export type PruneRule = string;

/**
 * Left out of every package: type declarations, source maps, documentation
 * and GitHub settings.
 */
export const NPM_PRUNE_ALL: readonly PruneRule[] = [
  "*.d.ts",
  "*.d.mts",
  "*.d.cts",
  "*.map",
  "*.md",
  ".github",
];

/**
 * The Azure SDK packages ship one build per export condition. Runner imports
 * `@azure/storage-blob` from an ES module, and each of them imports the next
 * with `import`, so Deno reads `dist/esm` ("import"). `dist/commonjs`
 * ("require") is read only by a `require()` of the package, and no CommonJS
 * file in the lockfile requires one; `dist/browser` and `dist/react-native`
 * are for conditions Deno does not set.
 */
const AZURE_BUILDS = ["dist/browser", "dist/react-native", "dist/commonjs"];

/**
 * core-client and core-tracing share one state object between their two
 * builds: dist/esm/state.js imports ../commonjs/state-cjs.js, a CommonJS
 * module by the package.json beside it.
 */
const AZURE_SHARED_STATE = [
  ...AZURE_BUILDS,
  "!dist/commonjs/state-cjs.js",
  "!dist/commonjs/package.json",
];

/** Per package (name -> rules), each with why Deno never reads those files. */
export const NPM_PRUNE: Readonly<Record<string, readonly PruneRule[]>> = {
  "@azure/abort-controller": AZURE_BUILDS,
  "@azure/core-auth": AZURE_BUILDS,
  "@azure/core-client": AZURE_SHARED_STATE,
  "@azure/core-http-compat": AZURE_BUILDS,
  "@azure/core-lro": AZURE_BUILDS,
  "@azure/core-paging": AZURE_BUILDS,
  "@azure/core-rest-pipeline": AZURE_BUILDS,
  "@azure/core-tracing": AZURE_SHARED_STATE,
  "@azure/core-util": AZURE_BUILDS,
  "@azure/core-xml": AZURE_BUILDS,
  "@azure/logger": AZURE_BUILDS,
  "@azure/storage-blob": AZURE_BUILDS,
  "@azure/storage-common": AZURE_BUILDS,
  // Also built for Cloudflare's "workerd" condition.
  "@typespec/ts-http-runtime": [...AZURE_BUILDS, "dist/workerd"],
  // Reached only by storage-blob's `await import("apache-arrow")`, a dynamic
  // import in both its builds, so always exports "." node/import ->
  // Arrow.node.mjs, which imports only .mjs files. The .js files are the "require" build and the
  // minified browser bundles; src/ is the TypeScript source; bin/ its CLI.
  "apache-arrow": ["*.js", "src", "bin"],
  // TypeScript sources; `main` is build/src/index.js. The .proto files stay:
  // grpc-js and dockerode load some at run time.
  "@grpc/grpc-js": ["src"],
  // `main` index.js requires ./src (JavaScript); dist/ holds the browser
  // bundles, scripts/ the install script that deno.json denies.
  "protobufjs": ["dist", "scripts"],
  // Tests, examples, the install script (denied in deno.json) and the C++
  // sources of the optional crypto binding. util/pagent.exe stays: the
  // Pageant agent runs it on Windows.
  "ssh2": [
    "test",
    "examples",
    "install.js",
    "lib/protocol/crypto/src",
    "lib/protocol/crypto/binding.gyp",
    "util/pagent.c",
    "util/build_pagent.bat",
  ],
  // A native addon whose build deno.json denies: ssh2's require() of it
  // throws (no build/Release/cpufeatures.node) and ssh2 carries on. What
  // stays is what that require reads: package.json and lib/.
  "cpu-features": ["deps", "src", "binding.gyp", "buildcheck.js", "test"],
  // C++ headers for building native addons; nothing requires nan at run time.
  "nan": ["*.h", "doc", "tools", "CMakeLists.txt"],
  // TypeScript sources; `main` is js/flatbuffers.js.
  "flatbuffers": ["ts"],
  // exports "." node -> dist/; browser/ is the "default" build, which the
  // "node" condition always wins over.
  "yaml": ["browser"],
  // Minified browser bundles that neither `exports` entry names.
  "fast-xml-parser": [
    "lib/fxbuilder.min.js",
    "lib/fxp.min.js",
    "lib/fxparser.min.js",
    "lib/fxvalidator.min.js",
  ],
  "events": ["tests"],
  "json-with-bigint": ["__tests__", "json-with-bigint.min.js"],
  // Tests; and test/perf/100k, 2 MB of numbers with no file extension, on
  // which `deno compile` (2.9) dies with "thread 'tokio-runtime-worker' has
  // overflowed its stack".
  "bintrees": ["test"],
};

/** Files that stay whatever the rules say: the packages' licenses. */
const KEEP = /^(licen[cs]e|notice|copying)([._-]|$)/i;

/** The npm registry Deno fetches from: NPM_CONFIG_REGISTRY, else npm's. */
export function npmRegistryUrl(env: (name: string) => string | undefined): string {
  return env("NPM_CONFIG_REGISTRY") || "https://registry.npmjs.org/";
}

/** The folder that holds Deno's copy of npm packages from `registryUrl`. */
export function npmRegistryDir(npmCache: string, registryUrl: string): string {
  return join(npmCache, new URL(registryUrl).host.replace(":", "_"));
}

/** The locked npm packages, `[name, version]`, from deno.lock (v4, v5). */
export function lockedNpmPackages(lock: unknown): Array<[string, string]> {
  const npm = (lock as { npm?: Record<string, unknown> } | null)?.npm ?? {};
  const packages = new Map<string, [string, string]>();
  for (const key of Object.keys(npm)) {
    const at = key.indexOf("@", 1); // after a scope's leading "@"
    if (at <= 0) continue;
    const name = key.slice(0, at);
    const version = key.slice(at + 1).split("_")[0]!; // "name@1.0.0_peer@2.0.0"
    packages.set(`${name}@${version}`, [name, version]);
  }
  return [...packages.values()];
}

function matches(rules: readonly PruneRule[], path: string, entry: Deno.DirEntry): boolean {
  return rules.some((rule) =>
    rule.startsWith("*.") ? entry.isFile && entry.name.endsWith(rule.slice(1)) : rule === path
  );
}

/**
 * What to leave out of the locked packages found in `registryDir` (Deno's
 * `<npm cache>/<registry host>`): absolute paths, a folder instead of its
 * files when nothing in it stays. Packages not in the cache are skipped.
 */
export async function npmPrunePaths(lock: unknown, registryDir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const [name, version] of lockedNpmPackages(lock)) {
    const rules = [...NPM_PRUNE_ALL, ...(NPM_PRUNE[name] ?? [])];
    const kept = rules.filter((rule) => rule.startsWith("!")).map((rule) => rule.slice(1));
    const isKept = (path: string, entry: Deno.DirEntry) =>
      KEEP.test(entry.name) || path === "package.json" || kept.includes(path);
    // Lists what goes below `dir` (everything when `dropAll`); returns true
    // when nothing below it stays, so that the caller lists `dir` instead.
    const walk = async (dir: string, inside: string, dropAll: boolean): Promise<boolean> => {
      const dropped: string[] = [];
      let keepsSome = false;
      for await (const entry of Deno.readDir(dir)) {
        const path = inside ? `${inside}/${entry.name}` : entry.name;
        const full = join(dir, entry.name);
        const drop = dropAll || matches(rules, path, entry);
        if (isKept(path, entry)) {
          keepsSome = true;
        } else if (entry.isDirectory && (!drop || kept.some((k) => k.startsWith(`${path}/`)))) {
          // A folder with something to keep inside is listed file by file.
          if (await walk(full, path, drop)) dropped.push(full);
          else keepsSome = true;
        } else if (drop) {
          dropped.push(full);
        } else {
          keepsSome = true;
        }
      }
      if (keepsSome || dropped.length === 0) {
        paths.push(...dropped);
        return false;
      }
      return true;
    };
    try {
      await walk(join(registryDir, ...name.split("/"), version), "", false);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return paths.sort();
}
