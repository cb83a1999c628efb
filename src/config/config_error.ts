/** Problems found in config.toml: load errors (ConfigError) and warnings. */

/** One thing wrong with the file, located as precisely as we can. */
export interface ConfigProblem {
  /** The config file path as the caller named it. */
  readonly file: string;
  /** 1-based line, or null when the key cannot be found in the text. */
  readonly line: number | null;
  /** Display path of the key, e.g. `runners[0].docker.image`; "" for the whole file. */
  readonly key: string;
  /** Sentence without location, e.g. `key runners[0].limit must be an integer, got "abc"`. */
  readonly message: string;
}

export type ConfigWarningKind =
  /** Not a key we know; `run` ignores it, `lint` reports it as an error. */
  | "unknown_key"
  /** Accepted, kept when saving, but not implemented (P3 or unimplemented P2). */
  | "unsupported_key"
  /** Matched an official key only case-insensitively. */
  | "key_case"
  /** The same key written twice with different case; the second is ignored. */
  | "duplicate_key"
  /** A value of an unsupported key has the wrong type; kept as written. */
  | "unsupported_value"
  /** [[runners]] url ended with /ci, which we strip. */
  | "url_ci_suffix"
  /** A [[runners]] entry names an executor we lack; it never asks for jobs. */
  | "unsupported_executor"
  /** A [[runners]] url no request can go to (not an absolute http or https URL); it never asks for jobs. */
  | "invalid_url"
  /** A [[runners]] entry with the url and token of a later one: only the later one is used. */
  | "duplicate_runner"
  /** A key the entry's executor needs is not set (custom: run_exec); every job of it fails. */
  | "missing_key"
  /** An integer beyond ±2^53 taken as the nearest one a number holds, which changes what it names (`runners.id`). */
  | "clamped_integer"
  /** A value every job of the entry fails on (`pull_policy = "bogus"`); `lint` reports it as an error. */
  | "invalid_value"
  /** A duration written as an integer below a millisecond (`prepare_timeout = 300`): nanoseconds. */
  | "duration_nanoseconds";

export interface ConfigWarning extends ConfigProblem {
  readonly kind: ConfigWarningKind;
}

/** `config.toml:12: message`, or `config.toml: message` without a line. */
export function formatConfigProblem(problem: ConfigProblem): string {
  const where = problem.line === null ? problem.file : `${problem.file}:${problem.line}`;
  return `${where}: ${problem.message}`;
}

/**
 * config.toml cannot be used: unreadable, not TOML, or a value is invalid. The
 * message names the file, line and key of the first problem; `problems` has all.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: ErrorOptions) {
    const first = problems[0];
    if (first === undefined) throw new RangeError("ConfigError needs at least one problem");
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : "";
    super(formatConfigProblem(first) + more, options);
    this.problems = problems;
  }

  get file(): string {
    return this.problems[0]?.file ?? "";
  }

  get line(): number | null {
    return this.problems[0]?.line ?? null;
  }

  get key(): string {
    return this.problems[0]?.key ?? "";
  }
}
