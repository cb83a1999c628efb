import type { LogFields, Logger } from "./logger.ts";
import { isLevelEnabled, type LogFormat, type LogLevel } from "./log_level.ts";
import { formatLogRecord, type LogValue } from "./log_record.ts";
import { MASK, SecretRedactor } from "./secret_redactor.ts";

/** Where lines go; `Deno.stderr` satisfies it. */
export interface LogOutput {
  /** May write fewer bytes than given; the sink loops. */
  writeSync(data: Uint8Array): number;
  /** Colours are used in `runner` format only when this says true. */
  isTerminal?(): boolean;
}

export interface LogSinkOptions {
  output: LogOutput;
  /** Default `info`. */
  level?: LogLevel;
  /** Default `runner`. */
  format?: LogFormat;
  /** Overrides the terminal check (e.g. `NO_COLOR`). */
  isColored?: boolean;
  /** Clock for the `time` key; default `new Date()`. */
  now?: () => Date;
  /**
   * Called after each record is written, with its level. main.ts passes
   * `RunnerMetrics.logRecorded` so `gitlab_runner_errors_total{level}` counts
   * warnings and errors. Records filtered out by the level are not reported,
   * as with the official runner's logrus hook.
   */
  onRecord?: (level: LogLevel) => void;
}

/**
 * The runner log's shared state: output, level, format and the secrets to
 * mask. One per process, built by cli/main.ts; every `Logger` made by
 * `logger()` and their children write through it, so a config reload that
 * changes the level applies to all of them at once.
 *
 * Level and format have two sources (config-reference §1, §17): the config
 * file (`configure`, called on every load) and the command line (`pin`,
 * called once). A pinned value wins over every later `configure`.
 */
export class LogSink {
  readonly #output: LogOutput;
  readonly #now: () => Date;
  readonly #onRecord: ((level: LogLevel) => void) | undefined;
  readonly #isColored: boolean;
  readonly #redactor = new SecretRedactor();
  readonly #encoder = new TextEncoder();
  #level: LogLevel;
  #format: LogFormat;
  #isLevelPinned = false;
  #isFormatPinned = false;

  constructor(options: LogSinkOptions) {
    this.#output = options.output;
    this.#level = options.level ?? "info";
    this.#format = options.format ?? "runner";
    this.#now = options.now ?? (() => new Date());
    this.#onRecord = options.onRecord;
    this.#isColored = options.isColored ?? safeIsTerminal(options.output);
  }

  get level(): LogLevel {
    return this.#level;
  }

  get format(): LogFormat {
    return this.#format;
  }

  /** Applies config.toml `log_level` / `log_format`, except pinned ones. */
  configure(settings: { level?: LogLevel; format?: LogFormat }): void {
    if (settings.level !== undefined && !this.#isLevelPinned) this.#level = settings.level;
    if (settings.format !== undefined && !this.#isFormatPinned) this.#format = settings.format;
  }

  /** Sets level and/or format from the command line; `configure` no longer changes them. */
  pin(settings: { level?: LogLevel; format?: LogFormat }): void {
    if (settings.level !== undefined) {
      this.#level = settings.level;
      this.#isLevelPinned = true;
    }
    if (settings.format !== undefined) {
      this.#format = settings.format;
      this.#isFormatPinned = true;
    }
  }

  /** Masks `secret` in every later message and field value. Empty strings are ignored. */
  addSecret(secret: string): void {
    this.#redactor.addSecret(secret);
  }

  /** Masks a job's token while the job runs and a while after (`SecretRedactor.releaseJobSecret`). */
  addJobSecret(secret: string): void {
    this.#redactor.addJobSecret(secret);
  }

  /** The job that `addJobSecret` was called for has ended. */
  releaseJobSecret(secret: string): void {
    this.#redactor.releaseJobSecret(secret);
  }

  /** True when a record at `level` would be written now. */
  isEnabled(level: LogLevel): boolean {
    return isLevelEnabled(level, this.#level);
  }

  /** A logger writing here, with `fields` on every record. */
  logger(fields: LogFields = {}): StreamLogger {
    return new StreamLogger(this, fields);
  }

  /** Writes one record; used by StreamLogger. */
  write(level: LogLevel, msg: string, fields: LogFields): void {
    if (!this.isEnabled(level)) return;
    const line = formatLogRecord(
      {
        time: this.#now(),
        level,
        msg: this.#redactor.redact(msg),
        fields: this.#cleanFields(fields),
      },
      { format: this.#format, isColored: this.#isColored && this.#format === "runner" },
    );
    this.#writeAll(this.#encoder.encode(line + "\n"));
    this.#onRecord?.(level);
  }

  #cleanFields(fields: LogFields): Array<readonly [string, LogValue]> {
    const out: Array<readonly [string, LogValue]> = [];
    for (const key of Object.keys(fields).sort()) {
      const value = fields[key];
      if (value === undefined) continue;
      if (value !== null && value !== "" && this.#redactor.isSecretField(key)) {
        out.push([key, MASK]);
      } else if (typeof value === "string") {
        out.push([key, this.#redactor.redact(value)]);
      } else {
        out.push([key, value]);
      }
    }
    return out;
  }

  #writeAll(data: Uint8Array): void {
    try {
      let offset = 0;
      while (offset < data.length) offset += this.#output.writeSync(data.subarray(offset));
    } catch {
      // A closed stderr (EPIPE) must not take the runner down; there is
      // nowhere left to report it.
    }
  }
}

/**
 * The `Logger` implementation: fields are merged child-over-parent,
 * call-over-child. `fatal` and `panic` only log; cli/ decides about exiting.
 */
export class StreamLogger implements Logger {
  readonly #sink: LogSink;
  readonly #fields: LogFields;

  constructor(sink: LogSink, fields: LogFields = {}) {
    this.#sink = sink;
    this.#fields = fields;
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log("debug", msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.#log("info", msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.#log("warn", msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.#log("error", msg, fields);
  }

  fatal(msg: string, fields?: LogFields): void {
    this.#log("fatal", msg, fields);
  }

  panic(msg: string, fields?: LogFields): void {
    this.#log("panic", msg, fields);
  }

  child(fields: LogFields): StreamLogger {
    return new StreamLogger(this.#sink, { ...this.#fields, ...fields });
  }

  #log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (!this.#sink.isEnabled(level)) return;
    this.#sink.write(
      level,
      msg,
      fields === undefined ? this.#fields : { ...this.#fields, ...fields },
    );
  }
}

function safeIsTerminal(output: LogOutput): boolean {
  try {
    return output.isTerminal?.() ?? false;
  } catch {
    return false;
  }
}
