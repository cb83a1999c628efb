/**
 * The official `gitlab-runner exec` flags that set runner keys (`--docker-image`,
 * `--env`, `--builds-dir`, `--ssh-host`… with their environment variables:
 * DOCKER_IMAGE, RUNNER_ENV…): which of them `runner exec` acts on, which it
 * refuses and why, and the `[[runners]]` entry the acting ones describe.
 *
 * The official exec took every RunnerSettings key as a flag (golang-cli-helpers
 * over the struct tags, tests/fixtures/official_exec_flags.json). Here a flag
 * acts when the executor exec runs can act on its key; otherwise a flag given
 * on the command line is refused (exit 2) and one read from its variable is
 * named in a warning and not used: a variable may be set for other programs.
 * The shell executor does not read the DOCKER_* variables at all (DOCKER_HOST
 * is set for the docker CLI on many machines).
 */
import type { RunnerConfig } from "../../config/runner_config.ts";
import { Flags, type FlagSpec, type FlagValue, type ParsedFlags, UsageError } from "../flags.ts";
import { EXEC_RUNNER_FLAGS } from "./exec_runner_flags.ts";

/**
 * Official exec flags with no runner key here: refused by name. The clone
 * scripts were deprecated aliases of the get-sources scripts (removed from
 * config.toml in 17.0), the monitoring flags set tables.
 */
const RETIRED_FLAGS: FlagSpec[] = [
  { name: "pre-clone-script", type: "string", env: "RUNNER_PRE_CLONE_SCRIPT", hidden: true },
  { name: "post-clone-script", type: "string", env: "RUNNER_POST_CLONE_SCRIPT", hidden: true },
  { name: "runner-monitoring", type: "list", hidden: true },
  { name: "job-queuing-duration", type: "list", hidden: true },
];

/** Every runner flag of the official exec that exec reads (acts on or refuses). */
export const EXEC_SETTING_FLAGS: FlagSpec[] = [...EXEC_RUNNER_FLAGS, ...RETIRED_FLAGS];

/**
 * Exec's `own` flags with every runner flag of the official exec; those in
 * `shown` (the same specs, with help) are shown by `--help`.
 */
export function withSettingFlags(own: FlagSpec[], shown: FlagSpec[]): FlagSpec[] {
  const help = new Map(shown.map((f) => [f.name, f.help]));
  return [
    ...own,
    ...EXEC_SETTING_FLAGS.map((f): FlagSpec => {
      const text = help.get(f.name);
      return text === undefined ? f : { ...f, hidden: false, help: text };
    }),
  ];
}

const RUNNER_FLAG_NAMES: ReadonlySet<string> = new Set(EXEC_RUNNER_FLAGS.map((f) => f.name));
const SETTING_FLAG_NAMES: ReadonlySet<string> = new Set(EXEC_SETTING_FLAGS.map((f) => f.name));

const GIT_NONE = "runner exec copies the working tree into each job (GIT_STRATEGY=none)";

/**
 * How exec refuses a flag it does not take: given on the command line, or
 * read from its variable (null: the variable is not read at all).
 */
interface Refusal {
  flag: string;
  variable: ((variable: string) => string) | null;
}

/** How exec refuses flag `name` with `executor`; null when it acts. */
export function refusalOf(name: string, executor: string): Refusal | null {
  if (name.startsWith("docker-")) {
    if (executor === "docker" || executor === "docker+ssh") return null;
    return {
      // Taken, with the executor it is for: the flag is not called one exec lacks.
      flag:
        `--${name} is for the docker executors: add --executor docker or docker+ssh (the ${executor} executor ${
          executor === "shell" ? "runs jobs on this host" : "does not read it"
        })`,
      // DOCKER_HOST, DOCKER_CERT_PATH… are often set for the docker CLI: a
      // shell run would warn every time about what it never needed.
      variable: null,
    };
  }
  for (const [prefix, owner] of [["ssh-", "ssh"], ["custom-", "custom"]] as const) {
    if (!name.startsWith(prefix)) continue;
    if (executor === owner || (owner === "ssh" && executor === "docker+ssh")) return null;
    const why = `it is for the ${owner} executor: add --executor ${owner}`;
    return {
      flag:
        `--${name} is for the ${owner} executor: add --executor ${owner} (the ${executor} executor does not read it)`,
      variable: (variable) =>
        `${variable} (--${name}, an official flag of gitlab-runner exec) is not used: ${why}`,
    };
  }
  const why = notTakenReason(name);
  if (why === null) return null;
  return {
    flag:
      `--${name} is an official flag of gitlab-runner exec that runner exec does not take: ${why}`,
    variable: (variable) =>
      `${variable} (--${name}, an official flag of gitlab-runner exec) is not used: ${why}`,
  };
}

/** Why exec does not take official flag `name` (but the docker ones), and what to use instead. */
function notTakenReason(name: string): string | null {
  const when = name.slice(0, name.indexOf("-") + 1);
  switch (name) {
    case "clone-url":
      return `${GIT_NONE}: nothing is cloned`;
    case "pre-get-sources-script":
    case "post-get-sources-script":
      return `it would never run: ${GIT_NONE}, nothing is fetched; use --${when}build-script`;
    case "pre-clone-script":
    case "post-clone-script":
      return `it would never run (it is the deprecated --${when}get-sources-script): ${GIT_NONE}, nothing is cloned; use --${when}build-script`;
    case "runner-monitoring":
    case "job-queuing-duration":
      return "it sets [runners.monitoring], which concerns a runner that asks GitLab for jobs";
  }
  return null;
}

/**
 * Flags whose variables (DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY)
 * the docker client reads when the flag is not given, as for `runner run`
 * with no `[runners.docker] host`: set for the docker CLI on many machines,
 * they need not load the config schema on every run.
 */
export const DOCKER_CLIENT_FLAGS: ReadonlySet<string> = new Set([
  "docker-host",
  "docker-cert-path",
  "docker-tlsverify",
]);

/** The runner flags given to exec, split by what exec does with them. */
export interface GivenSettings {
  /** The flags exec acts on (the parse narrowed to them); null when none was given. */
  acting: Flags | null;
  /** Warnings about variables of flags exec does not take, which it does not use. */
  warnings: string[];
  /**
   * One line per variable exec acts on (`Using DOCKER_USER as --docker-user`):
   * a variable set for something else (a registry login's DOCKER_USER) is
   * seen for what it does here. Names only: values may be secrets.
   */
  notes: string[];
}

/**
 * Sorts the runner flags of `parsed` (exec's whole parse): a flag given on
 * the command line that exec does not take throws UsageError naming it as an
 * official flag; one read from its variable becomes a warning.
 */
export function sortGivenSettings(parsed: ParsedFlags, executor: string): GivenSettings {
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  const notes: string[] = [];
  for (const [name, value] of parsed.values) {
    if (!SETTING_FLAG_NAMES.has(name)) continue;
    // The docker client reads them itself (config/docker_endpoint.ts), naming them in its errors.
    if (DOCKER_CLIENT_FLAGS.has(name) && !parsed.explicit.has(name)) continue;
    const refusal = refusalOf(name, executor);
    if (refusal === null) {
      if (!RUNNER_FLAG_NAMES.has(name)) continue;
      values.set(name, value);
      const variable = parsed.fromEnv.get(name);
      if (variable !== undefined) {
        notes.push(
          `Using ${variable} as --${name} (a variable of the official gitlab-runner exec)`,
        );
      }
      continue;
    }
    if (parsed.explicit.has(name)) throw new UsageError(refusal.flag);
    if (refusal.variable !== null) {
      warnings.push(refusal.variable(parsed.fromEnv.get(name) ?? `--${name}`));
    }
  }
  if (values.size === 0) return { acting: null, warnings, notes };
  return { acting: new Flags({ ...parsed, values }), warnings, notes };
}

/** The `[[runners]]` entry the acting flags describe. */
export interface ExecRunnerBase {
  /** Defaults for `executor`, with every given key set. */
  runner: RunnerConfig;
  /** The keys given, in config.toml spelling: `{ docker: { pull_policy: … } }`. */
  given: Record<string, unknown>;
  /** Load warnings about given keys (not acted on, odd values), as `run` logs them for config.toml. */
  warnings: string[];
}

/**
 * Problems whose value makes every job fail (`--docker-pull-policy bogus`,
 * `--shell fish`): config.toml only warns, as its other entries may still
 * work, but here the run would be for nothing.
 */
const REFUSED_KINDS: ReadonlySet<string> = new Set(["invalid_value", "missing_key"]);

/**
 * Validates the acting flags as config.toml's `[[runners]]` keys are
 * validated (every default for `executor` filled). Loads the config schema:
 * called only when a runner flag was given. A bad value throws UsageError
 * naming the flag (or its variable) and the key; a warning names them too.
 */
export async function execRunnerBase(
  acting: Flags,
  executor: "shell" | "docker" | "ssh" | "custom" | "docker+ssh",
): Promise<ExecRunnerBase> {
  const [{ flagOfKey, parseRunnerTable, runnerTableFromFlags }, { ConfigError }] = await Promise
    .all([import("../runner_flags.ts"), import("../../config/config_error.ts")]);
  const given = runnerTableFromFlags(acting);
  const describe = (problem: { key: string; message: string }) => {
    const flag = flagOfKey(problem.key);
    return flag === null ? problem.message : `${acting.label(flag)}: ${problem.message}`;
  };
  let parsed;
  try {
    parsed = parseRunnerTable({ ...given, executor, name: "runner exec" }, {
      source: "command line",
      env: {},
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new UsageError(error.problems.map(describe).join("; "), { cause: error });
    }
    throw error;
  }
  const refused = parsed.warnings.filter((w) => REFUSED_KINDS.has(w.kind));
  if (refused.length > 0) throw new UsageError(refused.map(describe).join("; "));
  return { runner: parsed.runner, given, warnings: parsed.warnings.map(describe) };
}
