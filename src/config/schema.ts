/**
 * Every config.toml key we know (spec/config-reference.md), with its official
 * spelling, type, default and priority. This table drives validation, default
 * filling, unknown-key detection, saving and docs/configuration.md.
 *
 * A key is modelled in GlobalConfig/RunnerConfig ("supported") when its section is
 * supported and it is not P3. Everything else is accepted, checked lightly, kept
 * raw so that saving preserves it, and reported once per load as
 * `key X is accepted but not supported`.
 */

export type Priority = "P1" | "P2" | "P3";

/**
 * How a TOML value is read. `int-seconds` is a plain integer of seconds;
 * `duration` is a Go duration string ("1h30m"); both become seconds internally.
 * `table` and `table[]` are kept as raw TOML.
 */
export type KeyType =
  | "int"
  | "int-seconds"
  | "float"
  | "float[]"
  | "duration"
  | "string"
  | "bool"
  | "string[]"
  | "string-or-string[]"
  | "datetime"
  | "string-map"
  | "bool-map"
  | "string-list-map"
  | "table"
  | "table[]";

/** A default as it would be written in TOML (durations as strings). */
export type TomlDefault =
  | string
  | number
  | boolean
  | null
  | readonly string[]
  | Readonly<Record<string, never>>;

export interface KeySpec {
  /** Dotted section path without array markers: "", "runners", "runners.docker". */
  readonly section: string;
  /** Official TOML spelling. */
  readonly key: string;
  readonly type: KeyType;
  /** Value used when the key is absent; null for a nullable bool ("unset"). */
  readonly default: TomlDefault;
  readonly priority: Priority;
  readonly description: string;
  /** Default as shown to users. */
  readonly defaultText: string;
  /** camelCase field in the config types. */
  readonly field: string;
  readonly supported: boolean;
  /** What a value below 1 means: the default, or a load error. */
  readonly belowOne?: "default" | "fatal";
  /** 0 means the default (negative values stay, e.g. -1 = disabled). */
  readonly zero?: "default";
  /** The default depends on other keys (executor, pull_policy, listen_address). */
  readonly dynamic?: boolean;
  readonly oneOf?: readonly string[];
  /**
   * Written by saveConfig even when it holds the default, like the official
   * runner does: "always", or "docker" for docker-family executors.
   */
  readonly saved?: "always" | "docker";
}

export interface SectionSpec {
  /** Dotted path: "session_server", "runners", "runners.cache.s3". */
  readonly path: string;
  /** `array`: [[x]] entries; `opaque`: accepted as a whole without checking keys. */
  readonly kind: "table" | "array" | "opaque";
  readonly priority: Priority;
  readonly supported: boolean;
  /**
   * Where the section lives, relative to the nearest enclosing array entry (or
   * the GlobalConfig root). Empty for sections flattened into their parent.
   */
  readonly field: readonly string[];
  readonly description: string;
}

type KeyOptions =
  & Partial<
    Pick<KeySpec, "belowOne" | "zero" | "dynamic" | "oneOf" | "saved" | "field" | "defaultText">
  >
  & {
    /**
     * false: a key of a supported section that nothing acts on yet. It is then
     * not modelled and warns like any unsupported key, never silently ignored.
     */
    implemented?: false;
  };

function sec(
  path: string,
  kind: SectionSpec["kind"],
  priority: Priority,
  supported: boolean,
  field: readonly string[],
  description: string,
): SectionSpec {
  return { path, kind, priority, supported, field, description };
}

/** Sections, parents before children. */
export const CONFIG_SECTIONS: readonly SectionSpec[] = [
  sec("", "table", "P1", true, [], "Global settings at the top of config.toml."),
  sec(
    "session_server",
    "table",
    "P1",
    true,
    ["sessionServer"],
    "Interactive web terminal server (shell and docker jobs).",
  ),
  sec("machine", "table", "P2", false, [], "Global docker+machine settings."),
  sec(
    "machine.shutdown_drain",
    "table",
    "P2",
    false,
    [],
    "Remove idle docker+machine machines on stop.",
  ),
  sec(
    "experimental",
    "opaque",
    "P3",
    false,
    [],
    "GitLab-internal usage logging ([experimental.usage_logger]).",
  ),
  sec("runners", "array", "P1", true, ["runners"], "One [[runners]] entry per registered runner."),
  sec("runners.custom_build_dir", "table", "P1", true, [], "Custom clone paths (GIT_CLONE_PATH)."),
  sec(
    "runners.cache",
    "table",
    "P2",
    true,
    ["cache"],
    "Distributed cache. The local cache needs no section.",
  ),
  sec("runners.cache.s3", "table", "P2", true, ["cache", "s3"], "S3 cache backend."),
  sec(
    "runners.cache.gcs",
    "table",
    "P2",
    true,
    ["cache", "gcs"],
    "Google Cloud Storage cache backend.",
  ),
  sec(
    "runners.cache.azure",
    "table",
    "P2",
    true,
    ["cache", "azure"],
    "Azure Blob Storage cache backend.",
  ),
  sec("runners.artifact", "table", "P1", true, ["artifact"], "Artifact upload deadlines."),
  sec(
    "runners.docker",
    "table",
    "P1",
    true,
    ["docker"],
    "Docker executors (docker, docker-windows, docker+machine, docker-autoscaler).",
  ),
  sec(
    "runners.docker.services",
    "array",
    "P2",
    true,
    ["docker", "services"],
    "Services started with every job.",
  ),
  sec("runners.ssh", "table", "P1", true, ["ssh"], "SSH executor."),
  sec("runners.custom", "table", "P1", true, ["custom"], "Custom executor driver programs."),
  sec(
    "runners.autoscaler",
    "table",
    "P2",
    false,
    [],
    "docker-autoscaler and instance executors (fleeting plugins).",
  ),
  sec("runners.instance", "table", "P3", false, [], "Instance executor."),
  sec(
    "runners.machine",
    "table",
    "P2",
    false,
    [],
    "docker+machine executor (deprecated upstream).",
  ),
  sec("runners.parallels", "table", "P3", false, [], "Parallels executor."),
  sec("runners.virtualbox", "table", "P3", false, [], "VirtualBox executor."),
  sec("runners.kubernetes", "opaque", "P3", false, [], "Kubernetes executor; accepted as a whole."),
  sec("runners.experimental", "table", "P3", false, [], "Experimental per-runner settings."),
  sec("runners.experimental.boot_verify", "table", "P3", false, [], "Synthetic job at start."),
  sec("runners.referees", "table", "P3", false, [], "Job referees."),
  sec("runners.referees.metrics", "table", "P3", false, [], "Prometheus metrics referee."),
  sec("runners.monitoring", "table", "P3", false, [], "Job monitoring."),
  sec(
    "runners.monitoring.job_queuing_durations",
    "array",
    "P3",
    false,
    [],
    "Acceptable job queuing durations.",
  ),
];

function fieldName(key: string): string {
  if (/[-_]/.test(key)) {
    return key.replace(/[-_]([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  }
  return key.charAt(0).toLowerCase() + key.slice(1);
}

function k(
  section: string,
  key: string,
  type: KeyType,
  defaultValue: TomlDefault,
  priority: Priority,
  description: string,
  options: KeyOptions = {},
): KeySpec {
  const owner = CONFIG_SECTIONS.find((s) => s.path === section);
  if (owner === undefined) throw new RangeError(`Schema names unknown section "${section}"`);
  return {
    section,
    key,
    type,
    default: defaultValue,
    priority,
    description,
    defaultText: options.defaultText ?? JSON.stringify(defaultValue),
    field: options.field ?? fieldName(key),
    supported: owner.supported && priority !== "P3" && options.implemented !== false,
    ...(options.belowOne === undefined ? {} : { belowOne: options.belowOne }),
    ...(options.zero === undefined ? {} : { zero: options.zero }),
    ...(options.dynamic === undefined ? {} : { dynamic: options.dynamic }),
    ...(options.oneOf === undefined ? {} : { oneOf: options.oneOf }),
    ...(options.saved === undefined ? {} : { saved: options.saved }),
  };
}

/** Every key, in documentation order. */
export const CONFIG_KEYS: readonly KeySpec[] = [
  k(
    "",
    "concurrent",
    "int",
    1,
    "P1",
    "Upper bound on jobs running at once across every [[runners]] entry; sizes the worker pool.",
    { belowOne: "fatal", saved: "always", defaultText: "1 (0 or below is fatal)" },
  ),
  k(
    "",
    "check_interval",
    "int-seconds",
    3,
    "P1",
    "Polling period: each [[runners]] entry starts at most one job request per interval (a job's follow-up request and a \"queue changed\" answer's go at once). Upstream also spaces the entries out over it (the interval divided by their number); here each entry keeps its own clock.",
    { belowOne: "default", saved: "always", defaultText: "3 (<=0 means 3)" },
  ),
  k(
    "",
    "log_level",
    "string",
    "info",
    "P1",
    "debug, info, warn, error, fatal, panic. A level given on the command line wins.",
    { oneOf: ["debug", "info", "warn", "warning", "error", "fatal", "panic"], defaultText: "info" },
  ),
  k(
    "",
    "log_format",
    "string",
    "runner",
    "P1",
    "runner (coloured), text or json. A format given on the command line wins.",
    { oneOf: ["runner", "text", "json"], defaultText: "runner" },
  ),
  k(
    "",
    "listen_address",
    "string",
    "",
    "P1",
    "Address of the HTTP server for /metrics, /debug/* and /health/ready; port 9252 is added when missing. A reload that changes it moves the server there; when the poller may not listen on the new address yet, it first lets the running jobs finish and restarts (no new jobs start meanwhile).",
    { defaultText: "unset = metrics server off" },
  ),
  k(
    "",
    "shutdown_timeout",
    "int-seconds",
    30,
    "P1",
    "How long forceful shutdown (and executor-provider shutdown) may take before the process exits anyway. Executor processes still running a job are then killed and their jobs reported failed (up to 5 s more); what their docker jobs left is removed before the exit (at most 10 s more, in the same time).",
    { belowOne: "default", saved: "always", defaultText: "30 (<=0 means 30)" },
  ),
  k(
    "",
    "connection_max_age",
    "duration",
    "15m",
    "P2",
    "Longest time the runner keeps using its connections to GitLab: after it, new requests go over new connections (a load balancer spreads them again) while requests under way finish on the old.",
    { defaultText: "15m (<=0: no limit)" },
  ),
  k("", "sentry_dsn", "string", "", "P3", "Send runner-level errors to Sentry.", {
    defaultText: "unset; falls back to SENTRY_DSN env",
  }),
  k(
    "",
    "user",
    "string",
    "",
    "P1",
    "User that shell-executor jobs run as (su -s /bin/<shell> <user> -c '<shell> -l'; the runner must be root, checked at start, and when a reload changes it: refused then, the previous config keeps running). runner run --user overrides it on every load.",
    { defaultText: '""' },
  ),
  k(
    "",
    "labels",
    "string-map",
    {},
    "P2",
    "Default labels for all runners (max 32 after merging; key/value patterns enforced). Sent to GitLab.",
    { defaultText: "{}" },
  ),
  k(
    "session_server",
    "listen_address",
    "string",
    "",
    "P1",
    "Where the TLS session server listens. A reload that changes it lets the running jobs finish (their terminals stay on the old address; no new jobs start meanwhile), then the poller restarts listening on the new one.",
    { defaultText: "unset = disabled" },
  ),
  k(
    "session_server",
    "advertise_address",
    "string",
    "",
    "P1",
    "Address reported to GitLab for terminal/proxy connections; also used as host for the self-signed certificate.",
    { dynamic: true, defaultText: "listen_address" },
  ),
  k(
    "session_server",
    "session_timeout",
    "int-seconds",
    1800,
    "P1",
    "How long a terminal session may stay attached after the job finished (keeps the job open).",
    { belowOne: "default", saved: "always", defaultText: "1800" },
  ),
  k(
    "machine.shutdown_drain",
    "enabled",
    "bool",
    false,
    "P2",
    "Remove idle docker+machine machines when the runner stops.",
    { defaultText: "false" },
  ),
  k("machine.shutdown_drain", "concurrency", "int", 3, "P2", "Parallel removals during drain.", {
    defaultText: "3",
  }),
  k("machine.shutdown_drain", "max_retries", "int", 3, "P2", "Removal attempts per machine.", {
    defaultText: "3",
  }),
  k(
    "machine.shutdown_drain",
    "retry_backoff",
    "duration",
    "5s",
    "P2",
    "Base back-off (multiplied by attempt number). Bounded by shutdown_timeout.",
    { defaultText: "5s" },
  ),
  k(
    "runners",
    "name",
    "string",
    "",
    "P1",
    "Free-text local name; used in logs, metrics (runner_name) and by commands that select a runner by name.",
    { saved: "always", defaultText: "host name (register)" },
  ),
  k(
    "runners",
    "url",
    "string",
    "",
    "P1",
    "GitLab base URL. $VAR / ${VAR} are expanded at load. A trailing /ci is stripped with a warning. An entry whose url is not an absolute http or https URL is warned about and never asks for jobs.",
    { saved: "always", defaultText: "required" },
  ),
  k(
    "runners",
    "token",
    "string",
    "",
    "P1",
    "Runner authentication token (glrt- prefix for new-style runners). $VAR expansion at load. Entries with empty token are skipped. Two entries with the same url and token are one runner: the last one is used, with a warning naming the other.",
    { saved: "always", defaultText: "required" },
  ),
  k(
    "runners",
    "id",
    "int",
    0,
    "P1",
    "Runner ID returned by GitLab; needed for token reset by ID and suspendable environments.",
    { saved: "always", defaultText: "written by register" },
  ),
  k(
    "runners",
    "token_obtained_at",
    "datetime",
    "0001-01-01T00:00:00Z",
    "P1",
    "When the token was issued; used for automatic rotation.",
    { saved: "always", defaultText: "written by register/reset" },
  ),
  k(
    "runners",
    "token_expires_at",
    "datetime",
    "0001-01-01T00:00:00Z",
    "P1",
    "Token expiry; rotation is scheduled at 75% of the lifetime.",
    { saved: "always", defaultText: "written by register/reset" },
  ),
  k(
    "runners",
    "tls-ca-file",
    "string",
    "",
    "P1",
    "Extra CA bundle (PEM) for GitLab over HTTPS: API, artifact transfers, and git in the job (as the CI_SERVER_TLS_CA_FILE file variable and http.<host>.sslCAInfo). Unreadable, or holding no PEM certificate: a warning, system roots only. Not read from the official certs/<host>.crt: a file there is named in a warning.",
    { defaultText: "unset (system roots only)" },
  ),
  k(
    "runners",
    "tls-cert-file",
    "string",
    "",
    "P2",
    "Client certificate (PEM, mutual TLS) for GitLab: API, artifact transfers, and git in the job (CI_SERVER_TLS_CERT_FILE, http.<host>.sslCert). Needs tls-key-file; alone it is ignored with a warning.",
    { defaultText: "unset" },
  ),
  k(
    "runners",
    "tls-key-file",
    "string",
    "",
    "P2",
    "Key (PEM) of tls-cert-file (CI_SERVER_TLS_KEY_FILE, http.<host>.sslKey in the job).",
    { defaultText: "unset" },
  ),
  k(
    "runners",
    "executor",
    "string",
    "",
    "P1",
    "shell, ssh, docker, docker+ssh or custom. Official executors this runner lacks (docker-windows, docker+machine, docker-autoscaler, kubernetes, instance, parallels, virtualbox) are reported at load and by lint (an error there); such an entry never asks for jobs.",
    { saved: "always", defaultText: "required" },
  ),
  k(
    "runners",
    "shell",
    "string",
    "",
    "P1",
    'bash or sh ("": bash). Any other shell (pwsh, powershell, fish) warns at load, naming the key: the shell, ssh, docker+ssh and custom executors fail every job on it, which lint reports as an error (custom with config_exec: a warning, config_exec may give a shell); the docker executor runs the image\'s bash or sh instead (a warning).',
    { defaultText: "executor default" },
  ),
  k(
    "runners",
    "builds_dir",
    "string",
    "",
    "P1",
    "Base directory for checkouts, in the executor's file system. The shell executor joins a relative one to its working directory (~ is not expanded); the docker executor needs an absolute path in the container: a relative one warns at load naming the key (an error in lint) and fails every job.",
    { defaultText: "executor default" },
  ),
  k(
    "runners",
    "cache_dir",
    "string",
    "",
    "P1",
    "Base directory for local cache archives, in the executor's file system. The shell executor joins a relative one to its working directory (~ is not expanded); the docker executor needs an absolute path in the container: a relative one warns at load naming the key (an error in lint) and fails every job.",
    { defaultText: "executor default" },
  ),
  k(
    "runners",
    "clone_url",
    "string",
    "",
    "P1",
    "Replaces scheme/host of the Git clone URL (not used for LFS, artifacts). A value that is not an absolute URL (scheme://host) warns at load naming the key (an error in lint) and fails every job (runner_configuration_error).",
    { defaultText: "unset" },
  ),
  k(
    "runners",
    "environment",
    "string[]",
    [],
    "P1",
    "Extra variables injected into every job (can also toggle FF_* flags), as KEY=VALUE entries; one that is not, whose KEY is not a shell variable name (which the scripts do not export), or that sets a feature flag to neither true nor false (the flag keeps its default, as upstream), warns at load naming it.",
    { defaultText: "[]" },
  ),
  k(
    "runners",
    "limit",
    "int",
    0,
    "P1",
    "Max concurrent jobs for this entry (still capped by concurrent).",
    { defaultText: "0 = unlimited" },
  ),
  k(
    "runners",
    "request_concurrency",
    "int",
    1,
    "P1",
    "Max parallel long-poll job requests for this entry; with FF_USE_ADAPTIVE_REQUEST_CONCURRENCY it is the ceiling of an adaptive value.",
    { belowOne: "default", defaultText: "1 (<1 means 1)" },
  ),
  k(
    "runners",
    "strict_check_interval",
    "bool",
    false,
    "P1",
    "Disable the immediate re-poll after a job was received.",
    { defaultText: "false" },
  ),
  k(
    "runners",
    "output_limit",
    "int",
    4096,
    "P1",
    "Job log size cap; output beyond it is dropped with a notice.",
    { belowOne: "default", defaultText: "4096" },
  ),
  k(
    "runners",
    "unhealthy_requests_limit",
    "int",
    3,
    "P1",
    "Consecutive failed job requests before the entry is paused.",
    { belowOne: "default", defaultText: "3" },
  ),
  k(
    "runners",
    "unhealthy_interval",
    "duration",
    "1h",
    "P1",
    'How long a paused (unhealthy) entry waits before polling again; "0s" never pauses it.',
    { defaultText: "1h" },
  ),
  k(
    "runners",
    "job_status_final_update_retry_limit",
    "int",
    10,
    "P1",
    "Retries for the final job-state update to GitLab.",
    { belowOne: "default", defaultText: "10" },
  ),
  k(
    "runners",
    "pre_get_sources_script",
    "string",
    "",
    "P1",
    "Script run before the Git fetch/clone.",
    { defaultText: '""' },
  ),
  k(
    "runners",
    "post_get_sources_script",
    "string",
    "",
    "P1",
    "Script run after Git fetch and submodules.",
    { defaultText: '""' },
  ),
  k(
    "runners",
    "pre_build_script",
    "string",
    "",
    "P1",
    "Script run in the same shell context before before_script/script.",
    { defaultText: '""' },
  ),
  k(
    "runners",
    "post_build_script",
    "string",
    "",
    "P1",
    "Script run in the same shell context after script (skipped if script failed).",
    { defaultText: '""' },
  ),
  k(
    "runners",
    "prepare_timeout",
    "duration",
    0,
    "P1",
    "Deadline for prepare_executor + prepare_script (added 19.0).",
    { defaultText: "unset = job timeout" },
  ),
  k(
    "runners",
    "get_sources_timeout",
    "duration",
    0,
    "P1",
    "Deadline for the get_sources stage (added 19.1).",
    { defaultText: "unset = job timeout" },
  ),
  k(
    "runners",
    "debug_trace_disabled",
    "bool",
    false,
    "P1",
    "Ignore CI_DEBUG_TRACE from jobs (with a job-log warning).",
    {
      defaultText: "false",
    },
  ),
  k(
    "runners",
    "safe_directory_checkout",
    "bool",
    true,
    "P1",
    "Add the job directory to Git safe.directory.",
    { dynamic: true, defaultText: "true for docker/kubernetes; false otherwise" },
  ),
  k(
    "runners",
    "clean_git_config",
    "bool",
    true,
    "P1",
    "Delete .git/config and hooks (repo, submodules, template dir) before fetching.",
    { dynamic: true, defaultText: "true; false for shell executor or GIT_STRATEGY=none" },
  ),
  k(
    "runners",
    "proxy_exec",
    "bool",
    false,
    "P3",
    "Experimental: run commands through the helper binary.",
    { defaultText: "false" },
  ),
  k(
    "runners",
    "feature_flags",
    "bool-map",
    {},
    "P1",
    "[runners.feature_flags]; values here override job variables. Acted on: FF_DISABLE_AUTOMATIC_TOKEN_ROTATION, FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR, FF_ENABLE_BASH_EXIT_CODE_CHECK, FF_ENABLE_JOB_CLEANUP, FF_EXPORT_HIGH_CARDINALITY_METRICS, FF_LOG_IMAGES_CONFIGURED_FOR_JOB, FF_MASK_ALL_DEFAULT_TOKENS, FF_POSIXLY_CORRECT_ESCAPES (always on: values are single-quoted, for bash and sh alike), FF_SCRIPT_SECTIONS, FF_TIMESTAMPS, FF_USE_ADAPTIVE_REQUEST_CONCURRENCY, FF_USE_DIRECT_DOWNLOAD, FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL, FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY, FF_USE_FASTZIP, FF_USE_GITALY_CORRELATION_ID, FF_USE_GIT_BUNDLE_URIS, FF_USE_INIT_WITH_DOCKER_EXECUTOR, FF_USE_LEGACY_BASH_EVAL; FF_DISABLE_AUTOMATIC_TOKEN_ROTATION, FF_USE_ADAPTIVE_REQUEST_CONCURRENCY and FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL only from here, as upstream (set off their default by a job variable or an environment entry they warn, in the job log or at load). Any other official flag set off its default warns by name (at load here, in the job log for a job variable); a name that is not an official flag (a typo, or one upstream removed such as FF_USE_NEW_BASH_EVAL_STRATEGY) warns at load, and a removed one set by a job variable or environment entry warns in the job log.",
    { defaultText: "{}" },
  ),
  k("runners", "labels", "string-map", {}, "P2", "Per-runner labels merged over global labels.", {
    defaultText: "{}",
  }),
  k("runners", "use_slot_cgroups", "bool", false, "P3", "Put job containers in per-slot cgroups.", {
    defaultText: "false",
  }),
  k(
    "runners",
    "slot_cgroup_template",
    "string",
    "gitlab-runner/slot-${slot}",
    "P3",
    "cgroup name template; ${slot} is replaced.",
    { defaultText: "gitlab-runner/slot-${slot}" },
  ),
  k(
    "runners",
    "step_runner_image",
    "string",
    "",
    "P3",
    "Override image that injects the step-runner binary (CI steps).",
    { defaultText: "built-in" },
  ),
  k(
    "runners.custom_build_dir",
    "enabled",
    "bool",
    true,
    "P1",
    "Allow jobs to choose GIT_CLONE_PATH (must stay inside builds_dir).",
    {
      dynamic: true,
      field: "customBuildDirEnabled",
      defaultText:
        "true for docker, docker+machine, docker-autoscaler, kubernetes; false for others",
    },
  ),
  k(
    "runners.cache",
    "Type",
    "string",
    "",
    "P2",
    "s3, gcs or azure (also internal names s3v2/gcsv2). Empty means only the local cache_dir is used.",
    { defaultText: '"" (local only)' },
  ),
  k("runners.cache", "Path", "string", "", "P2", "Prefix inserted in front of object keys.", {
    defaultText: '""',
  }),
  k(
    "runners.cache",
    "Shared",
    "bool",
    false,
    "P2",
    "When false, objects live under runner/<short token>/ so runners do not share.",
    { defaultText: "false" },
  ),
  k(
    "runners.cache",
    "MaxUploadedArchiveSize",
    "int",
    0,
    "P2",
    "Refuse to upload larger cache archives. A negative value is no limit, as in the official runner, and warns at load naming the key.",
    { saved: "always", defaultText: "0 = no limit" },
  ),
  k(
    "runners.cache.s3",
    "ServerAddress",
    "string",
    "",
    "P2",
    'host[:port] of an S3-compatible service. "s3.amazonaws.com" (over HTTPS) counts as not set, as in the official runner: BucketLocation, DualStack and Accelerate then choose the AWS host.',
    { defaultText: "AWS endpoint when empty" },
  ),
  k("runners.cache.s3", "AccessKey", "string", "", "P2", "Static access key.", {
    defaultText: '""',
  }),
  k("runners.cache.s3", "SecretKey", "string", "", "P2", "Static secret key.", {
    defaultText: '""',
  }),
  k(
    "runners.cache.s3",
    "SessionToken",
    "string",
    "",
    "P2",
    "Session token for temporary credentials.",
    { defaultText: '""' },
  ),
  k("runners.cache.s3", "BucketName", "string", "", "P2", "Bucket.", { defaultText: "required" }),
  k("runners.cache.s3", "BucketLocation", "string", "", "P2", "Region.", {
    defaultText: '"" (us-east-1 fallback in the SDK adapter)',
  }),
  k("runners.cache.s3", "Insecure", "bool", false, "P2", "Use plain HTTP.", {
    defaultText: "false",
  }),
  k(
    "runners.cache.s3",
    "AuthenticationType",
    "string",
    "",
    "P2",
    "access-key or iam (SDK default credential chain). Another value, or access-key without AccessKey and SecretKey, warns at load naming the key; the jobs then keep their cache in cache_dir.",
    {
      defaultText:
        "access-key if AccessKey and SecretKey are set, else iam (the official runner: access-key only with ServerAddress too)",
    },
  ),
  k(
    "runners.cache.s3",
    "ServerSideEncryption",
    "string",
    "",
    "P2",
    "S3 (AES256), KMS, DSSE-KMS. Another value warns at load naming the key; the jobs then keep their cache in cache_dir.",
    {
      defaultText: '""',
    },
  ),
  k("runners.cache.s3", "ServerSideEncryptionKeyID", "string", "", "P2", "KMS key id/alias/ARN.", {
    field: "serverSideEncryptionKeyId",
    defaultText: '""',
  }),
  k(
    "runners.cache.s3",
    "DualStack",
    "bool",
    true,
    "P2",
    'IPv4+IPv6 endpoints (ignored with a ServerAddress other than "s3.amazonaws.com").',
    { defaultText: "true" },
  ),
  k("runners.cache.s3", "PathStyle", "bool", null, "P2", "Force path-style URLs.", {
    defaultText: "auto-detected",
  }),
  k("runners.cache.s3", "Accelerate", "bool", false, "P2", "S3 Transfer Acceleration.", {
    defaultText: "false",
  }),
  k(
    "runners.cache.s3",
    "RoleARN",
    "string",
    "",
    "P2",
    "AssumeRole for short-lived credentials scoped to one object; URLs are signed with them.",
    { field: "roleArn", defaultText: '""' },
  ),
  k(
    "runners.cache.s3",
    "UploadRoleARN",
    "string",
    "",
    "P2",
    "Deprecated upload-only variant of RoleARN.",
    { field: "uploadRoleArn", defaultText: '""' },
  ),
  k(
    "runners.cache.s3",
    "AssumeRoleMaxConcurrency",
    "int",
    5,
    "P2",
    "Parallel STS AssumeRole calls (with RoleARN).",
    { defaultText: "5 (-1 = unlimited)" },
  ),
  k(
    "runners.cache.s3",
    "DisableAssumeRoleCredentialsCaching",
    "bool",
    false,
    "P2",
    "Turn off the in-process cache of AssumeRole credentials (code only; not in the docs table).",
    { defaultText: "false" },
  ),
  k(
    "runners.cache.gcs",
    "CredentialsFile",
    "string",
    "",
    "P2",
    "Service-account JSON key file; wins over AccessID/PrivateKey.",
    { defaultText: '""' },
  ),
  k(
    "runners.cache.gcs",
    "AccessID",
    "string",
    "",
    "P2",
    "Service-account e-mail used for URL signing.",
    { field: "accessId", defaultText: '""' },
  ),
  k("runners.cache.gcs", "PrivateKey", "string", "", "P2", "PEM key used for URL signing.", {
    defaultText: '""',
  }),
  k("runners.cache.gcs", "BucketName", "string", "", "P2", "Bucket.", { defaultText: "required" }),
  k(
    "runners.cache.gcs",
    "UniverseDomain",
    "string",
    "googleapis.com",
    "P2",
    "Alternate Google Cloud universe.",
    { defaultText: "googleapis.com" },
  ),
  k("runners.cache.azure", "AccountName", "string", "", "P2", "Storage account.", {
    defaultText: '""',
  }),
  k("runners.cache.azure", "AccountKey", "string", "", "P2", "Account key used to sign SAS URLs.", {
    defaultText: '"" (required by Runner; the official runner then uses Entra ID)',
  }),
  k("runners.cache.azure", "ContainerName", "string", "", "P2", "Blob container.", {
    defaultText: "required",
  }),
  k(
    "runners.cache.azure",
    "StorageDomain",
    "string",
    "blob.core.windows.net",
    "P2",
    "Endpoint domain (sovereign clouds).",
    { defaultText: "blob.core.windows.net" },
  ),
  k(
    "runners.artifact",
    "upload_timeout",
    "duration",
    "1h",
    "P1",
    "Deadline for one try of an artifact upload, from the request to GitLab's answer; a try that ends by it is retried like a failed one.",
    { defaultText: "1h (0 or less: none)" },
  ),
  k(
    "runners.artifact",
    "response_header_timeout",
    "duration",
    "10m",
    "P1",
    "Longest wait for GitLab's answer once an artifact upload's body is sent; a try that ends by it is retried like a failed one.",
    { defaultText: "10m (0 or less: none)" },
  ),
  k(
    "runners.docker",
    "host",
    "string",
    "",
    "P1",
    "Docker daemon endpoint: unix:///path or tcp://host[:port]. Another value (no scheme, as for the docker client) warns at load naming the key (an error in lint) and fails every job.",
    {
      defaultText: "DOCKER_HOST env, else local socket",
    },
  ),
  k(
    "runners.docker",
    "tls_cert_path",
    "string",
    "",
    "P1",
    "Directory with ca.pem/cert.pem/key.pem for a TLS daemon.",
    { defaultText: '""' },
  ),
  k("runners.docker", "tls_verify", "bool", false, "P1", "Verify the daemon certificate.", {
    saved: "docker",
    defaultText: "false",
  }),
  k("runners.docker", "image", "string", "", "P1", "Image used when the job names none.", {
    saved: "docker",
    defaultText: "required for docker executors",
  }),
  k("runners.docker", "hostname", "string", "", "P1", "Container host name.", {
    defaultText: '""',
  }),
  k("runners.docker", "runtime", "string", "", "P2", "OCI runtime name (e.g. nvidia, runsc).", {
    defaultText: '""',
  }),
  k("runners.docker", "memory", "string", "", "P1", "Memory limit (b/k/m/g; min 4M).", {
    defaultText: '""',
  }),
  k("runners.docker", "memory_swap", "string", "", "P1", "Memory+swap limit.", {
    defaultText: '""',
  }),
  k("runners.docker", "memory_reservation", "string", "", "P1", "Soft memory limit.", {
    defaultText: '""',
  }),
  k("runners.docker", "cgroup_parent", "string", "", "P2", "Parent cgroup for job containers.", {
    defaultText: '""',
  }),
  k("runners.docker", "cpuset_cpus", "string", "", "P1", "Allowed CPUs.", { defaultText: '""' }),
  k("runners.docker", "cpuset_mems", "string", "", "P2", "Allowed memory nodes.", {
    defaultText: '""',
  }),
  k("runners.docker", "cpus", "string", "", "P1", "CPU quota as a (fractional) CPU count.", {
    defaultText: '""',
  }),
  k("runners.docker", "cpu_shares", "int", 0, "P1", "Relative CPU weight.", {
    defaultText: "0 (daemon default 1024)",
  }),
  k("runners.docker", "dns", "string[]", [], "P1", "DNS servers (validated as IPs since 19.2).", {
    defaultText: "[]",
  }),
  k("runners.docker", "dns_search", "string[]", [], "P1", "DNS search domains.", {
    defaultText: "[]",
  }),
  k(
    "runners.docker",
    "privileged",
    "bool",
    false,
    "P1",
    "Run job (and by default service) containers privileged.",
    { saved: "docker", defaultText: "false" },
  ),
  k(
    "runners.docker",
    "services_privileged",
    "bool",
    null,
    "P2",
    "Separate privileged switch for services.",
    { defaultText: "unset = same as privileged" },
  ),
  k(
    "runners.docker",
    "disable_entrypoint_overwrite",
    "bool",
    false,
    "P1",
    "Keep the images' own entrypoints: the job's image and services entrypoint are ignored, and the job log says \"Entrypoint override disabled\".",
    { saved: "docker", defaultText: "false" },
  ),
  k("runners.docker", "user", "string", "", "P1", "User for commands inside the job container.", {
    defaultText: '""',
  }),
  k(
    "runners.docker",
    "allowed_users",
    "string[]",
    [],
    "P1",
    "Users a job may request via image:docker:user.",
    { defaultText: "[] (only user, or any when user unset)" },
  ),
  k("runners.docker", "group_add", "string[]", [], "P1", "Supplementary groups.", {
    defaultText: "[]",
  }),
  k("runners.docker", "userns_mode", "string", "", "P2", "User-namespace mode.", {
    defaultText: '""',
  }),
  k("runners.docker", "cap_add", "string[]", [], "P1", "Capabilities to add.", {
    defaultText: "[]",
  }),
  k("runners.docker", "cap_drop", "string[]", [], "P1", "Capabilities to drop.", {
    defaultText: "[]",
  }),
  k(
    "runners.docker",
    "oom_kill_disable",
    "bool",
    false,
    "P2",
    "Disable the OOM killer for the container.",
    { saved: "docker", defaultText: "false" },
  ),
  k("runners.docker", "oom_score_adjust", "int", 0, "P2", "OOM score adjustment.", {
    defaultText: "0",
  }),
  k(
    "runners.docker",
    "security_opt",
    "string[]",
    [],
    "P1",
    "--security-opt values (systempaths not supported).",
    { defaultText: "[]" },
  ),
  k(
    "runners.docker",
    "services_security_opt",
    "string[]",
    [],
    "P2",
    "security-opt for service containers.",
    { defaultText: "[]" },
  ),
  k("runners.docker", "devices", "string[]", [], "P1", "Host devices to expose.", {
    defaultText: "[]",
  }),
  k("runners.docker", "device_cgroup_rules", "string[]", [], "P2", "Device cgroup rules.", {
    defaultText: "[]",
  }),
  k("runners.docker", "gpus", "string", "", "P2", "GPU request, docker CLI syntax.", {
    defaultText: '""',
  }),
  k(
    "runners.docker",
    "services_devices",
    "string-list-map",
    {},
    "P2",
    "Devices for services, keyed by image pattern.",
    { defaultText: "{}" },
  ),
  k(
    "runners.docker",
    "disable_cache",
    "bool",
    false,
    "P1",
    "Do not create automatic cache volumes (distributed cache still works).",
    { saved: "docker", defaultText: "false" },
  ),
  k(
    "runners.docker",
    "volumes",
    "string[]",
    [],
    "P1",
    "Extra mounts in docker -v syntax; service containers get them too, with the builds and cache volumes.",
    { saved: "docker", defaultText: '[] (register adds "/cache")' },
  ),
  k(
    "runners.docker",
    "volume_keep",
    "bool",
    false,
    "P2",
    "Keep containers' anonymous volumes after cleanup.",
    {
      defaultText: "false",
    },
  ),
  k("runners.docker", "volume_driver", "string", "", "P2", "Volume driver.", { defaultText: '""' }),
  k("runners.docker", "volume_driver_ops", "string-map", {}, "P2", "Driver options.", {
    defaultText: "{}",
  }),
  k(
    "runners.docker",
    "cache_dir",
    "string",
    "",
    "P1",
    "Host directory that backs cache volumes: an absolute path on the Docker host (a relative one fails the job naming the key).",
    { defaultText: '""' },
  ),
  k("runners.docker", "extra_hosts", "string[]", [], "P1", "host:ip entries added to /etc/hosts.", {
    defaultText: "[]",
  }),
  k(
    "runners.docker",
    "volumes_from",
    "string[]",
    [],
    "P2",
    "Inherit volumes from a container (name[:ro|rw]).",
    { defaultText: "[]" },
  ),
  k("runners.docker", "network_mode", "string", "", "P1", "Attach containers to this network.", {
    defaultText: '""',
  }),
  k("runners.docker", "pid_mode", "string", "", "P2", "PID namespace mode.", { defaultText: '""' }),
  k("runners.docker", "ipcmode", "string", "", "P2", "IPC mode.", { defaultText: '""' }),
  k(
    "runners.docker",
    "mac_address",
    "string",
    "",
    "P3",
    "Fixed container MAC (validated since 19.2).",
    { defaultText: '""' },
  ),
  k("runners.docker", "links", "string[]", [], "P2", "Legacy links to existing containers.", {
    defaultText: "[]",
  }),
  k(
    "runners.docker",
    "services_limit",
    "int",
    -1,
    "P2",
    "Max services per job (runner and job services together).",
    {
      defaultText: "-1 = unlimited",
    },
  ),
  k("runners.docker", "service_memory", "string", "", "P2", "Memory limit for services.", {
    defaultText: '""',
  }),
  k("runners.docker", "service_memory_swap", "string", "", "P2", "Memory+swap for services.", {
    defaultText: '""',
  }),
  k(
    "runners.docker",
    "service_memory_reservation",
    "string",
    "",
    "P2",
    "Soft memory limit for services.",
    { defaultText: '""' },
  ),
  k("runners.docker", "service_cgroup_parent", "string", "", "P2", "Parent cgroup for services.", {
    defaultText: '""',
  }),
  k(
    "runners.docker",
    "service_slot_cgroup_template",
    "string",
    "",
    "P3",
    "Per-slot cgroup template for services.",
    { defaultText: '""' },
  ),
  k("runners.docker", "service_cpuset_cpus", "string", "", "P2", "CPU set for services.", {
    defaultText: '""',
  }),
  k("runners.docker", "service_cpus", "string", "", "P2", "CPU quota for services.", {
    defaultText: '""',
  }),
  k("runners.docker", "service_cpu_shares", "int", 0, "P2", "CPU weight for services.", {
    defaultText: "0",
  }),
  k("runners.docker", "service_gpus", "string", "", "P2", "GPU request for services.", {
    defaultText: '""',
  }),
  k(
    "runners.docker",
    "wait_for_services_timeout",
    "int-seconds",
    30,
    "P2",
    "How long to wait for service ports to accept TCP.",
    { zero: "default", defaultText: "30 (-1 disables waiting)" },
  ),
  k("runners.docker", "allowed_images", "string[]", [], "P1", "Allow-list for job images.", {
    defaultText: "[] = all allowed",
  }),
  k(
    "runners.docker",
    "allowed_privileged_images",
    "string[]",
    [],
    "P2",
    "Images that may run privileged.",
    { defaultText: "[] = all" },
  ),
  k(
    "runners.docker",
    "allowed_privileged_services",
    "string[]",
    [],
    "P2",
    "Services that may run privileged.",
    { defaultText: "[] = all" },
  ),
  k(
    "runners.docker",
    "allowed_pull_policies",
    "string[]",
    [],
    "P1",
    "Pull policies a job may request.",
    { dynamic: true, defaultText: "= pull_policy" },
  ),
  k("runners.docker", "allowed_services", "string[]", [], "P2", "Allow-list for services.", {
    defaultText: "[] = all allowed",
  }),
  k(
    "runners.docker",
    "pull_policy",
    "string-or-string[]",
    ["always"],
    "P1",
    "always, if-not-present, never; a list is tried in order as fallbacks.",
    { defaultText: '["always"]' },
  ),
  k("runners.docker", "isolation", "string", "", "P3", "Windows only: default, hyperv, process.", {
    defaultText: '"" (default)',
  }),
  k("runners.docker", "shm_size", "int", 0, "P1", "/dev/shm size.", {
    saved: "docker",
    defaultText: "0 (daemon default)",
  }),
  k("runners.docker", "tmpfs", "string-map", {}, "P2", "tmpfs mounts for the job container.", {
    defaultText: "{}",
  }),
  k("runners.docker", "services_tmpfs", "string-map", {}, "P2", "tmpfs mounts for services.", {
    defaultText: "{}",
  }),
  k("runners.docker", "sysctls", "string-map", {}, "P2", "Namespaced kernel parameters.", {
    defaultText: "{}",
  }),
  k("runners.docker", "ulimit", "string-map", {}, "P2", "ulimits.", { defaultText: "{}" }),
  k(
    "runners.docker",
    "helper_image",
    "string",
    "",
    "P1",
    "Image holding the helper binary used for Git/cache/artifacts.",
    {
      defaultText:
        "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:<arch>-v<version>",
    },
  ),
  k(
    "runners.docker",
    "helper_image_flavor",
    "string",
    "",
    "P2",
    "alpine, alpine3.21, alpine-latest, ubi-fips, ubuntu.",
    { defaultText: "alpine (ubi-fips on FIPS hosts)" },
  ),
  k(
    "runners.docker",
    "container_labels",
    "string-map",
    {},
    "P2",
    "Extra labels on every container; values are variable-expanded.",
    { defaultText: "{}" },
  ),
  k(
    "runners.docker",
    "enable_ipv6",
    "bool",
    false,
    "P2",
    "IPv6 on the per-job network (created when the job has services).",
    { defaultText: "false" },
  ),
  k(
    "runners.docker",
    "network_mtu",
    "int",
    0,
    "P2",
    "MTU of the per-job network (jobs with services).",
    {
      saved: "docker",
      defaultText: "0 (daemon default)",
    },
  ),
  k(
    "runners.docker",
    "log_options",
    "string-map",
    {},
    "P2",
    "Only env and labels keys are accepted; anything else fails the job.",
    { defaultText: "{} (json-file driver)" },
  ),
  k("runners.docker.services", "name", "string", "", "P2", "Service image.", {
    defaultText: "required",
  }),
  k(
    "runners.docker.services",
    "alias",
    "string",
    "",
    "P2",
    "Extra host names (space or comma separated).",
    { defaultText: '""' },
  ),
  k(
    "runners.docker.services",
    "entrypoint",
    "string[]",
    [],
    "P2",
    "Override the image entrypoint.",
    { defaultText: "[]" },
  ),
  k("runners.docker.services", "command", "string[]", [], "P2", "Override the image command.", {
    defaultText: "[]",
  }),
  k(
    "runners.docker.services",
    "environment",
    "string[]",
    [],
    "P2",
    "Variables for the service container.",
    { defaultText: "[]" },
  ),
  k(
    "runners.docker.services",
    "suspend_data_path",
    "string",
    "",
    "P3",
    "Kubernetes suspendable jobs: path persisted on the suspend PVC.",
    { defaultText: '""' },
  ),
  k(
    "runners.ssh",
    "host",
    "string",
    "",
    "P1",
    "Remote host: a host name or IP address (no user@, no :port); another value warns at load naming the key (an error in lint) and fails every job.",
    { defaultText: "required" },
  ),
  k(
    "runners.ssh",
    "port",
    "string",
    "22",
    "P1",
    "Remote port (a string in TOML), 1 to 65535; another value warns at load naming the key (an error in lint) and fails every job.",
    {
      defaultText: '"22"',
    },
  ),
  k("runners.ssh", "user", "string", "", "P1", "Login user.", { defaultText: '""' }),
  k("runners.ssh", "password", "string", "", "P1", "Password authentication.", {
    defaultText: '""',
  }),
  k("runners.ssh", "identity_file", "string", "", "P1", "Unencrypted private key file.", {
    defaultText: '""',
  }),
  k(
    "runners.ssh",
    "disable_strict_host_key_checking",
    "bool",
    false,
    "P1",
    "Skip host-key verification (the docs text is contradictory; code checks keys unless this is true).",
    { defaultText: "unset = false (host keys are checked)" },
  ),
  k(
    "runners.ssh",
    "known_hosts_file",
    "string",
    "",
    "P1",
    "known_hosts location used for verification.",
    { defaultText: "~/.ssh/known_hosts" },
  ),
  k(
    "runners.custom",
    "config_exec",
    "string",
    "",
    "P1",
    "Optional program printing JSON that overrides builds_dir, cache_dir, builds_dir_is_shared, hostname, driver info, job_env, shell.",
    { defaultText: '""' },
  ),
  k("runners.custom", "config_args", "string[]", [], "P1", "Leading arguments for config_exec.", {
    defaultText: "[]",
  }),
  k(
    "runners.custom",
    "config_exec_timeout",
    "int-seconds",
    3600,
    "P1",
    "Deadline for config_exec.",
    { belowOne: "default", defaultText: "3600" },
  ),
  k(
    "runners.custom",
    "prepare_exec",
    "string",
    "",
    "P1",
    "Optional program that prepares the environment.",
    { defaultText: '""' },
  ),
  k("runners.custom", "prepare_args", "string[]", [], "P1", "Leading arguments for prepare_exec.", {
    defaultText: "[]",
  }),
  k(
    "runners.custom",
    "prepare_exec_timeout",
    "int-seconds",
    3600,
    "P1",
    "Deadline for prepare_exec.",
    { belowOne: "default", defaultText: "3600" },
  ),
  k(
    "runners.custom",
    "run_exec",
    "string",
    "",
    "P1",
    "Program called once per stage with <script path> <stage name>.",
    { defaultText: "required" },
  ),
  k("runners.custom", "run_args", "string[]", [], "P1", "Leading arguments for run_exec.", {
    defaultText: "[]",
  }),
  k(
    "runners.custom",
    "cleanup_exec",
    "string",
    "",
    "P1",
    "Optional program run at the end, even after failures.",
    { defaultText: '""' },
  ),
  k("runners.custom", "cleanup_args", "string[]", [], "P1", "Leading arguments for cleanup_exec.", {
    defaultText: "[]",
  }),
  k(
    "runners.custom",
    "cleanup_exec_timeout",
    "int-seconds",
    3600,
    "P1",
    "Deadline for cleanup_exec.",
    { belowOne: "default", defaultText: "3600" },
  ),
  k(
    "runners.custom",
    "graceful_kill_timeout",
    "int-seconds",
    600,
    "P1",
    "Grace period after SIGTERM before force kill.",
    { belowOne: "default", defaultText: "600" },
  ),
  k(
    "runners.custom",
    "force_kill_timeout",
    "int-seconds",
    10,
    "P1",
    "How long to wait after the kill signal before giving up on the process.",
    { belowOne: "default", defaultText: "code: 10; docs: 600" },
  ),
  k("runners.autoscaler", "plugin", "string", "", "P2", "Fleeting plugin name/reference.", {
    defaultText: "required",
  }),
  k(
    "runners.autoscaler",
    "plugin_config",
    "table",
    {},
    "P2",
    "Re-encoded as JSON and handed to the plugin.",
    { defaultText: "{}" },
  ),
  k(
    "runners.autoscaler",
    "capacity_per_instance",
    "int",
    1,
    "P2",
    "Jobs per instance at the same time.",
    { defaultText: "taskscaler default (1, unverified)" },
  ),
  k(
    "runners.autoscaler",
    "max_use_count",
    "int",
    0,
    "P2",
    "Jobs per instance before it is retired.",
    { defaultText: "0 = unlimited (unverified)" },
  ),
  k("runners.autoscaler", "max_instances", "int", 0, "P2", "Cap on instances in any state.", {
    defaultText: "0 = unlimited",
  }),
  k(
    "runners.autoscaler",
    "instance_ready_command",
    "string",
    "",
    "P2",
    "Command run on new instances; failure removes the instance.",
    { defaultText: '""' },
  ),
  k(
    "runners.autoscaler",
    "instance_acquire_timeout",
    "duration",
    "15m",
    "P2",
    "Wait for a free instance.",
    { defaultText: "15m" },
  ),
  k("runners.autoscaler", "update_interval", "duration", "1m", "P2", "Plugin refresh period.", {
    defaultText: "1m",
  }),
  k(
    "runners.autoscaler",
    "update_interval_when_expecting",
    "duration",
    "2s",
    "P2",
    "Refresh period while waiting for a state change.",
    { defaultText: "2s" },
  ),
  k(
    "runners.autoscaler",
    "deletion_retry_interval",
    "duration",
    "1m",
    "P2",
    "Retry period for ineffective deletions.",
    { defaultText: "1m" },
  ),
  k(
    "runners.autoscaler",
    "shutdown_deletion_interval",
    "duration",
    "10s",
    "P2",
    "Delete/check period during shutdown.",
    { defaultText: "10s" },
  ),
  k(
    "runners.autoscaler",
    "shutdown_deletion_retries",
    "int",
    3,
    "P2",
    "Checks that deletion finished before exit.",
    { defaultText: "3" },
  ),
  k(
    "runners.autoscaler",
    "failure_threshold",
    "int",
    3,
    "P2",
    "Consecutive health failures before an instance is replaced.",
    { defaultText: "3" },
  ),
  k(
    "runners.autoscaler",
    "reservation_throttling",
    "bool",
    true,
    "P2",
    "Throttle capacity reservations (code only, not in docs).",
    { defaultText: "true" },
  ),
  k(
    "runners.autoscaler",
    "delete_instances_on_shutdown",
    "bool",
    false,
    "P2",
    "Delete all instances when the runner stops.",
    { defaultText: "false" },
  ),
  k(
    "runners.autoscaler",
    "log_internal_ip",
    "bool",
    false,
    "P2",
    "Print the instance internal IP in the job log.",
  ),
  k(
    "runners.autoscaler",
    "log_external_ip",
    "bool",
    false,
    "P2",
    "Print the instance external IP in the job log.",
  ),
  k(
    "runners.autoscaler",
    "scale_throttle",
    "table",
    {},
    "P2",
    "limit: instance creations per second (0 means 100/s; -1 unlimited); burst: creation burst size (default max_instances, else limit).",
    { defaultText: "{}" },
  ),
  k(
    "runners.autoscaler",
    "connector_config",
    "table",
    {},
    "P2",
    "How to reach instances: os, arch, protocol (ssh, winrm, winrm+https), protocol_port, username, password, key_path, use_static_credentials, keepalive, timeout, use_external_addr.",
    { defaultText: "plugin-provided" },
  ),
  k(
    "runners.autoscaler",
    "policy",
    "table[]",
    [],
    "P2",
    '[[runners.autoscaler.policy]] entries: periods (5-field cron, default ["* * * * *"]), timezone, idle_count, idle_time, scale_factor, scale_factor_limit, preemptive_mode; the last matching entry wins. Reloaded live.',
    { defaultText: "[]" },
  ),
  k(
    "runners.autoscaler",
    "state_storage",
    "table",
    {},
    "P2",
    "enabled, dir (default <config dir>/.taskscaler), keep_instance_with_acquisitions: persist instance state across restarts (beta).",
    { defaultText: "{}" },
  ),
  k(
    "runners.autoscaler",
    "vm_isolation",
    "table",
    {},
    "P3",
    "enabled, nesting_host, nesting_config, image, connector_config: macOS nesting VMs inside instances.",
    { defaultText: "{}" },
  ),
  k(
    "runners.autoscaler",
    "instance_operation_time_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance operation time metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.autoscaler",
    "instance_creation_time_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance creation time metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.autoscaler",
    "instance_is_running_time_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance is running time metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.autoscaler",
    "instance_deletion_time_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance deletion time metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.autoscaler",
    "instance_readiness_time_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance readiness time metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.autoscaler",
    "instance_life_duration_buckets",
    "float[]",
    [],
    "P3",
    "Histogram buckets for the instance life duration metric.",
    { defaultText: "library defaults" },
  ),
  k(
    "runners.instance",
    "allowed_images",
    "string[]",
    [],
    "P3",
    "Images a job may request when VM isolation is on.",
    { defaultText: "[]" },
  ),
  k(
    "runners.instance",
    "use_common_build_dir",
    "bool",
    false,
    "P3",
    "All jobs share one build dir (only with VM isolation or max_use_count = 1).",
    { defaultText: "false" },
  ),
  k("runners.machine", "IdleCount", "int", 0, "P2", "Idle machines to keep ready.", {
    defaultText: "0",
  }),
  k(
    "runners.machine",
    "IdleScaleFactor",
    "float",
    0,
    "P2",
    "Idle target as a factor of in-use machines (capped by IdleCount).",
    { defaultText: "0.0" },
  ),
  k("runners.machine", "IdleCountMin", "int", 1, "P2", "Floor for the scaled idle count.", {
    defaultText: "1 (when IdleScaleFactor used)",
  }),
  k("runners.machine", "IdleTime", "int-seconds", 0, "P2", "Idle time before removal.", {
    defaultText: "0",
  }),
  k("runners.machine", "MaxBuilds", "int", 0, "P2", "Jobs per machine before it is recycled.", {
    defaultText: "0 = unlimited",
  }),
  k("runners.machine", "MaxGrowthRate", "int", 0, "P2", "Machines being created in parallel.", {
    defaultText: "0 = unlimited",
  }),
  k("runners.machine", "MaxRemovalAttempts", "int", 30, "P2", "Removal retries before giving up.", {
    defaultText: "30",
  }),
  k("runners.machine", "MachineDriver", "string", "", "P2", "docker-machine driver.", {
    defaultText: "required",
  }),
  k("runners.machine", "MachineName", "string", "", "P2", "Name template.", {
    defaultText: "required, must contain %s",
  }),
  k("runners.machine", "MachineOptions", "string[]", [], "P2", "Driver options.", {
    defaultText: "[]",
  }),
  k(
    "runners.machine",
    "MachineOptionsWithName",
    "string[]",
    [],
    "P2",
    "Options that may contain %s (machine name).",
    { defaultText: "[]" },
  ),
  k(
    "runners.machine",
    "OffPeakPeriods",
    "string[]",
    [],
    "P3",
    "Deprecated off-peak periods; superseded by [[runners.machine.autoscaling]].",
    { defaultText: "[]" },
  ),
  k("runners.machine", "OffPeakTimezone", "string", "", "P3", "Deprecated off-peak time zone.", {
    defaultText: "local",
  }),
  k("runners.machine", "OffPeakIdleCount", "int", 0, "P3", "Deprecated off-peak idle count.", {
    defaultText: "0",
  }),
  k(
    "runners.machine",
    "OffPeakIdleTime",
    "int-seconds",
    0,
    "P3",
    "Deprecated off-peak idle time.",
    { defaultText: "0" },
  ),
  k(
    "runners.machine",
    "autoscaling",
    "table[]",
    [],
    "P2",
    "[[runners.machine.autoscaling]] with Periods, Timezone, IdleCount, IdleScaleFactor, IdleCountMin, IdleTime; last matching period wins.",
    { defaultText: "[]" },
  ),
  k("runners.parallels", "base_name", "string", "", "P3", "VM to clone.", {
    defaultText: "required",
  }),
  k("runners.parallels", "template_name", "string", "", "P3", "Name of the linked template.", {
    defaultText: '""',
  }),
  k(
    "runners.parallels",
    "disable_snapshots",
    "bool",
    false,
    "P3",
    "Destroy VMs after the job instead of reverting snapshots.",
    { defaultText: "false" },
  ),
  k(
    "runners.parallels",
    "time_server",
    "string",
    "time.apple.com",
    "P3",
    "NTP server for the guest.",
    { defaultText: "time.apple.com" },
  ),
  k(
    "runners.parallels",
    "allowed_images",
    "string[]",
    [],
    "P3",
    "VM names a job may pick via image:.",
    { defaultText: "[] = only base_name" },
  ),
  k("runners.virtualbox", "base_name", "string", "", "P3", "VM to clone.", {
    defaultText: "required",
  }),
  k("runners.virtualbox", "base_snapshot", "string", "", "P3", "Snapshot to linked-clone from.", {
    defaultText: "current snapshot",
  }),
  k("runners.virtualbox", "base_folder", "string", "", "P3", "Folder for new VMs.", {
    defaultText: "VirtualBox default",
  }),
  k(
    "runners.virtualbox",
    "disable_snapshots",
    "bool",
    false,
    "P3",
    "Full clone and destroy per job.",
    { defaultText: "false" },
  ),
  k("runners.virtualbox", "allowed_images", "string[]", [], "P3", "VM names a job may pick.", {
    defaultText: "[] = only base_name",
  }),
  k("runners.virtualbox", "start_type", "string", "headless", "P3", "headless, gui or separate.", {
    defaultText: "headless",
  }),
  k(
    "runners.experimental.boot_verify",
    "enabled",
    "bool",
    false,
    "P3",
    "Run a synthetic job at start; gate /health/ready on it; exit non-zero on failure.",
    { defaultText: "false" },
  ),
  k("runners.experimental.boot_verify", "timeout", "duration", "5m", "P3", "Canary deadline.", {
    defaultText: "5m",
  }),
  k(
    "runners.experimental.boot_verify",
    "acquire_min_backoff",
    "duration",
    "1s",
    "P3",
    "Min back-off for executor acquire retries.",
    { defaultText: "1s" },
  ),
  k(
    "runners.experimental.boot_verify",
    "acquire_max_backoff",
    "duration",
    "10s",
    "P3",
    "Max back-off.",
    { defaultText: "10s" },
  ),
  k(
    "runners.referees.metrics",
    "prometheus_address",
    "string",
    "",
    "P3",
    "Prometheus to query during the job (docker+machine only).",
    { defaultText: '""' },
  ),
  k("runners.referees.metrics", "query_interval", "int-seconds", 0, "P3", "Query step.", {
    defaultText: "0",
  }),
  k(
    "runners.referees.metrics",
    "queries",
    "string[]",
    [],
    "P3",
    "name:PromQL pairs; {selector} and {interval} placeholders. Docs example wrongly spells the key metric_queries.",
    { defaultText: "[]" },
  ),
  k(
    "runners.monitoring.job_queuing_durations",
    "periods",
    "string[]",
    [],
    "P3",
    "Cron periods the entry applies to (last match wins).",
    { defaultText: "-" },
  ),
  k(
    "runners.monitoring.job_queuing_durations",
    "timezone",
    "string",
    "",
    "P3",
    "Time zone for periods.",
    { defaultText: "local" },
  ),
  k(
    "runners.monitoring.job_queuing_durations",
    "threshold",
    "duration",
    0,
    "P3",
    "Queue time considered acceptable; above it gitlab_runner_acceptable_job_queuing_duration_exceeded_total grows.",
    { defaultText: "-" },
  ),
  k(
    "runners.monitoring.job_queuing_durations",
    "jobs_running_for_project",
    "string",
    "",
    "P3",
    "Only count when the project's running-jobs value matches.",
    { defaultText: '""' },
  ),
];

/** The section at `path`, or undefined. */
export function sectionSpec(path: string): SectionSpec | undefined {
  return CONFIG_SECTIONS.find((s) => s.path === path);
}

/** Keys declared directly in the section at `path`. */
export function keysOf(path: string): readonly KeySpec[] {
  return CONFIG_KEYS.filter((k) => k.section === path);
}

/** Sections directly below the section at `path`. */
export function childSections(path: string): readonly SectionSpec[] {
  return CONFIG_SECTIONS.filter((s) => {
    if (s.path === "" || s.path === path) return false;
    const cut = s.path.lastIndexOf(".");
    return (cut < 0 ? "" : s.path.slice(0, cut)) === path;
  });
}
