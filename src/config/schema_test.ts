import assert from "node:assert/strict";
import { CONFIG_KEYS, CONFIG_SECTIONS } from "./schema.ts";
import { defaultConfig, defaultRunnerConfig } from "./default_config.ts";
import { getField, keyFieldPath, rootOf } from "./_field_path.ts";
import { typedDefault } from "./_convert_value.ts";

Deno.test("every schema key has a valid default and a unique official name in its section", () => {
  const seen = new Set<string>();
  for (const key of CONFIG_KEYS) {
    const id = `${key.section}.${key.key}`;
    assert.ok(!seen.has(id), `duplicate ${id}`);
    seen.add(id);
    typedDefault(key);
    assert.ok(CONFIG_SECTIONS.some((s) => s.path === key.section));
  }
});

Deno.test("P3 keys are never modelled; every supported key has a filled field", () => {
  const global = defaultConfig() as unknown as Record<string, unknown>;
  const runner = defaultRunnerConfig("docker") as unknown as Record<string, unknown>;
  for (const key of CONFIG_KEYS) {
    if (key.priority === "P3") assert.equal(key.supported, false, key.key);
    if (!key.supported) continue;
    const root = rootOf(key.section);
    if (root === "runners.docker.services") continue;
    const value = getField(root === "" ? global : runner, keyFieldPath(key));
    assert.notEqual(value, undefined, `${key.section}.${key.key} has no field`);
  }
});

Deno.test("schema uses the official spellings", () => {
  const names = new Set(CONFIG_KEYS.map((k) => `${k.section}.${k.key}`));
  for (
    const name of [
      "runners.tls-ca-file",
      "runners.cache.MaxUploadedArchiveSize",
      "runners.cache.s3.BucketName",
      "runners.machine.IdleCount",
      "runners.docker.pull_policy",
    ]
  ) {
    assert.ok(names.has(name), name);
  }
});
