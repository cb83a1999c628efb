import { levelName, type LogFormat, type LogLevel } from "./log_level.ts";

/** A field value after undefined ones were dropped. */
export type LogValue = string | number | boolean | null;

/** One log line before rendering; secrets are already masked. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  msg: string;
  /** Sorted by key, as the official runner (logrus) prints them. */
  fields: ReadonlyArray<readonly [string, LogValue]>;
}

// gitlab-runner's helpers/ansi colours, so a terminal looks the same.
const ANSI_BOLD_WHITE = "\x1b[37;1m";
const ANSI_YELLOW = "\x1b[0;33m";
const ANSI_BOLD_RED = "\x1b[31;1m";
const ANSI_RESET = "\x1b[0;m";

const RUNNER_STYLE: Record<LogLevel, { color: string; prefix: string }> = {
  debug: { color: ANSI_BOLD_WHITE, prefix: "" },
  info: { color: "", prefix: "" },
  warn: { color: ANSI_YELLOW, prefix: "WARNING: " },
  error: { color: ANSI_BOLD_RED, prefix: "ERROR: " },
  fatal: { color: ANSI_BOLD_RED, prefix: "FATAL: " },
  panic: { color: ANSI_BOLD_RED, prefix: "PANIC: " },
};

/** Message column width of the `runner` format, prefix included. */
const RUNNER_MESSAGE_WIDTH = 50;

/** Renders one record as a line without the trailing newline. */
export function formatLogRecord(
  record: LogRecord,
  options: { format: LogFormat; isColored: boolean },
): string {
  switch (options.format) {
    case "runner":
      return formatRunner(record, options.isColored);
    case "text":
      return formatText(record);
    case "json":
      return formatJson(record);
  }
}

/**
 * The official runner's console style: level prefix, message padded to a
 * column, then ` key=value` pairs, e.g.
 * `Checking for jobs... received                     job=42 runner=abc123`.
 */
function formatRunner(record: LogRecord, isColored: boolean): string {
  const style = RUNNER_STYLE[record.level];
  const color = isColored ? style.color : "";
  const reset = isColored ? ANSI_RESET : "";
  const head = style.prefix +
    record.msg.padEnd(RUNNER_MESSAGE_WIDTH - style.prefix.length);
  if (record.fields.length === 0) {
    return isColored ? `${color}${head.trimEnd()}${reset}` : head.trimEnd();
  }
  let line = `${color}${head}${reset} `;
  for (const [key, value] of record.fields) {
    line += ` ${color}${key}${reset}=${plainValue(value)}`;
  }
  return line;
}

/** logrus TextFormatter without colours: `time="..." level=info msg="..." k=v`. */
function formatText(record: LogRecord): string {
  const parts = [
    `time=${logfmtValue(formatTime(record.time))}`,
    `level=${levelName(record.level)}`,
    `msg=${logfmtValue(record.msg)}`,
  ];
  for (const [key, value] of record.fields) {
    parts.push(`${key}=${logfmtValue(plainValue(value))}`);
  }
  return parts.join(" ");
}

/** logrus JSONFormatter: `level`, `msg`, `time`, then the fields. */
function formatJson(record: LogRecord): string {
  const out: Record<string, LogValue> = {
    level: levelName(record.level),
    msg: record.msg,
    time: formatTime(record.time),
  };
  for (const [key, value] of record.fields) {
    // logrus keeps a field that clashes with a reserved key as `fields.<key>`.
    const name = key === "level" || key === "msg" || key === "time" ? `fields.${key}` : key;
    out[name] = value;
  }
  return JSON.stringify(out);
}

/** RFC 3339 in UTC, to the second, like Go's time.RFC3339. */
function formatTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function plainValue(value: LogValue): string {
  return value === null ? "<nil>" : String(value);
}

/** Quotes a value the way logrus does when it holds anything unusual. */
function logfmtValue(text: string): string {
  return /^[A-Za-z0-9\-._/@^+]*$/.test(text) ? text : JSON.stringify(text);
}
