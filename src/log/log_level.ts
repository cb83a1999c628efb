/**
 * Log levels and formats, spelled as in config.toml `log_level` / `log_format`
 * and the `--log-level` / `--log-format` flags. The same unions appear in
 * config/runner_config.ts; TypeScript's structural typing keeps them
 * interchangeable, and the tests below pin the spelling.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal" | "panic";
export type LogFormat = "runner" | "text" | "json";

/** Ordered from most to least verbose. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "fatal", "panic"];
export const LOG_FORMATS: readonly LogFormat[] = ["runner", "text", "json"];

/** True when a record at `level` passes a logger set to `threshold`. */
export function isLevelEnabled(level: LogLevel, threshold: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

/**
 * Parses a level as an operator types it. Like the official runner (logrus),
 * `warning` is accepted for `warn`; case is ignored.
 */
export function parseLogLevel(value: string): LogLevel {
  const lower = value.trim().toLowerCase();
  if (lower === "warning") return "warn";
  const found = LOG_LEVELS.find((level) => level === lower);
  if (found === undefined) {
    throw new RangeError(
      `Unknown log level "${value}": expected one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  return found;
}

export function parseLogFormat(value: string): LogFormat {
  const lower = value.trim().toLowerCase();
  const found = LOG_FORMATS.find((format) => format === lower);
  if (found === undefined) {
    throw new RangeError(
      `Unknown log format "${value}": expected one of ${LOG_FORMATS.join(", ")}`,
    );
  }
  return found;
}

/**
 * The level name logrus prints, which log shippers for the official runner
 * already parse: `warning`, not `warn`.
 */
export function levelName(level: LogLevel): string {
  return level === "warn" ? "warning" : level;
}
