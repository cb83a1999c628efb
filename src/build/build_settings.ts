/**
 * Job-variable knobs the runner reads (spec/gitlab-runner-api.md §8.1, §9.1),
 * resolved once per job with their defaults. Invalid values fall back to the
 * default and leave a warning for the job log, as the official runner does.
 */
import type { GitStrategy, SubmoduleStrategy } from "../shells/stage_scripts.ts";
import { parseGoBool } from "./feature_flags.ts";
import { parseGoDuration } from "../time/go_duration.ts";

export interface BuildSettings {
  gitStrategy: GitStrategy;
  gitCheckout: boolean;
  gitCleanFlags: string[];
  gitFetchFlags: string[];
  gitSubmoduleStrategy: SubmoduleStrategy;
  /** null when unset or not an integer (then `git_info.depth` applies); 0 or less = full history. */
  gitSubmoduleDepth: number | null;
  gitSubmoduleUpdateFlags: string[];
  /** The user set GIT_LFS_SKIP_SMUDGE. */
  lfsSmudgeDisabled: boolean;
  gitClonePath: string;
  getSourcesAttempts: number;
  restoreCacheAttempts: number;
  downloadArtifactsAttempts: number;
  afterScriptIgnoreErrors: boolean;
  /** Milliseconds; 0 = only the job timeout applies. */
  scriptTimeoutMs: number;
  afterScriptTimeoutMs: number;
  debugTrace: boolean;
  /** Lines for the job log about ignored or clamped values. */
  warnings: string[];
}

export const DEFAULT_AFTER_SCRIPT_TIMEOUT_MS = 5 * 60_000;

/** Splits flags on whitespace; `none` means no flags. */
function flagWords(value: string | undefined, fallback: string): string[] {
  const text = value === undefined || value === "" ? fallback : value;
  if (text.trim() === "none") return [];
  return text.split(/\s+/).filter((w) => w !== "");
}

/**
 * Job variables of the official runner that this one does not act on: when
 * one is set to a value that would change something, the job log says so
 * (key, when it would act, what happens instead).
 */
const UNSUPPORTED_VARIABLES: ReadonlyArray<
  readonly [
    string,
    (raw: string, settings: { gitSubmoduleStrategy: SubmoduleStrategy }) => boolean,
    string,
  ]
> = [
  [
    "GIT_SUBMODULE_PATHS",
    (_, s) => s.gitSubmoduleStrategy !== "none",
    "every submodule is updated",
  ],
  [
    "GIT_SUBMODULE_FORCE_HTTPS",
    (raw) => parseGoBool(raw) === true,
    "submodule URLs are used as they are",
  ],
  [
    "EXECUTOR_JOB_SECTION_ATTEMPTS",
    (raw) => raw.trim() !== "1",
    "a job section is run once",
  ],
  [
    "CACHE_COMPRESSION_FORMAT",
    (raw) => raw.trim().toLowerCase() !== "zip",
    "caches are zip archives",
  ],
  [
    // The official runner then adds SLSA provenance to each zip artifact.
    "RUNNER_GENERATE_ARTIFACTS_METADATA",
    (raw) => parseGoBool(raw) === true,
    "artifacts carry no metadata (SLSA provenance) file",
  ],
];

function isInt64(n: bigint): boolean {
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

export function resolveBuildSettings(
  lookup: (key: string) => string | undefined,
  options: { allowGitFetch: boolean; jobTimeoutMs: number; debugTraceDisabled: boolean },
): BuildSettings {
  const warnings: string[] = [];

  const defaultStrategy: GitStrategy = options.allowGitFetch ? "fetch" : "clone";
  let gitStrategy: GitStrategy = defaultStrategy;
  const rawStrategy = lookup("GIT_STRATEGY") ?? "";
  if (["fetch", "clone", "none", "empty"].includes(rawStrategy)) {
    gitStrategy = rawStrategy as GitStrategy;
  } else if (rawStrategy !== "") {
    warnings.push(`Invalid GIT_STRATEGY "${rawStrategy}": using "${defaultStrategy}"`);
  }

  // Go's strconv.ParseBool, as the official runner: any other value is the default.
  const bool = (key: string, fallback: boolean): boolean => {
    const raw = lookup(key);
    if (raw === undefined || raw === "") return fallback;
    const parsed = parseGoBool(raw);
    if (parsed !== undefined) return parsed;
    warnings.push(`Invalid ${key} "${raw}": using "${fallback}"`);
    return fallback;
  };

  // As the official runner: a number out of 1-10 is clamped, anything else is 1.
  const attempts = (key: string): number => {
    const raw = lookup(key);
    if (raw === undefined || raw === "") return 1;
    // A number past Go's int64 fails strconv.ParseInt there: the default, not 10.
    if (!/^[+-]?\d+$/.test(raw) || !isInt64(BigInt(raw))) {
      warnings.push(`Invalid ${key} "${raw}": it must be a number from 1 to 10; using 1`);
      return 1;
    }
    const n = Number(raw);
    if (n >= 1 && n <= 10) return n;
    const clamped = n < 1 ? 1 : 10;
    warnings.push(`${key} "${raw}" is out of the range 1 to 10: using ${clamped}`);
    return clamped;
  };

  const timeout = (key: string, fallback: number): number => {
    const raw = lookup(key) ?? "";
    if (raw.trim() === "") return fallback;
    let ms: number;
    try {
      ms = parseGoDuration(raw);
    } catch {
      warnings.push(`Ignoring malformed ${key} timeout: ${raw}`);
      return fallback;
    }
    if (ms < 0) {
      warnings.push(`Ignoring relative ${key} timeout: ${raw}`);
      return fallback;
    }
    if (ms > options.jobTimeoutMs) {
      warnings.push(`${key} timeout: ${raw} is longer than job timeout. Setting to job timeout`);
      return options.jobTimeoutMs;
    }
    return ms === 0 ? fallback : ms;
  };

  let gitSubmoduleStrategy: SubmoduleStrategy = "none";
  const rawSubmodules = lookup("GIT_SUBMODULE_STRATEGY") ?? "";
  if (rawSubmodules === "normal" || rawSubmodules === "recursive") {
    gitSubmoduleStrategy = rawSubmodules;
  } else if (rawSubmodules !== "" && rawSubmodules !== "none") {
    warnings.push(`Invalid GIT_SUBMODULE_STRATEGY "${rawSubmodules}": using "none"`);
  }
  const noGit = gitStrategy === "none" || gitStrategy === "empty";

  const rawSubmoduleDepth = lookup("GIT_SUBMODULE_DEPTH") ?? "";
  let gitSubmoduleDepth: number | null = null;
  if (rawSubmoduleDepth !== "") {
    // Any integer, as the official runner (strconv.ParseInt): a negative one is full history.
    if (/^[+-]?\d+$/.test(rawSubmoduleDepth) && isInt64(BigInt(rawSubmoduleDepth))) {
      gitSubmoduleDepth = Number(rawSubmoduleDepth);
    } else {
      warnings.push(`Invalid GIT_SUBMODULE_DEPTH "${rawSubmoduleDepth}": ignoring it`);
    }
  }

  let debugTrace = bool("CI_DEBUG_TRACE", false);
  if (debugTrace && options.debugTraceDisabled) {
    // As the official runner says it in the job log.
    warnings.push("CI_DEBUG_TRACE: usage is disabled on this Runner");
    debugTrace = false;
  }

  // The docker executor acts on it (isDebugServicesForJob); said here, once per job.
  if (bool("CI_DEBUG_SERVICES", false) && options.debugTraceDisabled) {
    warnings.push("CI_DEBUG_SERVICES: usage is disabled on this Runner");
  }
  // Booleans all the same: a value that is none names itself, as in the official runner.
  bool("GIT_SUBMODULE_FORCE_HTTPS", false);
  for (const [key, isActive, instead] of UNSUPPORTED_VARIABLES) {
    const raw = lookup(key) ?? "";
    if (raw !== "" && isActive(raw, { gitSubmoduleStrategy })) {
      warnings.push(`${key} is not supported by this runner and has no effect: ${instead}`);
    }
  }

  return {
    gitStrategy,
    gitCheckout: noGit ? false : bool("GIT_CHECKOUT", true),
    gitCleanFlags: flagWords(lookup("GIT_CLEAN_FLAGS"), "-ffdx"),
    gitFetchFlags: flagWords(lookup("GIT_FETCH_EXTRA_FLAGS"), "--prune --quiet"),
    gitSubmoduleStrategy: noGit ? "none" : gitSubmoduleStrategy,
    gitSubmoduleDepth,
    gitSubmoduleUpdateFlags: flagWords(lookup("GIT_SUBMODULE_UPDATE_FLAGS"), ""),
    lfsSmudgeDisabled: bool("GIT_LFS_SKIP_SMUDGE", false),
    gitClonePath: lookup("GIT_CLONE_PATH") ?? "",
    getSourcesAttempts: attempts("GET_SOURCES_ATTEMPTS"),
    restoreCacheAttempts: attempts("RESTORE_CACHE_ATTEMPTS"),
    downloadArtifactsAttempts: attempts("ARTIFACT_DOWNLOAD_ATTEMPTS"),
    afterScriptIgnoreErrors: bool("AFTER_SCRIPT_IGNORE_ERRORS", true),
    scriptTimeoutMs: timeout("RUNNER_SCRIPT_TIMEOUT", 0),
    afterScriptTimeoutMs: timeout(
      "RUNNER_AFTER_SCRIPT_TIMEOUT",
      Math.min(DEFAULT_AFTER_SCRIPT_TIMEOUT_MS, options.jobTimeoutMs),
    ),
    debugTrace,
    warnings,
  };
}
