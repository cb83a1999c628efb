/**
 * One flag per `[[runners]]` key, as the official `register` and `run-single`
 * have them: `--builds-dir`, `--docker-image`, `--ssh-host`, `--custom-run-exec`…
 * derived from the config schema so a new key gets its flag for free, with the
 * official environment variable names (RUNNER_BUILDS_DIR, DOCKER_IMAGE, …).
 *
 * The official runner generates these flags from the struct tags of its
 * config (golang-cli-helpers over urfave/cli): every `long:"…"` field is a
 * flag, including keys we accept but do not act on (they are written to
 * config.toml and warned about like any such key) and map keys, which take
 * `key:value` items (go-flags' map syntax, split at the first colon):
 * `--docker-sysctls net.ipv4.ip_forward:1 --feature-flags FF_X:true`.
 */
import { stringify } from "smol-toml";
import { parseGoDuration } from "../config/go_duration.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { parseConfig } from "../config/parse_config.ts";
import type { ConfigWarning } from "../config/config_error.ts";
import { CONFIG_KEYS, type KeySpec } from "../config/schema.ts";
import { type Flags, type FlagSpec, type FlagType, UsageError } from "./flags.ts";

const SECTION_PREFIX: Record<string, { flag: string; env: string }> = {
  "runners": { flag: "", env: "RUNNER_" },
  "runners.custom_build_dir": { flag: "custom_build_dir-", env: "CUSTOM_BUILD_DIR_" },
  "runners.docker": { flag: "docker-", env: "DOCKER_" },
  "runners.ssh": { flag: "ssh-", env: "SSH_" },
  "runners.custom": { flag: "custom-", env: "CUSTOM_" },
  "runners.cache": { flag: "cache-", env: "CACHE_" },
  "runners.cache.s3": { flag: "cache-s3-", env: "CACHE_S3_" },
  "runners.cache.gcs": { flag: "cache-gcs-", env: "CACHE_GCS_" },
  "runners.cache.azure": { flag: "cache-azure-", env: "CACHE_AZURE_" },
};

/** Official names that do not follow the pattern; `env: null`: the official flag has none. */
const OVERRIDES: Record<string, { flag?: string; aliases?: string[]; env?: string | null }> = {
  "runners.name": { aliases: ["description"], env: "RUNNER_NAME" },
  "runners.url": { aliases: ["u"], env: "CI_SERVER_URL" },
  "runners.token": { aliases: ["t"], env: "CI_SERVER_TOKEN" },
  "runners.executor": { env: "RUNNER_EXECUTOR" },
  "runners.clone_url": { env: "CLONE_URL" },
  "runners.environment": { flag: "env", env: "RUNNER_ENV" },
  "runners.tls-ca-file": { env: "CI_SERVER_TLS_CA_FILE" },
  "runners.tls-cert-file": { env: "CI_SERVER_TLS_CERT_FILE" },
  "runners.tls-key-file": { env: "CI_SERVER_TLS_KEY_FILE" },
  "runners.feature_flags": { env: "FEATURE_FLAGS" },
  "runners.step_runner_image": { env: "STEP_RUNNER_IMAGE" },
  // No flag upstream: labels come from config.toml or a --template-config file,
  // the ID from GitLab.
  "runners.labels": { flag: "" },
  "runners.id": { flag: "" },
  "runners.docker.tls_cert_path": { flag: "docker-cert-path", env: "DOCKER_CERT_PATH" },
  "runners.docker.tls_verify": { flag: "docker-tlsverify", env: "DOCKER_TLS_VERIFY" },
  "runners.docker.container_labels": { env: null },
  "runners.docker.enable_ipv6": { env: null },
  "runners.docker.network_mtu": { env: null },
  "runners.docker.services_devices": { flag: "docker-services_devices" },
  "runners.custom.config_args": { env: null },
  "runners.custom.prepare_args": { env: null },
  "runners.custom.run_args": { env: null },
  "runners.custom.cleanup_args": { env: null },
  "runners.ssh.known_hosts_file": { env: "KNOWN_HOSTS_FILE" },
  "runners.ssh.disable_strict_host_key_checking": { env: "DISABLE_STRICT_HOST_KEY_CHECKING" },
  "runners.cache.MaxUploadedArchiveSize": {
    flag: "cache-max_uploaded_archive_size",
    env: "CACHE_MAXIMUM_UPLOADED_ARCHIVE_SIZE",
  },
  "runners.cache.s3.AuthenticationType": { flag: "cache-s3-authentication_type" },
  "runners.cache.gcs.CredentialsFile": { env: "GOOGLE_APPLICATION_CREDENTIALS" },
  // Spelled as the official struct tags spell them; our earlier spellings stay as aliases.
  "runners.job_status_final_update_retry_limit": {
    env: "RUNNER_job_status_final_update_retry_limit",
  },
  "runners.docker.ipcmode": { env: "DOCKER_IPC_MODE" },
  "runners.docker.services_privileged": {
    flag: "docker-services_privileged",
    aliases: ["docker-services-privileged"],
  },
  "runners.docker.allowed_users": {
    flag: "docker-allowed_users",
    aliases: ["docker-allowed-users"],
  },
  "runners.docker.userns_mode": {
    flag: "docker-userns",
    aliases: ["docker-userns-mode"],
    env: "DOCKER_USERNS_MODE",
  },
  "runners.docker.service_gpus": { flag: "docker-service_gpus", aliases: ["docker-service-gpus"] },
};

/** The official spelling of a key's flag part: `ServerAddress` -> `server-address`, `builds_dir` -> `builds-dir`. */
function flagWords(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/ID$/, "-id").replaceAll("_", "-")
    .replace(/--/g, "-").toLowerCase();
}

const FLAG_TYPES: Partial<Record<KeySpec["type"], FlagType>> = {
  // Go's int64, as config.toml takes them (config/_convert_value.ts).
  "int": "int64",
  "int-seconds": "int64",
  "float": "string",
  "duration": "string",
  "string": "string",
  "bool": "bool",
  "string[]": "list",
  // StringOrArray's UnmarshalFlag: each value replaces the list with its comma-separated items.
  "string-or-string[]": "string",
  "string-map": "map",
  "bool-map": "map",
  "string-list-map": "map",
};

interface RunnerFlag {
  spec: FlagSpec;
  key: KeySpec;
  /** Where the key sits in a [[runners]] table: ["docker", "sysctls"]. */
  tomlPath: string[];
}

function runnerFlags(): RunnerFlag[] {
  const flags: RunnerFlag[] = [];
  for (const key of CONFIG_KEYS) {
    const prefix = SECTION_PREFIX[key.section];
    const type = FLAG_TYPES[key.type];
    if (!prefix || !type) continue;
    const id = `${key.section}.${key.key}`;
    const o = OVERRIDES[id] ?? {};
    const words = flagWords(key.key);
    const name = o.flag ?? prefix.flag + words;
    if (name === "") continue;
    const env = o.env === undefined ? prefix.env + words.replaceAll("-", "_").toUpperCase() : o.env;
    flags.push({
      spec: {
        name,
        type,
        ...(env === null ? {} : { env }),
        help: key.description,
        ...(o.aliases ? { aliases: o.aliases } : {}),
        // A Go struct field behind urfave's GenericFlag: the variable is one item.
        envIsOneItem: true,
      },
      key,
      tomlPath: [...key.section.split(".").slice(1), key.key],
    });
  }
  return flags;
}

const FLAGS = runnerFlags();

/**
 * The flag that sets the key a config problem names (`runners[0].docker.pull_policy[0]`,
 * `runners.docker.isolation`): `docker-pull-policy`; null when no flag sets it.
 */
export function flagOfKey(key: string): string | null {
  const path = key.replace(/^runners(\[\d+\])?\./, "").replace(/\[\d+\]/g, "");
  const flag = FLAGS.find((f) => {
    const at = f.tomlPath.join(".");
    return path === at || path.startsWith(`${at}.`);
  });
  return flag?.spec.name ?? null;
}

/**
 * Official flags over tables that no command line can fill (`--runner-monitoring`
 * is a struct, `--job-queuing-duration` a list of structs). They are accepted
 * as names and refused when used, pointing to where the settings can go.
 */
const TABLE_FLAGS: FlagSpec[] = [
  { name: "runner-monitoring", type: "list", hidden: true, help: "[runners.monitoring]" },
  {
    name: "job-queuing-duration",
    type: "list",
    hidden: true,
    help: "[[runners.monitoring.job_queuing_durations]]",
  },
];

export const RUNNER_FLAGS: FlagSpec[] = [...FLAGS.map((f) => f.spec), ...TABLE_FLAGS];

/** go-flags' bool: empty means true, then strconv.ParseBool's spellings. */
function goBool(raw: string): boolean | null {
  if (raw === "" || ["1", "t", "T", "TRUE", "true", "True"].includes(raw)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(raw)) return false;
  return null;
}

/** `key:value` items of a map flag, as go-flags reads them (value after the first colon). */
function mapValue(flag: RunnerFlag, flags: Flags): Record<string, unknown> {
  const items = flags.list(flag.spec.name);
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const cut = item.indexOf(":");
    const key = cut < 0 ? item : item.slice(0, cut);
    const value = cut < 0 ? "" : item.slice(cut + 1);
    switch (flag.key.type) {
      case "bool-map": {
        const b = goBool(value);
        if (b === null) {
          throw new UsageError(
            `${flags.label(flag.spec.name)} takes KEY:true or KEY:false items, got "${item}"`,
          );
        }
        out[key] = b;
        break;
      }
      case "string-list-map":
        // Each item sets one key to a one-entry list, as upstream: a key given twice keeps the last.
        out[key] = [value];
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}

function tomlValue(flag: RunnerFlag, flags: Flags): unknown {
  const name = flag.spec.name;
  switch (flag.key.type) {
    case "int":
    case "int-seconds":
      return flags.int64(name);
    case "duration": {
      const text = flags.string(name);
      try {
        parseGoDuration(text);
      } catch (error) {
        throw new UsageError(
          `${flags.label(name)} takes a duration such as "90s" or "1h30m", got "${text}"`,
          { cause: error },
        );
      }
      return text;
    }
    case "float": {
      const text = flags.string(name);
      const value = Number(text);
      if (text.trim() === "" || !Number.isFinite(value)) {
        throw new UsageError(`${flags.label(name)} takes a number, got "${text}"`);
      }
      return value;
    }
    case "bool":
      return flags.bool(name);
    case "string[]":
      return flags.list(name);
    case "string-or-string[]": {
      const text = flags.string(name);
      return text === "" ? [] : text.split(",").map((item) => item.trim());
    }
    case "string-map":
    case "bool-map":
    case "string-list-map":
      return mapValue(flag, flags);
    default:
      return flags.string(name);
  }
}

/**
 * The `[[runners]]` table the given flags (and their environment variables)
 * describe, in config.toml spelling: `{ docker: { sysctls: { … } } }`. Only
 * keys whose flag was given appear. Throws UsageError for a value a flag
 * cannot take.
 */
export function runnerTableFromFlags(flags: Flags): Record<string, unknown> {
  for (const spec of TABLE_FLAGS) {
    if (flags.has(spec.name)) {
      throw new UsageError(
        `Flag --${spec.name} cannot be given on the command line: ${spec.help} is a table; write it in the file given to --template-config`,
      );
    }
  }
  const table: Record<string, unknown> = {};
  for (const flag of FLAGS) {
    if (!flags.has(flag.spec.name)) continue;
    let node = table;
    for (const part of flag.tomlPath.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[flag.tomlPath[flag.tomlPath.length - 1]!] = tomlValue(flag, flags);
  }
  return table;
}

export interface ParsedRunnerTable {
  runner: RunnerConfig;
  /** Keys accepted but not acted on, and the like; `file` is the given source name, no line. */
  warnings: ConfigWarning[];
}

/**
 * Validates a `[[runners]]` table (from flags, maybe merged with a template)
 * the way config.toml is validated, every default filled. Throws ConfigError
 * naming the key of a bad value, with `source` in place of a file name.
 */
export function parseRunnerTable(
  table: Record<string, unknown>,
  options: { source: string; env: Readonly<Record<string, string>> },
): ParsedRunnerTable {
  // url and token are taken literally: only config.toml expands $VAR in them.
  const { url, token, ...rest } = table;
  const text = stringify({ runners: [rest] });
  const { config, warnings } = parseConfig(text, { file: options.source, env: options.env });
  const runner = config.runners[0]!;
  if (typeof url === "string") runner.url = url;
  if (typeof token === "string") runner.token = token;
  return { runner, warnings: warnings.map((w) => ({ ...w, line: null })) };
}

/**
 * Sets every runner key whose flag (or environment variable) was given on
 * `runner`, a fresh entry; returns the warnings about keys not acted on.
 */
export function applyRunnerFlags(runner: RunnerConfig, flags: Flags): ConfigWarning[] {
  const table = runnerTableFromFlags(flags);
  if (runner.executor && table["executor"] === undefined) table["executor"] = runner.executor;
  const parsed = parseRunnerTable(table, { source: "command line", env: {} });
  Object.assign(runner, parsed.runner);
  return parsed.warnings;
}
