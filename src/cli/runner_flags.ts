/**
 * One flag per `[[runners]]` key, as the official `register` and `run-single`
 * have them: `--builds-dir`, `--docker-image`, `--ssh-host`, `--custom-run-exec`…
 * derived from the config schema so a new key gets its flag for free, with the
 * official environment variable names (RUNNER_BUILDS_DIR, DOCKER_IMAGE, …).
 */
import { parseGoDuration } from "../config/go_duration.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { CONFIG_KEYS, type KeySpec } from "../config/schema.ts";
import type { Flags, FlagSpec, FlagType } from "./flags.ts";

const SECTION_PREFIX: Record<string, { flag: string; env: string; target: string[] }> = {
  "runners": { flag: "", env: "RUNNER_", target: [] },
  "runners.docker": { flag: "docker-", env: "DOCKER_", target: ["docker"] },
  "runners.ssh": { flag: "ssh-", env: "SSH_", target: ["ssh"] },
  "runners.custom": { flag: "custom-", env: "CUSTOM_", target: ["custom"] },
  "runners.cache": { flag: "cache-", env: "CACHE_", target: ["cache"] },
  "runners.cache.s3": { flag: "cache-s3-", env: "CACHE_S3_", target: ["cache", "s3"] },
  "runners.cache.gcs": { flag: "cache-gcs-", env: "CACHE_GCS_", target: ["cache", "gcs"] },
  "runners.cache.azure": { flag: "cache-azure-", env: "CACHE_AZURE_", target: ["cache", "azure"] },
};

/** Official names that do not follow the pattern. */
const OVERRIDES: Record<string, { flag?: string; aliases?: string[]; env?: string }> = {
  "runners.name": { aliases: ["description"], env: "RUNNER_NAME" },
  "runners.url": { aliases: ["u"], env: "CI_SERVER_URL" },
  "runners.token": { aliases: ["t"], env: "CI_SERVER_TOKEN" },
  "runners.executor": { env: "RUNNER_EXECUTOR" },
  "runners.clone_url": { env: "CLONE_URL" },
  "runners.environment": { flag: "env", env: "RUNNER_ENV" },
  "runners.tls-ca-file": { env: "CI_SERVER_TLS_CA_FILE" },
  "runners.tls-cert-file": { env: "CI_SERVER_TLS_CERT_FILE" },
  "runners.tls-key-file": { env: "CI_SERVER_TLS_KEY_FILE" },
  "runners.docker.tls_cert_path": { flag: "docker-cert-path", env: "DOCKER_CERT_PATH" },
  "runners.docker.tls_verify": { flag: "docker-tlsverify", env: "DOCKER_TLS_VERIFY" },
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
  "int": "int",
  "int-seconds": "int",
  "float": "string",
  "duration": "string",
  "string": "string",
  "bool": "bool",
  "string[]": "list",
  "string-or-string[]": "list",
};

interface RunnerFlag {
  spec: FlagSpec;
  key: KeySpec;
  target: string[];
}

function runnerFlags(): RunnerFlag[] {
  const flags: RunnerFlag[] = [];
  for (const key of CONFIG_KEYS) {
    const prefix = SECTION_PREFIX[key.section];
    const type = FLAG_TYPES[key.type];
    if (!prefix || !type || !key.supported) continue;
    const id = `${key.section}.${key.key}`;
    const o = OVERRIDES[id] ?? {};
    const words = flagWords(key.key);
    const name = o.flag ?? prefix.flag + words;
    const env = o.env ?? prefix.env + words.replaceAll("-", "_").toUpperCase();
    flags.push({
      spec: {
        name,
        type,
        env,
        help: key.description,
        ...(o.aliases ? { aliases: o.aliases } : {}),
      },
      key,
      target: prefix.target,
    });
  }
  return flags;
}

const FLAGS = runnerFlags();

export const RUNNER_FLAGS: FlagSpec[] = FLAGS.map((f) => f.spec);

function convert(key: KeySpec, flags: Flags, name: string): unknown {
  switch (key.type) {
    case "int":
    case "int-seconds":
      return flags.int(name);
    case "duration":
      return parseGoDuration(flags.string(name));
    case "float":
      return Number(flags.string(name));
    case "bool":
      return flags.bool(name);
    case "string[]":
    case "string-or-string[]":
      return flags.list(name);
    default:
      return flags.string(name);
  }
}

/** Sets every runner key whose flag (or environment variable) was given. */
export function applyRunnerFlags(runner: RunnerConfig, flags: Flags): void {
  for (const flag of FLAGS) {
    if (!flags.has(flag.spec.name)) continue;
    let target = runner as unknown as Record<string, unknown>;
    for (const part of flag.target) target = target[part] as Record<string, unknown>;
    target[flag.key.field] = convert(flag.key, flags, flag.spec.name);
  }
}
