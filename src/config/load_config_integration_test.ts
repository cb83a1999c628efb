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

Deno.test("a config.toml that is not UTF-8 is refused naming the line and byte; a UTF-8 BOM and CRLF load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-load-" });
  const path = join(dir, "config.toml");
  const load = async (bytes: Uint8Array) => {
    await Deno.writeFile(path, bytes);
    return await loadConfigFile(path, { env: {}, missingFile: "error" });
  };
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const refusal = async (bytes: Uint8Array) => {
    const error = await load(bytes).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof ConfigError, `refused: ${error}`);
    return error.message;
  };
  try {
    // Latin-1 "é" in a name: a lenient decode made it "caf\uFFFD" without a word.
    const latin1 = utf8(`concurrent = 2\n[[runners]]\nname = "cafX"\n`);
    latin1[latin1.indexOf("X".charCodeAt(0))] = 0xe9;
    assert.equal(
      await refusal(latin1),
      `${path}:3: Invalid UTF-8 at column 12: byte 0xe9 (TOML files must be UTF-8)`,
    );
    // "c = 1" as Windows Notepad saves "Unicode": UTF-16LE with its byte order mark.
    const utf16 = new Uint8Array([0xff, 0xfe, ...[...utf8("c = 1\n")].flatMap((b) => [b, 0])]);
    assert.equal(
      await refusal(utf16),
      `${path}: Invalid UTF-8: the file starts with a UTF-16 byte order mark (TOML files must be UTF-8)`,
    );
    assert.equal(
      await refusal(utf8("concurrent = 2\nc\0o = 1\n")),
      `${path}:2: Invalid TOML at column 2: a NUL byte (is the file UTF-16?) (TOML files must be UTF-8)`,
    );
    const named = `concurrent = 3\r\n[[runners]]\r\nname = "café"\r\n`;
    for (const bytes of [utf8(named), new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(named)])]) {
      const loaded = await load(bytes);
      assert.equal(loaded.config.concurrent, 3);
      assert.equal(loaded.config.runners[0]?.name, "café");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
