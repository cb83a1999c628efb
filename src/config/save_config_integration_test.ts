import assert from "node:assert/strict";
import { join } from "node:path";
import { saveConfig } from "./save_config.ts";
import { loadConfigFile } from "./load_config.ts";
import { defaultConfig, defaultRunnerConfig } from "./default_config.ts";

Deno.test("saveConfig writes mode 0600 in a new 0700 directory, atomically, and loads back", async () => {
  const base = await Deno.makeTempDir({ prefix: "runner-save-" });
  try {
    const path = join(base, "etc", "config.toml");
    const config = defaultConfig();
    const runner = defaultRunnerConfig("shell");
    runner.name = "saved";
    runner.token = "glrt-saved12345678";
    config.runners = [runner];
    await saveConfig(path, config);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(base, "etc"))).mode! & 0o777, 0o700);
    }
    const loaded = await loadConfigFile(path, { env: {}, missingFile: "error" });
    assert.deepStrictEqual(loaded.config, config);
    runner.limit = 3;
    await saveConfig(path, config);
    const entries = [];
    for await (const entry of Deno.readDir(join(base, "etc"))) entries.push(entry.name);
    assert.deepEqual(entries, ["config.toml"], "no temporary file is left behind");
    assert.equal(
      (await loadConfigFile(path, { env: {}, missingFile: "error" })).config.runners[0]?.limit,
      3,
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
