/**
 * Runner feature flags (`FF_*`) and how a job resolves them: the runner's
 * `[runners.feature_flags]` table beats a job variable of the same name
 * (which includes the runner's `environment`), which beats the default.
 */
import { type JobVariable, variableValue } from "../job/job_spec.ts";
import { expandVariables, lookupVariable, parseEnvironment } from "./job_variables.ts";

/**
 * Every flag the official runner knows, with its default, except
 * FF_USE_FASTZIP: upstream turned it on in 19.4; it stays off here, where
 * archiving on several threads costs about 17 MiB per thread (docs/cache.md).
 */
export const FEATURE_FLAG_DEFAULTS: Readonly<Record<string, boolean>> = {
  FF_NETWORK_PER_BUILD: false,
  FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY: false,
  FF_USE_DIRECT_DOWNLOAD: true,
  FF_USE_FASTZIP: false,
  FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR: false,
  FF_ENABLE_BASH_EXIT_CODE_CHECK: false,
  FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY: false,
  FF_USE_LEGACY_BASH_EVAL: false,
  FF_USE_POWERSHELL_PATH_RESOLVER: false,
  FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL: false,
  FF_SCRIPT_SECTIONS: false,
  FF_ENABLE_JOB_CLEANUP: false,
  FF_KUBERNETES_HONOR_ENTRYPOINT: false,
  FF_POSIXLY_CORRECT_ESCAPES: false,
  FF_RESOLVE_FULL_TLS_CHAIN: false,
  FF_DISABLE_POWERSHELL_STDIN: false,
  FF_USE_POD_ACTIVE_DEADLINE_SECONDS: true,
  FF_USE_ADVANCED_POD_SPEC_CONFIGURATION: false,
  FF_SECRET_RESOLVING_FAILS_IF_MISSING: true,
  FF_PRINT_POD_EVENTS: false,
  FF_USE_GIT_BUNDLE_URIS: true,
  FF_USE_GIT_NATIVE_CLONE: false,
  FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR: false,
  FF_USE_INIT_WITH_DOCKER_EXECUTOR: false,
  FF_LOG_IMAGES_CONFIGURED_FOR_JOB: false,
  FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO: true,
  FF_CLEAN_UP_FAILED_CACHE_EXTRACT: false,
  FF_USE_WINDOWS_JOB_OBJECT: false,
  FF_TIMESTAMPS: true,
  FF_DISABLE_AUTOMATIC_TOKEN_ROTATION: false,
  FF_USE_LEGACY_GCS_CACHE_ADAPTER: false,
  FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR: false,
  FF_USE_LEGACY_S3_CACHE_ADAPTER: false,
  FF_GIT_URLS_WITHOUT_TOKENS: false,
  FF_WAIT_FOR_POD_TO_BE_REACHABLE: false,
  FF_MASK_ALL_DEFAULT_TOKENS: true,
  FF_EXPORT_HIGH_CARDINALITY_METRICS: false,
  FF_USE_FLEETING_ACQUIRE_HEARTBEATS: false,
  FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY: true,
  FF_USE_ADAPTIVE_REQUEST_CONCURRENCY: true,
  FF_USE_GITALY_CORRELATION_ID: true,
  FF_USE_GIT_PROACTIVE_AUTH: false,
  FF_HASH_CACHE_KEYS: false,
  FF_ENABLE_JOB_INPUTS_INTERPOLATION: true,
  FF_USE_JOB_ROUTER: false,
  FF_SCRIPT_TO_STEP_MIGRATION: false,
  FF_USE_PARALLEL_CACHE_TRANSFER: false,
  FF_USE_PARALLEL_ARTIFACT_TRANSFER: false,
  FF_CONCRETE: false,
  FF_SUSPENDABLE_ENVIRONMENTS: false,
  FF_USE_NATIVE_CONTAINER_STOP: false,
};

/**
 * Flags upstream removed (from helpers/featureflags/flags.go's history up to
 * d79f3e7b), most recently FF_USE_NEW_BASH_EVAL_STRATEGY, FF_SKIP_NOOP_BUILD_STAGES
 * and FF_SET_PERMISSIONS_BEFORE_CLEANUP (their behaviour became the only one).
 * Nothing reads them; the official runner passes such a job variable on
 * without a word, this one says so in the job log.
 */
export const REMOVED_FEATURE_FLAGS: ReadonlySet<string> = new Set([
  "FF_CMD_DISABLE_DELAYED_ERROR_LEVEL_EXPANSION",
  "FF_DOCKER_HELPER_IMAGE_V2",
  "FF_GITLAB_REGISTRY_HELPER_IMAGE",
  "FF_K8S_USE_ENTRYPOINT_OVER_COMMAND",
  "FF_RESET_HELPER_IMAGE_ENTRYPOINT",
  "FF_RETRIEVE_POD_WARNING_EVENTS",
  "FF_SET_PERMISSIONS_BEFORE_CLEANUP",
  "FF_SHELL_EXECUTOR_USE_LEGACY_PROCESS_KILL",
  "FF_SKIP_DOCKER_MACHINE_PROVISION_ON_CREATION_FAILURE",
  "FF_SKIP_NOOP_BUILD_STAGES",
  "FF_USE_GO_CLOUD_WITH_CACHE_ARCHIVER",
  "FF_USE_IMPROVED_URL_MASKING",
  "FF_USE_INFORMERS",
  "FF_USE_LEGACY_BUILDS_DIR_FOR_DOCKER",
  "FF_USE_LEGACY_GIT_CLEAN_STRATEGY",
  "FF_USE_LEGACY_VOLUMES_MOUNTING_ORDER",
  "FF_USE_NATIVE_STEPS",
  "FF_USE_NEW_BASH_EVAL_STRATEGY",
  "FF_USE_NEW_EVAL_STRATEGY",
  "FF_USE_NEW_SHELL_ESCAPE",
]);

/**
 * Removed flags (REMOVED_FEATURE_FLAGS) that the runner's `environment` or a
 * job variable sets, in that list's order.
 */
export function removedFeatureFlagsSet(
  runner: { environment: readonly string[] },
  variables: readonly JobVariable[],
): string[] {
  const keys = new Set([
    ...parseEnvironment(runner.environment).map((v) => v.key),
    ...variables.map((v) => v.key),
  ]);
  return [...REMOVED_FEATURE_FLAGS].filter((name) => keys.has(name));
}

/**
 * Flags this runner acts on. Any other flag set to a value other than its
 * default changes nothing here, so it is warned about by name: at config load
 * for `[runners.feature_flags]`, and in the job log for job variables.
 */
export const IMPLEMENTED_FEATURE_FLAGS: ReadonlySet<string> = new Set([
  "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION",
  "FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR",
  "FF_ENABLE_BASH_EXIT_CODE_CHECK",
  "FF_ENABLE_JOB_CLEANUP",
  "FF_EXPORT_HIGH_CARDINALITY_METRICS",
  "FF_LOG_IMAGES_CONFIGURED_FOR_JOB",
  "FF_MASK_ALL_DEFAULT_TOKENS",
  // Always on here: values are single-quoted for any POSIX shell (shells/shell_quote.ts).
  "FF_POSIXLY_CORRECT_ESCAPES",
  "FF_SCRIPT_SECTIONS",
  "FF_TIMESTAMPS",
  "FF_USE_ADAPTIVE_REQUEST_CONCURRENCY",
  "FF_USE_DIRECT_DOWNLOAD",
  "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL",
  "FF_USE_FASTZIP",
  "FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY",
  "FF_USE_GITALY_CORRELATION_ID",
  "FF_USE_GIT_BUNDLE_URIS",
  "FF_USE_INIT_WITH_DOCKER_EXECUTOR",
  "FF_USE_LEGACY_BASH_EVAL",
]);

/**
 * Acted-on flags that concern the runner rather than a job, so that, as in the
 * official runner (RunnerSettings.IsFeatureFlagOn), only `[runners.feature_flags]`
 * sets them: a job variable or an `environment` entry has no effect.
 */
export const RUNNER_ONLY_FEATURE_FLAGS: ReadonlySet<string> = new Set([
  "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION",
  "FF_USE_ADAPTIVE_REQUEST_CONCURRENCY",
  "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL",
]);

/**
 * Runner-only flags a job variable or the runner's `environment` sets off
 * their default while `[runners.feature_flags]` leaves them unset: changed in
 * the job's flags (and log header, as upstream) but nowhere in effect.
 */
export function runnerOnlyFlagsSetByJob(
  runnerFlags: Readonly<Record<string, boolean>>,
  jobFlags: Readonly<Record<string, boolean>>,
): string[] {
  return [...RUNNER_ONLY_FEATURE_FLAGS].filter((name) =>
    runnerFlags[name] === undefined && jobFlags[name] !== undefined &&
    jobFlags[name] !== FEATURE_FLAG_DEFAULTS[name]
  );
}

/**
 * Flags in `flags` set to a non-default value that this runner does not act
 * on, in the official list's order. Unknown names are not included.
 */
export function ignoredFeatureFlags(flags: Readonly<Record<string, boolean>>): string[] {
  return Object.entries(FEATURE_FLAG_DEFAULTS)
    .filter(([name, fallback]) =>
      flags[name] !== undefined && flags[name] !== fallback &&
      !IMPLEMENTED_FEATURE_FLAGS.has(name)
    )
    .map(([name]) => name);
}

/** Go's strconv.ParseBool, which the official runner uses for flag values. */
export function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/**
 * Resolved value of every known flag. `lookup` gives the job-level value of a
 * variable (already expanded), or undefined. A value that is not a Go boolean
 * (`"maybe"`, `""`) leaves the flag at its default, as in the official runner
 * (populateFeatureFlags), which warns in the job log (unparsableFeatureFlags).
 */
export function resolveFeatureFlags(
  runnerFlags: Readonly<Record<string, boolean>>,
  lookup: (key: string) => string | undefined,
): Record<string, boolean> {
  const resolved: Record<string, boolean> = {};
  for (const [name, fallback] of Object.entries(FEATURE_FLAG_DEFAULTS)) {
    const configured = runnerFlags[name];
    if (configured !== undefined) {
      resolved[name] = configured;
      continue;
    }
    const value = lookup(name);
    resolved[name] = parseGoBool(value ?? "") ?? fallback;
  }
  return resolved;
}

/** `FF_X:true, FF_Y:false` for the flags that differ from their default (job log header). */
export function describeNonDefaultFlags(flags: Readonly<Record<string, boolean>>): string {
  return Object.entries(FEATURE_FLAG_DEFAULTS)
    .filter(([name, fallback]) => (flags[name] ?? fallback) !== fallback)
    .map(([name]) => `${name}:${flags[name]}`)
    .join(", ");
}

/**
 * A job's flags as the build resolves them: the runner's
 * `[runners.feature_flags]`, then its `environment` and the job's variables
 * (expanded), then the defaults. The trace pipeline uses the same answer.
 */
export function featureFlagsForJob(
  runner: { featureFlags: Readonly<Record<string, boolean>>; environment: readonly string[] },
  variables: readonly JobVariable[],
): Record<string, boolean> {
  const early = expandVariables([...parseEnvironment(runner.environment), ...variables]);
  return resolveFeatureFlags(runner.featureFlags, (key) => lookupVariable(early, key));
}

/**
 * Whether the job's log is a debug trace (CI_DEBUG_TRACE or CI_DEBUG_SERVICES
 * read as the build reads them: a Go boolean from the runner's `environment`
 * or the job's variables, and off when `debug_trace_disabled`), for the trace
 * PATCHes' `debug_trace`, as upstream's IsDebugModeEnabled: GitLab shows such
 * a log only to members who may see one, and service output may hold anything.
 */
export function isDebugTraceForJob(
  runner: { environment: readonly string[]; debugTraceDisabled: boolean },
  variables: readonly JobVariable[],
): boolean {
  return isDebugVariableOn(runner, variables, "CI_DEBUG_TRACE") ||
    isDebugServicesForJob(runner, variables);
}

/**
 * Whether the docker executor follows the services' output into the job log
 * (CI_DEBUG_SERVICES, read as CI_DEBUG_TRACE is; off when `debug_trace_disabled`).
 */
export function isDebugServicesForJob(
  runner: { environment: readonly string[]; debugTraceDisabled: boolean },
  variables: readonly JobVariable[],
): boolean {
  return isDebugVariableOn(runner, variables, "CI_DEBUG_SERVICES");
}

function isDebugVariableOn(
  runner: { environment: readonly string[]; debugTraceDisabled: boolean },
  variables: readonly JobVariable[],
  key: string,
): boolean {
  if (runner.debugTraceDisabled) return false;
  const early = expandVariables([...parseEnvironment(runner.environment), ...variables]);
  // A file variable's value, not its path, as the build settings read it.
  return parseGoBool(variableValue({ variables: early }, key) ?? "") === true;
}

/**
 * Flags the runner's `environment` or a job variable sets to a value that is
 * not a Go boolean (`FF_USE_FASTZIP: "maybe"`, or empty): they keep their
 * default, and the job log says so, as in the official runner ("FF_X: could
 * not parse feature flag, expected bool, got maybe").
 */
export function unparsableFeatureFlags(
  runner: { featureFlags: Readonly<Record<string, boolean>>; environment: readonly string[] },
  variables: readonly JobVariable[],
): { name: string; value: string; fallback: boolean }[] {
  const early = expandVariables([...parseEnvironment(runner.environment), ...variables]);
  return Object.keys(FEATURE_FLAG_DEFAULTS).flatMap((name) => {
    if (runner.featureFlags[name] !== undefined) return [];
    const value = lookupVariable(early, name);
    return value !== undefined && parseGoBool(value) === undefined
      ? [{ name, value, fallback: FEATURE_FLAG_DEFAULTS[name] ?? false }]
      : [];
  });
}
