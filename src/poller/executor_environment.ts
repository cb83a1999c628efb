/**
 * The environment an executor process starts with: an allow-list, not the
 * runner's environment minus known names. A runner token expanded from
 * `token = "$GL_TOKEN"`, a cloud credential or anything else the operator keeps
 * in the runner's environment stays in the poller; shell jobs inherit this set
 * (the official runner passes its whole environment). Anything else a job or
 * custom driver needs goes into `environment = [...]` of config.toml.
 */

/** Variables passed by exact name. */
export const EXECUTOR_ENV_NAMES: readonly string[] = [
  // The user's session, as `su -l` would set it.
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TERM",
  "TMPDIR",
  "HOSTNAME",
  "XDG_RUNTIME_DIR",
  "NO_COLOR",
  // Proxies and trust roots for git, artifact and cache transfers.
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "all_proxy",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  // git's own (libcurl-gnutls, as Debian builds it, reads no SSL_CERT_FILE).
  "GIT_SSL_CAINFO",
  "GIT_SSL_CAPATH",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  // Extra CAs for node:https too (cache uploads to S3/GCS), which DENO_CERT does not reach.
  "NODE_EXTRA_CA_CERTS",
  // Where the runtime finds its module cache when run from source.
  "DENO_DIR",
  // Docker daemon and registry settings the docker executors read (config/docker_endpoint.ts).
  "DOCKER_HOST",
  "DOCKER_CERT_PATH",
  "DOCKER_TLS_VERIFY",
  "DOCKER_AUTH_CONFIG",
];

/** Variables passed by prefix: locale categories. */
export const EXECUTOR_ENV_PREFIXES: readonly string[] = ["LC_"];

/** The allow-listed part of `env`, plus what the runtime itself needs. */
export function executorEnvironment(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (
      EXECUTOR_ENV_NAMES.includes(name) || EXECUTOR_ENV_PREFIXES.some((p) => name.startsWith(p))
    ) out[name] = value;
  }
  out["DENO_NO_UPDATE_CHECK"] = "1";
  return out;
}
