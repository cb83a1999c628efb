import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfigFile } from "./load_config.ts";
import { ConfigError } from "./config_error.ts";

Deno.test("a missing config.toml is an empty config for run/register and an error for lint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-load-" });
  try {
    const path = join(dir, "config.toml");
    const empty = await loadConfigFile(path, { env: {}, missingFile: "empty" });
    assert.equal(empty.text, null);
    assert.equal(empty.config.concurrent, 1);
    assert.deepEqual(empty.config.runners, []);
    await assert.rejects(
      loadConfigFile(path, { env: {}, missingFile: "error" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === `${path}: Cannot read config file: the file does not exist`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfigFile names the file it read in errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-load-" });
  try {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 2\n[[runners]]\nlimit = "abc"\n`);
    await assert.rejects(
      loadConfigFile(path, { env: {}, missingFile: "error" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === `${path}:3: key runners[0].limit must be an integer, got "abc"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
