/**
 * No silent ignore: every config.toml key of the official runner (the list in
 * official_keys.json, extracted from its Go structs by
 * scripts/official_config_keys.ts) is either modelled as supported in
 * schema.ts or, when written in a file, produces a warning naming it (or the
 * unsupported section holding it).
 */
import assert from "node:assert/strict";
import { stringify } from "smol-toml";
import official from "./official_keys.json" with { type: "json" };
import { CONFIG_KEYS } from "./schema.ts";
import {
  isNamed,
  isSupported,
  namedKeys,
  type OfficialKey,
  placeKey,
  schemaPath,
} from "../../tests/fixtures/official_keys.ts";
import { parseConfig } from "./parse_config.ts";

const KEYS: readonly OfficialKey[] = official.keys;

Deno.test(`the official key list is that of gitlab-runner ${official.version}`, () => {
  assert.match(official.version, /^19\./);
  assert.ok(KEYS.length > 500, `${KEYS.length} keys`);
  for (const path of ["runners[].docker.sysctls", "runners[].cache.s3.BucketName", "labels"]) {
    assert.ok(KEYS.some((k) => k.path === path), path);
  }
});

Deno.test("every official config.toml key is supported or warns by name when present", () => {
  const silent: string[] = [];
  let supported = 0;
  for (const key of KEYS) {
    if (isSupported(key)) {
      supported++;
      continue;
    }
    const doc: Record<string, unknown> = {};
    placeKey(doc, key);
    const { warnings } = parseConfig(stringify(doc), { file: "config.toml", env: {} });
    if (!isNamed(schemaPath(key.path), namedKeys(warnings.map((w) => w.message)))) {
      silent.push(key.path);
    }
  }
  assert.deepEqual(silent, [], `${silent.length} official keys load silently`);
  assert.ok(supported > 50, `${supported} supported keys`);
});

Deno.test("every supported schema key is an official key (or one of ours, named here)", () => {
  const officialPaths = new Set(KEYS.map((k) => schemaPath(k.path)));
  const ours = CONFIG_KEYS.filter((k) => k.supported)
    .map((k) => (k.section === "" ? k.key : `${k.section}.${k.key}`))
    .filter((p) => !officialPaths.has(p));
  assert.deepEqual(ours, []);
});
