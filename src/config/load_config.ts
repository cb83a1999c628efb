/** Reads and validates config.toml from disk (the file-reading edge of config/). */
import { ConfigError } from "./config_error.ts";
import { decodeConfigText } from "./config_text.ts";
import { defaultConfig } from "./default_config.ts";
import { type LoadedConfig, parseConfig } from "./parse_config.ts";

export interface LoadConfigOptions {
  /** Variables for $VAR expansion in [[runners]] url and token. */
  env: Readonly<Record<string, string>>;
  /**
   * What a missing file means: `empty` (run, register: an empty config) or
   * `error` (lint).
   */
  missingFile: "empty" | "error";
}

export interface LoadedConfigFile extends LoadedConfig {
  /** The text that was validated; null when the file was missing. */
  text: string | null;
}

/** Loads `path`. Throws ConfigError naming the file (and line and key when known). */
export async function loadConfigFile(
  path: string,
  options: LoadConfigOptions,
): Promise<LoadedConfigFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && options.missingFile === "empty") {
      return { config: defaultConfig(), warnings: [], text: null };
    }
    const reason = error instanceof Deno.errors.NotFound
      ? "the file does not exist"
      : (error as Error).message;
    throw new ConfigError([{
      file: path,
      line: null,
      key: "",
      message: `Cannot read config file: ${reason}`,
    }], {
      cause: error,
    });
  }
  const text = decodeConfigText(bytes, path);
  return { ...parseConfig(text, { file: path, env: options.env }), text };
}
