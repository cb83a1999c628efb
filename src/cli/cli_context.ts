/** What every command gets from main.ts: streams, environment, logger, identity. */
import type { ProcfsSnapshot } from "../metrics/procfs_snapshot.ts";
import type { LogLevel, LogSink } from "../log/mod.ts";
import type { Logger } from "../log/logger.ts";
import type { VersionInfo } from "./version.ts";
import type { GlobalConfig } from "../config/runner_config.ts";
import type { LoadedConfigFile } from "../config/load_config.ts";

/**
 * Set when `runner run` is the scoped poller worker of cli/poller_supervisor.ts.
 * Call order: the poller checks each reloaded config with `missing`; when
 * something is missing it drains and `serve` resolves POLLER_RESCOPE_EXIT, on
 * which the supervisor starts a poller with the new config's permissions.
 */
export interface PollerScope {
  /** Temporary directory the supervisor made for this poller; it may use and remove it. */
  tempDir: string;
  /** What `config` needs that this poller does not hold (`kind:value`); empty: it may apply it. */
  missing(config: GlobalConfig): string[];
  /** The config the previous poller ran with, when it stopped for this one's permissions. */
  previous: GlobalConfig | null;
  /**
   * config.toml as the supervisor loaded it to compute this poller's
   * permissions (its warnings not logged yet); null when it could not: the
   * poller loads it and reports why.
   */
  loaded: LoadedConfigFile | null;
  /**
   * The supervisor could not use config.toml for this poller (an edit broke or
   * removed it while the previous poller finished its jobs): `loaded` is the
   * config the previous poller ran, and the poller re-reads the file at once,
   * logging why it is not used, as for any broken edit.
   */
  isStale: boolean;
  /**
   * Why the file is not used, when a poller refused it (see `onRefuse`); null:
   * the poller re-reads the file to say why.
   */
  staleReason: string | null;
  /**
   * A poller started for a reloaded config.toml (`previous` is set) refuses
   * it at its start (`text`, as read, and why): the supervisor starts one
   * with the previous config instead.
   */
  onRefuse(text: string | null, reason: string): void;
  /** Called with the config this poller runs with, before it stops for a new one's permissions. */
  onRescope(config: GlobalConfig): void;
  /**
   * Asks the supervisor for the process's /proc values (the poller may not
   * read them) from now on, every few seconds; resolves the reader of the
   * latest once the first is in. Only the metrics endpoint calls it: a poller
   * without one costs the supervisor no /proc reads.
   */
  watchProcfs(): Promise<() => ProcfsSnapshot | undefined>;
}

/** What a scoped poller resolves when it drained to get the permissions of a new config. */
export const POLLER_RESCOPE_EXIT = 75;

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
  /** Set by `run` so log records feed gitlab_runner_errors_total. */
  onLogRecord?: (level: LogLevel) => void;
  /** Present when this `runner run` is a scoped poller worker. */
  pollerScope?: PollerScope;
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
