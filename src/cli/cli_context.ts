/** What every command gets from main.ts: streams, environment, logger, identity. */
import type { LogLevel, LogSink } from "../log/mod.ts";
import type { Logger } from "../log/logger.ts";
import type { VersionInfo } from "./version.ts";

export interface CliContext {
  /** Command output for people (list, status, help). */
  out(line: string): void;
  /** Error lines for people; the runner log goes through `log`. */
  err(line: string): void;
  env(name: string): string | undefined;
  envObject(): Record<string, string>;
  cwd: string;
  sink: LogSink;
  log: Logger;
  version: VersionInfo;
  /** Whether stdin is a terminal (interactive prompts). */
  isInteractive: boolean;
  /** Set by `run` so log records feed gitlab_runner_errors_total. */
  onLogRecord?: (level: LogLevel) => void;
  /** Reads one line from stdin; null at end of input. */
  readLine(prompt: string): Promise<string | null>;
}

/** A failure the user can fix; main prints the message and exits non-zero. */
export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(message: string, readonly exitCode = 1, options?: ErrorOptions) {
    super(message, options);
  }
}
