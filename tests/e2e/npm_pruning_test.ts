/**
 * The npm files that scripts/npm_pruning.ts leaves out of the compiled binary
 * and the container image are files Runner never reads: against a Deno cache
 * pruned by that same function (the stand-in image's, tests/fixtures/
 * runner_image.ts), with `--cached-only`, every module of src/ that imports
 * an npm package loads, and each package the runner reaches is driven
 * through the entry Deno resolves for it (tests/fixtures/npm_probe.ts). A
 * file pruned wrongly fails here with "Cannot find module".
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { NPM_PRUNE, npmRegistryDir, npmRegistryUrl } from "../../scripts/npm_pruning.ts";
import { vendorRunner } from "../fixtures/runner_image.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const PROBE = join(ROOT, "tests/fixtures/npm_probe.ts");

/** The import-map names of deno.json that are npm packages with code (not @types). */
async function npmImportNames(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return Object.entries(config.imports as Record<string, string>)
    .filter(([name, target]) => target.startsWith("npm:") && !name.startsWith("@types/"))
    .map(([name]) => name);
}

/** The modules below `src` (tests aside) with a value import of one of `names`. */
async function modulesImporting(src: string, names: string[]): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await visit(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?\s+from\s+"([^"]+)";/gms)) {
          const specifier = m[1]!;
          if (names.some((n) => specifier === n || specifier.startsWith(`${n}/`))) {
            found.push(path);
            break;
          }
        }
      }
    }
  };
  await visit(src);
  return found.sort();
}

Deno.test("pruned npm packages still serve every src module that imports one, and each package's entry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-npm-pruning-" });
  try {
    await vendorRunner(dir);
    const registry = npmRegistryDir(
      join(dir, "deno-dir/npm"),
      npmRegistryUrl((name) => Deno.env.get(name)),
    );
    // The cache is pruned: otherwise this test proves nothing.
    assert.ok(NPM_PRUNE["@azure/storage-blob"]?.includes("dist/browser"));
    const blob = join(registry, "@azure/storage-blob/12.34.0");
    assert.ok(await Deno.stat(join(blob, "dist/esm/index.js")));
    await assert.rejects(Deno.stat(join(blob, "dist/browser")), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(join(blob, "dist/esm/index.d.ts")), Deno.errors.NotFound);

    const names = await npmImportNames();
    const modules = await modulesImporting(join(dir, "app/src"), names);
    // parse_config, azure/s3 signers, docker client, ssh connection, metrics, yaml…
    for (
      const expected of [
        "cache/azure_url_signer.ts",
        "cache/s3_url_signer.ts",
        "config/parse_config.ts",
        "executors/docker/docker_client.ts",
        "executors/ssh/ssh_connection.ts",
        "metrics/prom_client.ts",
        "pipeline/yaml_loader.ts",
        "artifacts/glob_pattern.ts",
      ]
    ) {
      assert.ok(
        modules.some((m) => relative(join(dir, "app/src"), m) === expected),
        `${expected} not among ${modules.join(", ")}`,
      );
    }
    await Deno.copyFile(PROBE, join(dir, "app/npm_probe.ts"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--cached-only",
        "--allow-all",
        "--config",
        join(dir, "app/deno.json"),
        join(dir, "app/npm_probe.ts"),
        ...modules.map((m) => pathToFileURL(m).href),
      ],
      env: { DENO_DIR: join(dir, "deno-dir"), DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `probe failed:\n${stdout}\n${stderr}`);
    const lines = stdout.trim().split("\n");
    assert.equal(lines[0], `ok src modules (${modules.length})`);
    for (const name of [...names, "apache-arrow"]) {
      assert.ok(lines.includes(`ok ${name}`), `no "ok ${name}" in:\n${stdout}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
