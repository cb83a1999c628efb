/**
 * GlobalConfig -> config.toml text, with the official key names. Like the
 * official runner we re-encode the whole document rather than edit the original
 * (comments are lost); keys we accept but do not model, and unknown keys, are
 * written back from `unsupported`. We write only meaningful keys: values that
 * differ from the default, plus the keys the official runner always writes
 * (concurrent, check_interval, shutdown_timeout, session_timeout, the runner
 * identity and token dates, [runners.cache] MaxUploadedArchiveSize and the basic
 * [runners.docker] keys for docker executors).
 */
import { stringify } from "smol-toml";
import { isSameConfigValue } from "./config_equal.ts";
import type { GlobalConfig, RunnerConfig } from "./runner_config.ts";
import type { KeySpec } from "./schema.ts";
import { convertValue, toTomlRaw, toTomlValue, typedDefault } from "./_convert_value.ts";
import {
  arrayFieldPath,
  getField,
  keyFieldPath,
  type Obj,
  relativeToRoot,
  setField,
  supportedArraysOfRoot,
  supportedKeysOfRoot,
} from "./_field_path.ts";
import { defaultCleanGitConfig, isContainerExecutor, isDockerExecutor } from "./default_config.ts";

/** The default a key would get on load, given the rest of the object. */
function effectiveDefault(key: KeySpec, obj: Obj): unknown {
  const runner = obj as unknown as RunnerConfig;
  switch (`${key.section}.${key.key}`) {
    case "runners.safe_directory_checkout":
    case "runners.custom_build_dir.enabled":
      return isContainerExecutor(runner.executor);
    case "runners.clean_git_config":
      return defaultCleanGitConfig(runner.executor);
    case "runners.docker.allowed_pull_policies":
      return runner.docker.pullPolicy;
    default:
      return typedDefault(key);
  }
}

function isSaved(key: KeySpec, obj: Obj, value: unknown): boolean {
  if (value === null) return false;
  if (key.saved === "always") return true;
  if (key.saved === "docker" && isDockerExecutor(String(obj["executor"] ?? ""))) return true;
  return !isSameConfigValue(value, effectiveDefault(key, obj));
}

function tomlPath(section: string, root: string, key: string): string[] {
  const relative = relativeToRoot(section, root);
  return relative === "" ? [key] : [...relative.split("."), key];
}

function encodeRoot(obj: Obj, root: string): Obj {
  const out: Obj = {};
  for (const key of supportedKeysOfRoot(root)) {
    const value = getField(obj, keyFieldPath(key));
    if (!isSaved(key, obj, value)) continue;
    setField(out, tomlPath(key.section, root, key.key), toTomlValue(key, value));
  }
  if (root === "runners") {
    const runner = obj as unknown as RunnerConfig;
    for (const name of ["url", "token"] as const) {
      const expansion = runner.envExpansion[name];
      // Keep `$VAR` in the file while the value is still what it expanded to.
      if (expansion !== null && expansion.value === runner[name]) out[name] = expansion.template;
    }
  }
  for (const array of supportedArraysOfRoot(root)) {
    const items = getField(obj, arrayFieldPath(array.path)) as Obj[];
    if (items.length === 0) continue;
    const path = relativeToRoot(array.path, root).split(".");
    setField(out, path, items.map((item) => encodeRoot(item, array.path)));
  }
  const keys = supportedKeysOfRoot(root);
  for (const [path, raw] of Object.entries((obj["unsupported"] ?? {}) as Obj)) {
    const key = keys.find((k) => tomlPath(k.section, root, k.key).join(".") === path);
    if (key !== undefined) {
      // The integer a modelled key was written with beyond ±2^53 (parse_config.ts
      // keepExactInteger): written back while the key still holds what it was read as.
      const read = convertValue(key.type, toTomlRaw(raw));
      if (!read.ok) continue;
      // A negative one of a key whose values below 1 mean its default was read as that.
      const readAs = key.belowOne === "default" && (read.value as number) < 1
        ? typedDefault(key)
        : read.value;
      if (!isSameConfigValue(readAs, getField(obj, keyFieldPath(key)))) continue;
    }
    setField(out, path.split("."), toTomlRaw(raw));
  }
  return out;
}

/** The config.toml text for `config`. */
export function encodeConfig(config: GlobalConfig): string {
  return stringify(encodeRoot(config as unknown as Obj, ""));
}
