/**
 * One thing the installer does. A plan is a list of steps run in order by
 * ServiceManager; tests assert the list itself, so every OS can be checked
 * on any machine.
 */
export type ServiceStep =
  /** Fails the plan when `path` exists (install must not overwrite a service). */
  | { kind: "require-absent"; path: string; why: string }
  /** Fails the plan when `path` is missing (uninstall of a service that is not installed). */
  | { kind: "require-present"; path: string; why: string }
  /** mkdir -p; existing directories keep their mode (and owner); `owner` gets those it creates. */
  | { kind: "mkdir"; path: string; mode: number; owner?: string }
  /**
   * Writes a file, given to `owner` when set; with `isKeptIfPresent` an existing
   * file is left alone.
   */
  | {
    kind: "write";
    path: string;
    content: string;
    mode: number;
    isKeptIfPresent?: boolean;
    owner?: string;
  }
  /** Deletes a file; a missing one is fine. */
  | { kind: "remove"; path: string }
  | RunStep
  /**
   * Runs the first of `choices` whose program this host has (`update-rc.d`
   * on Debian, `chkconfig` on Red Hat); a non-zero exit fails the plan. When
   * none is there, `ifNone` is logged as a warning, if given, and the plan
   * goes on.
   */
  | { kind: "run-first"; choices: string[][]; ifNone?: string };

/** Runs a program; a non-zero exit fails the plan unless `mayFail`. */
export interface RunStep {
  kind: "run";
  argv: string[];
  mayFail?: boolean;
}

/** What a status query found. */
export type ServiceState = "running" | "stopped" | "failed" | "not-installed" | "unknown";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How one service manager is driven; systemd, launchd and Windows each provide one. */
export interface ServicePlatform {
  /** Path of the unit / plist, or undefined when the service manager keeps it (Windows). */
  readonly definitionPath: string | undefined;
  /**
   * A path that exists only where this service manager runs, and what to say
   * when it is missing; every action is refused without it, before any step.
   * undefined when the manager is part of the OS (launchd, Windows).
   */
  readonly managerPath: { path: string; isMissing: string } | undefined;
  install(): ServiceStep[];
  uninstall(): ServiceStep[];
  start(): ServiceStep[];
  stop(): ServiceStep[];
  restart(): ServiceStep[];
  /** The command whose output `readStatus` understands. */
  statusCommand(): string[];
  /** `isDefined`: whether definitionPath exists (always true when there is none). */
  readStatus(result: CommandResult, isDefined: boolean): ServiceState;
}
