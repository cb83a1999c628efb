export { type LogFields, type Logger, SilentLogger } from "./logger.ts";
export { F } from "./fields.ts";
export {
  isLevelEnabled,
  levelName,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  parseLogFormat,
  parseLogLevel,
} from "./log_level.ts";
export { formatLogRecord, type LogRecord, type LogValue } from "./log_record.ts";
export { type LogOutput, LogSink, type LogSinkOptions, StreamLogger } from "./log_sink.ts";
export { MASK, SecretRedactor } from "./secret_redactor.ts";
