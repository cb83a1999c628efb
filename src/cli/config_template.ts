/**
 * `register --template-config FILE` (TEMPLATE_CONFIG_FILE): a config.toml
 * holding exactly one `[[runners]]` entry whose settings fill what the flags
 * left empty, as the official runner does it (commands/register.go:
 * `mergo.Merge(runner, template.Runners[0])` without override):
 *
 * - a setting given by a flag (or its environment variable) wins, unless its
 *   value is empty: "", 0, false, an empty list (mergo fills empty values);
 * - tables merge key by key with the same rule, maps included (a
 *   `--feature-flags FF_X:false` loses to the template's `FF_X = true`);
 * - the template's `token` is dropped, and so is its `name`: register always
 *   names the runner (`--name` or the host name), so upstream never takes it.
 *
 * The file is validated like config.toml (same errors, naming file, line and
 * key); global settings in it are not used, and each one is warned about.
 */
import { ConfigError, type ConfigWarning } from "../config/config_error.ts";
import { decodeConfigText } from "../config/config_text.ts";
import { parseGoDuration } from "../config/go_duration.ts";
import { expandEnv } from "../config/env_expansion.ts";
import { parseConfig, parseTomlDocument } from "../config/parse_config.ts";
import { CONFIG_KEYS } from "../config/schema.ts";

export interface ConfigTemplate {
  /** The template's `[[runners]]` entry as written (config.toml spelling), minus token and name. */
  runner: Record<string, unknown>;
  /** Load warnings (unsupported keys…) and what of the file is not used. */
  warnings: ConfigWarning[];
}

/** Template problems the official runner reports in the same words. */
export class ConfigTemplateError extends Error {
  override readonly name = "ConfigTemplateError";
}

/** Reads and validates the template `path`. Throws ConfigTemplateError naming the file. */
export async function loadConfigTemplate(
  path: string,
  env: Readonly<Record<string, string>>,
): Promise<ConfigTemplate> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ConfigTemplateError(
      `Cannot load the configuration template file "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  let text: string;
  let warnings: ConfigWarning[];
  try {
    text = decodeConfigText(bytes, path);
    // Whether the executor is one we have and has what it needs, and whether the URL is one
    // GitLab can be asked at, are told once the entry is whole (flags and template): a template
    // without url was warned about as one that "never asks for jobs".
    warnings = parseConfig(text, { file: path, env }).warnings
      .filter((w) => !["unsupported_executor", "missing_key", "invalid_url"].includes(w.kind));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigTemplateError(
      `Cannot load the configuration template file "${path}": ${error.message}`,
      { cause: error },
    );
  }
  const document = parseTomlDocument(text);
  const runners = document["runners"];
  if (!Array.isArray(runners) || runners.length !== 1 || !isTable(runners[0])) {
    const count = Array.isArray(runners) ? runners.length : 0;
    throw new ConfigTemplateError(
      `Configuration template "${path}" must contain exactly one [[runners]] entry, it has ${count}`,
    );
  }
  const notice = (key: string, message: string): ConfigWarning => ({
    file: path,
    line: null,
    key,
    kind: "unsupported_key",
    message,
  });
  for (const key of Object.keys(document)) {
    if (key === "runners") continue;
    warnings.push(
      notice(
        key,
        `key ${key} is not used: register takes only the [[runners]] entry of a template`,
      ),
    );
  }
  const runner = runners[0];
  // As in config.toml, the url may name $VARs; upstream's load expands them.
  if (typeof runner["url"] === "string") runner["url"] = expandEnv(runner["url"], env);
  for (const key of ["token", "name"] as const) {
    if (runner[key] === undefined) continue;
    delete runner[key];
    const why = key === "token"
      ? "the token comes from --token or --registration-token"
      : "the name comes from --name or the host name";
    warnings.push(notice(`runners[0].${key}`, `key runners[0].${key} is not used: ${why}`));
  }
  return { runner, warnings };
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** The schema type of the key at `path` inside a [[runners]] table, if we know it. */
function keyType(path: readonly string[]): string | undefined {
  const section = ["runners", ...path.slice(0, -1)].join(".");
  const name = path[path.length - 1];
  return CONFIG_KEYS.find((k) => k.section === section && k.key === name)?.type;
}

/** mergo's isEmptyValue over TOML values; a duration is empty when it is zero. */
function isEmptyValue(path: readonly string[], value: unknown): boolean {
  if (value === "" || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "string" && keyType(path) === "duration") {
    try {
      return parseGoDuration(value) === 0;
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Fills `target` (the flags' [[runners]] table) from `template` where the
 * flags left a setting absent or empty; tables merge key by key.
 */
export function mergeTemplate(
  target: Record<string, unknown>,
  template: Record<string, unknown>,
  path: readonly string[] = [],
): void {
  for (const [key, value] of Object.entries(template)) {
    const here = [...path, key];
    const given = target[key];
    if (given === undefined) target[key] = value;
    else if (isTable(given) && isTable(value)) mergeTemplate(given, value, here);
    else if (isEmptyValue(here, given) && !isEmptyValue(here, value)) target[key] = value;
  }
}
