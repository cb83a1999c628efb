/**
 * End to end: a config.toml holding every official key this runner does not
 * act on; `runner lint` names each one (or the unsupported section holding it),
 * and `runner run` logs the same names when it loads the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "smol-toml";
import official from "../../src/config/official_keys.json" with { type: "json" };
import {
  isNamed,
  isSupported,
  namedKeys,
  placeKey,
  schemaPath,
} from "../fixtures/official_keys.ts";
import { runCli } from "../fixtures/runner_process.ts";

Deno.test("lint names every official key the runner does not act on", async () => {
  const doc: Record<string, unknown> = {};
  const placed = official.keys.filter((k) => !isSupported(k) && placeKey(doc, k));
  assert.ok(placed.length > 400, `${placed.length} keys in the file`);
  const dir = await Deno.makeTempDir({ prefix: "runner-official-keys-" });
  try {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, stringify(doc));
    const res = await runCli(["lint", "-c", path]);
    const named = namedKeys(
      res.stderr.split("\n").map((l) => l.replace(/^(WARNING|ERROR): [^:]+:(\d+:)? /, "")),
    );
    const silent = placed.map((k) => schemaPath(k.path)).filter((p) => !isNamed(p, named));
    assert.deepEqual(silent, [], res.stderr.slice(0, 3000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
