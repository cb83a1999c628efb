/**
 * `runner read-config` in a child process (cli/config_reader_process.ts), as
 * the supervisor starts it from source: its config is loadConfigFile's, field
 * for field, warnings included, and a file it cannot load is null. And
 * `runner parse-config`, as the poller starts it on an edit: parseConfig's
 * answer for the text, its ConfigError included.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigFile } from "../config/load_config.ts";
import { parseConfigInChild, readConfigInChild } from "./config_reader_process.ts";
import { parseConfig } from "../config/parse_config.ts";
import { ConfigError } from "../config/config_error.ts";

const SOURCE_DIR = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

const CONFIG = `concurrent = 4
check_interval = 2
log_level = "warn"
listen_address = "127.0.0.1:9252"
not_a_key = true

[session_server]
  listen_address = "127.0.0.1:8093"
  session_timeout = 600

[[runners]]
  name = "docker"
  url = "https://gitlab.example.com"
  token = "$RUNNER_TOKEN"
  executor = "docker"
  builds_dir = "/builds"
  environment = ["A=1", "B=two words"]
  limit = 2
  [runners.custom_build_dir]
    enabled = true
  [runners.cache]
    Type = "s3"
    Shared = true
    [runners.cache.s3]
      ServerAddress = "s3.example.com"
      BucketName = "cache"
  [runners.docker]
    image = "alpine:3"
    privileged = false
    volumes = ["/cache", "/var/run/docker.sock:/var/run/docker.sock"]

[[runners]]
  name = "shell"
  url = "http://127.0.0.1:1"
  token = "glrt-plain"
  executor = "shell"
`;

async function tempConfig(text: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "runner-read-config-" });
  const path = join(dir, "config.toml");
  await Deno.writeTextFile(path, text);
  return path;
}

function options(env: Record<string, string>, configTarget: string | null = null) {
  return { execPath: Deno.execPath(), sourceDir: SOURCE_DIR, env, configTarget };
}

Deno.test("read-config's child loads config.toml as loadConfigFile does, warnings and $VAR tokens included", async () => {
  const path = await tempConfig(CONFIG);
  const env = { RUNNER_TOKEN: "glrt-from-env", PATH: Deno.env.get("PATH") ?? "" };
  const child = await readConfigInChild(path, options(env));
  const inProcess = await loadConfigFile(path, { env, missingFile: "empty" });
  assert.equal(child?.config.runners[0]?.token, "glrt-from-env");
  assert.ok(child.warnings.length > 0, "the unknown key is a warning");
  assert.deepEqual(child, inProcess);
  await Deno.remove(join(path, ".."), { recursive: true });
});

Deno.test("read-config's child reads a linked config.toml, and a missing one is the defaults", async () => {
  const target = await tempConfig(CONFIG.replace("$RUNNER_TOKEN", "glrt-x"));
  const dir = await Deno.makeTempDir({ prefix: "runner-read-config-link-" });
  const link = join(dir, "config.toml");
  await Deno.symlink(target, link);
  const linked = await readConfigInChild(link, options({}, target));
  assert.equal(linked?.config.concurrent, 4);
  const missing = await readConfigInChild(join(dir, "absent.toml"), options({}));
  assert.deepEqual(
    missing,
    await loadConfigFile(join(dir, "absent.toml"), {
      env: {},
      missingFile: "empty",
    }),
  );
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(join(target, ".."), { recursive: true });
});

Deno.test("read-config's child: a config.toml that does not parse is null", async () => {
  const path = await tempConfig("concurrent = [unclosed\n");
  assert.equal(await readConfigInChild(path, options({})), null);
  await Deno.remove(join(path, ".."), { recursive: true });
});

Deno.test("parse-config's child parses config.toml text as parseConfig does, warnings and $VAR tokens included", async () => {
  const env = { RUNNER_TOKEN: "glrt-from-env", PATH: Deno.env.get("PATH") ?? "" };
  const file = "/etc/runner/config.toml";
  const child = await parseConfigInChild(CONFIG, file, options(env));
  assert.equal(child?.config.runners[0]?.token, "glrt-from-env");
  assert.ok(child.warnings.length > 0, "the unknown key is a warning");
  assert.deepEqual(child, parseConfig(CONFIG, { file, env }));
});

Deno.test("parse-config's child: text that does not load is parseConfig's ConfigError, file, line and key", async () => {
  const text = `concurrent = 2\n[[runners]]\nname = "a"\nlimit = "two"\n`;
  const error = await parseConfigInChild(text, "/etc/runner/config.toml", options({})).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof ConfigError, String(error));
  assert.equal(
    error.message,
    `/etc/runner/config.toml:4: key runners[0].limit must be an integer, got "two"`,
  );
  assert.equal(error.problems[0]?.key, "runners[0].limit");
});

Deno.test("parse-config's child that cannot start answers null (the poller parses itself)", async () => {
  const nowhere = { ...options({}), execPath: "/nonexistent/deno" };
  assert.equal(await parseConfigInChild("concurrent = 2\n", "config.toml", nowhere), null);
});
