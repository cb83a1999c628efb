import { posix, win32 } from "node:path";
import { ServiceError } from "./service_error.ts";

export type ServiceAction = "install" | "uninstall" | "start" | "stop" | "restart" | "status";
export const SERVICE_ACTIONS: readonly ServiceAction[] = [
  "install",
  "uninstall",
  "start",
  "stop",
  "restart",
  "status",
];

export const DEFAULT_SERVICE_NAME = "gitlab-runner";
export const SERVICE_DESCRIPTION = "GitLab Runner";

/** The official flags of install/uninstall/start/stop/restart/status, parsed by cli/. */
export interface ServiceFlags {
  /** `-n/--service`; default `gitlab-runner`. */
  service?: string;
  /** `-d/--working-directory`; default the current directory. */
  workingDirectory?: string;
  /** `-c/--config`; undefined when not given (then the default path, or `<home of init-user>/config.toml`). */
  config?: string;
  /** `-u/--user`: Unix root: passed to `run --user`; Windows: the service account. */
  user?: string;
  /** `-i/--init-user` (Unix root): the service manager runs the runner as this user. */
  initUser?: string;
  /** `-p/--password` (Windows): password of `--user`. */
  password?: string;
  /** `--syslog`; undefined when not given. */
  syslog?: boolean;
  /** `--user-service` (non-root, systemd): install in the user's systemd instance. */
  userService?: boolean;
}

/** Facts about the machine; cli/ fills them, tests invent them. */
export interface ServiceHost {
  os: "linux" | "darwin" | "windows";
  /** Effective uid; ignored on Windows. */
  uid: number;
  /** Home directory of the user running the command; "" when unknown (HOME unset). */
  home: string;
  cwd: string;
  /**
   * argv prefix that starts this runner: `[binary]` for a compiled runner,
   * `[deno, "run", <COMPILED_GRANT_FLAGS>, main.ts]` from source. The first element
   * must be an absolute path.
   */
  command: readonly string[];
  /** config-reference §0.10 default for this user. */
  defaultConfigFile: string;
  /** Home directory of another user (`--init-user`), undefined when unknown. */
  homeOf(user: string): string | undefined;
  /** Linux: the init system that starts services here (deno_service_io.ts finds it); undefined elsewhere. */
  linuxInit: LinuxInit | undefined;
}

/**
 * systemd when it is PID 1; OpenRC; otherwise SysV init, whose /etc/init.d
 * scripts upstart and most other inits run too (kardianos/service falls back
 * to a SysV script there as well).
 */
export type LinuxInit = "systemd" | "openrc" | "sysv";

export type ServiceKind =
  | "systemd-system"
  | "systemd-user"
  | "launchd-daemon"
  | "launchd-agent"
  | "sysv"
  | "windows";

/** Everything the generators and the manager need, validated. */
export interface ServiceDefinition {
  kind: ServiceKind;
  name: string;
  description: string;
  /** Absolute path of the program the service manager starts. */
  executable: string;
  /** Arguments after `executable`: `[...launcher args, "run", "--config", …]`. */
  arguments: string[];
  configFile: string;
  workingDirectory: string;
  /** `--init-user`: User= in the unit, UserName in the plist; "" for none. */
  runAs: string;
  /** Windows service account and password; "" for LocalSystem. */
  account: string;
  password: string;
  /** Home of the invoking user (user units and launch agents live there). */
  home: string;
}

/**
 * What every service manager takes as a file or service name. At most one `@`,
 * not last: systemd reads `name@.service` as a template, which cannot be
 * enabled, and refuses a second `@`; unit names end at 255 characters with
 * ".service" (UNIT_NAME_MAX).
 */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_.-]+)?$/;
const SERVICE_NAME_MAX = 255 - ".service".length;

function linuxServiceKind(
  action: ServiceAction,
  name: string,
  userService: boolean,
  init: LinuxInit | undefined,
): ServiceKind {
  if (init === "openrc") {
    throw new ServiceError(
      `Cannot ${action} service "${name}": this host runs OpenRC (/run/openrc), for which Runner writes no service; start "runner run" from an OpenRC script of your own`,
    );
  }
  if (init === "sysv") {
    if (userService) {
      // kardianos/service: "User services are not supported on SystemV."
      throw new ServiceError(
        "The --user-service flag needs systemd, which is not running on this host: SysV init has no user services",
      );
    }
    return "sysv";
  }
  return userService ? "systemd-user" : "systemd-system";
}

/**
 * Validates the flags as the official runner does and resolves defaults.
 * Throws ServiceError naming the flag at fault.
 */
export function defineService(
  action: ServiceAction,
  flags: ServiceFlags,
  host: ServiceHost,
): ServiceDefinition {
  const path = host.os === "windows" ? win32 : posix;
  const isRoot = host.os !== "windows" && host.uid === 0;
  const name = flags.service ?? DEFAULT_SERVICE_NAME;
  const user = flags.user ?? "";
  const initUser = flags.initUser ?? "";
  const userService = flags.userService ?? false;

  if (!SERVICE_NAME.test(name) || name.length > SERVICE_NAME_MAX) {
    throw new ServiceError(
      `Invalid service name "${name}" (--service): use up to ${SERVICE_NAME_MAX} letters, digits and . _ - , and at most one @ between them`,
    );
  }
  if (user !== "" && initUser !== "") {
    throw new ServiceError("Only one of --user or --init-user can be specified");
  }
  const executable = host.command[0];
  if (executable === undefined || !path.isAbsolute(executable)) {
    throw new ServiceError(
      `Invalid runner executable "${executable ?? ""}": it must be an absolute path`,
    );
  }

  if (host.os !== "windows") {
    if (userService && isRoot) {
      // The official runner defines the flag for non-root users only; as root it would go
      // unused on macOS and the user would be asked for --user instead.
      throw new ServiceError(
        "The --user-service flag is for non-root users; root installs a system service",
      );
    }
    if ((flags.password ?? "") !== "") {
      // The official runner defines it on Windows only; it would go unused.
      throw new ServiceError(
        "The --password flag is for a Windows service account; on this system the service runs as --user or --init-user without one",
      );
    }
    if (!isRoot && (user !== "" || initUser !== "")) {
      throw new ServiceError(
        `The --${user !== "" ? "user" : "init-user"} flag is not supported for non-root users`,
      );
    }
    if (isRoot && action === "install" && user === "" && initUser === "") {
      throw new ServiceError(
        "Please specify user that will run gitlab-runner service: --user or --init-user",
      );
    }
  }

  let kind: ServiceKind;
  switch (host.os) {
    case "windows":
      if (initUser !== "") {
        throw new ServiceError("The --init-user flag is not supported on Windows");
      }
      if (userService) {
        throw new ServiceError("The --user-service flag is not supported on Windows");
      }
      if (user !== "" && (flags.password ?? "") === "") {
        throw new ServiceError(`The --password flag is required with --user "${user}"`);
      }
      kind = "windows";
      break;
    case "darwin":
      kind = isRoot ? "launchd-daemon" : "launchd-agent";
      break;
    case "linux":
      kind = linuxServiceKind(action, name, userService, host.linuxInit);
      if (!isRoot && kind !== "systemd-user" && (action === "install" || action === "uninstall")) {
        throw new ServiceError(
          `Cannot ${action} a system service without root: run as root${
            kind === "systemd-system" ? " or pass --user-service" : ""
          }`,
        );
      }
      break;
  }
  if ((kind === "systemd-user" || kind === "launchd-agent") && host.home === "") {
    throw new ServiceError(
      "HOME is not set: a user service is found under the home directory (~/.config/systemd/user, ~/Library/LaunchAgents)",
    );
  }
  const workingDirectory = path.resolve(host.cwd, flags.workingDirectory ?? host.cwd);
  let configFile: string;
  if (flags.config !== undefined && flags.config !== "") {
    configFile = path.resolve(host.cwd, flags.config);
  } else if (initUser !== "") {
    const home = host.homeOf(initUser);
    if (home === undefined) {
      throw new ServiceError(`Cannot find the home directory of --init-user "${initUser}"`);
    }
    configFile = path.join(home, "config.toml");
  } else {
    configFile = path.resolve(host.cwd, host.defaultConfigFile);
  }

  // journald already captures stdout/stderr, so systemd units log there
  // unless --syslog is given; elsewhere syslog is on unless --syslog=false.
  const isSystemd = kind === "systemd-system" || kind === "systemd-user";
  const syslog = flags.syslog ?? !isSystemd;

  const args = [
    ...host.command.slice(1),
    "run",
    "--config",
    configFile,
    "--working-directory",
    workingDirectory,
    "--service",
    name,
  ];
  if (syslog) args.push("--syslog");
  if (host.os !== "windows" && user !== "") args.push("--user", user);

  return {
    kind,
    name,
    description: SERVICE_DESCRIPTION,
    executable,
    arguments: args,
    configFile,
    workingDirectory,
    runAs: initUser,
    account: host.os === "windows" ? user : "",
    password: host.os === "windows" ? flags.password ?? "" : "",
    home: host.home,
  };
}
