/**
 * What a custom executor driver's `config_exec` prints on stdout: a JSON
 * object whose keys override the runner's settings for this job. Every key is
 * optional; unknown keys are ignored (and listed, for a warning) and `null`
 * counts as absent (a `null` entry of `job_env` is the empty string), like
 * the official runner (Go's encoding/json, which also matches key names
 * case-insensitively when no exact match exists). Pure: no I/O.
 */

export interface ConfigExecOutput {
  buildsDir?: string;
  cacheDir?: string;
  isBuildsDirShared?: boolean;
  /** Shown as `Running on … via <hostname>...` in prepare_script. */
  hostname?: string;
  driver?: { name?: string; version?: string };
  /** Extra environment for later driver calls (not for the job). */
  jobEnv?: Record<string, string>;
  shell?: string;
  /**
   * Keys this runner does not know (a typo such as `build_dir`, or a newer
   * runner's key), as JSON paths: ignored, and named in a job log warning.
   */
  unknownKeys?: string[];
}

const KEYS = [
  "builds_dir",
  "cache_dir",
  "builds_dir_is_shared",
  "hostname",
  "driver",
  "job_env",
  "shell",
] as const;
const DRIVER_KEYS = ["name", "version"] as const;

/**
 * Parses config_exec's stdout. Empty (or blank) output means "no overrides".
 * Throws an `Error` whose message says what is wrong: invalid JSON, not an
 * object, or a key of the wrong type (named with its JSON path).
 */
export function parseConfigExecOutput(text: string): ConfigExecOutput {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`invalid JSON: ${jsonProblem(e)}; output was ${preview(text)}`, { cause: e });
  }
  if (value === null) return {};
  if (!isObject(value)) {
    throw new Error(`expected a JSON object, got ${describe(value)}`);
  }
  const out: ConfigExecOutput = {};
  const unknownKeys = unknownKeysOf(value, KEYS, "");
  const buildsDir = stringAt(value, "builds_dir", "builds_dir");
  if (buildsDir !== undefined) out.buildsDir = buildsDir;
  const cacheDir = stringAt(value, "cache_dir", "cache_dir");
  if (cacheDir !== undefined) out.cacheDir = cacheDir;
  const shared = field(value, "builds_dir_is_shared");
  if (shared !== undefined) {
    if (typeof shared !== "boolean") {
      throw new Error(`"builds_dir_is_shared" must be a boolean, got ${describe(shared)}`);
    }
    out.isBuildsDirShared = shared;
  }
  const hostname = stringAt(value, "hostname", "hostname");
  if (hostname !== undefined) out.hostname = hostname;
  const shell = stringAt(value, "shell", "shell");
  if (shell !== undefined) out.shell = shell;

  const driver = field(value, "driver");
  if (driver !== undefined) {
    if (!isObject(driver)) throw new Error(`"driver" must be an object, got ${describe(driver)}`);
    out.driver = {};
    unknownKeys.push(...unknownKeysOf(driver, DRIVER_KEYS, "driver."));
    const name = stringAt(driver, "name", "driver.name");
    if (name !== undefined) out.driver.name = name;
    const version = stringAt(driver, "version", "driver.version");
    if (version !== undefined) out.driver.version = version;
  }

  const jobEnv = field(value, "job_env");
  if (jobEnv !== undefined) {
    if (!isObject(jobEnv)) throw new Error(`"job_env" must be an object, got ${describe(jobEnv)}`);
    out.jobEnv = {};
    for (const [key, entry] of Object.entries(jobEnv)) {
      // As Go decodes a map of strings: a null entry is the empty string.
      const v = entry === null ? "" : entry;
      if (typeof v !== "string") {
        throw new Error(`"job_env.${key}" must be a string, got ${describe(v)}`);
      }
      if (key === "" || key.includes("=") || key.includes("\0") || v.includes("\0")) {
        throw new Error(`"job_env.${key}" cannot be an environment variable`);
      }
      out.jobEnv[key] = v;
    }
  }
  if (unknownKeys.length > 0) out.unknownKeys = unknownKeys;
  return out;
}

/** Keys of `obj` that match none of `known`, even case-insensitively (as Go), prefixed. */
function unknownKeysOf(obj: Obj, known: readonly string[], prefix: string): string[] {
  return Object.keys(obj)
    .filter((key) => !known.includes(key.toLowerCase()))
    .map((key) => `${prefix}${key}`);
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value under `key`; an exact match wins, else a case-insensitive one (as Go). */
function field(obj: Obj, key: string): unknown {
  let value: unknown;
  if (Object.hasOwn(obj, key)) value = obj[key];
  else {
    const lower = key.toLowerCase();
    const match = Object.keys(obj).find((k) => k.toLowerCase() === lower);
    value = match === undefined ? undefined : obj[match];
  }
  return value === null ? undefined : value;
}

function stringAt(obj: Obj, key: string, path: string): string | undefined {
  const value = field(obj, key);
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new Error(`"${path}" must be a string, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value} (${JSON.stringify(value)})`;
}

/**
 * JSON.parse's complaint on one line, without the copy of the input V8 puts
 * in some (`Unexpected token 'H', "Hello\n" is not valid JSON`): the output
 * is quoted once, after it.
 */
function jsonProblem(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/, ".*"(\.\.\.)? is not valid JSON$/s, "")
    // deno-lint-ignore no-control-regex -- control characters are what is escaped
    .replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function preview(text: string): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > 200 ? `${trimmed.slice(0, 200)}…` : trimmed);
}
