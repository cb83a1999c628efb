/**
 * The runner's own log, for operators (job output goes to trace/, masked).
 * One object per line on stderr in `json` format; `runner` and `text` formats
 * render the same record for people. Keys come from log/fields.ts.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

/** A logger that drops every record (tests and benchmarks that do not look at the log). */
export class SilentLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}
