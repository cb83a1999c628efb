import { posix } from "node:path";
import { configSteps } from "./default_config.ts";
import type { ServiceDefinition } from "./service_definition.ts";
import type {
  CommandResult,
  RunStep,
  ServicePlatform,
  ServiceState,
  ServiceStep,
} from "./service_plan.ts";

/**
 * The unit the official runner installs (config-reference §16), e.g.
 *
 *     ExecStart=/usr/bin/gitlab-runner "run" "--config" "/etc/gitlab-runner/config.toml" ...
 *
 * Stop uses systemd's default SIGTERM, which the runner treats as a forceful
 * shutdown (jobs are cancelled within shutdown_timeout), the same as the
 * official unit. docs/install.md shows the drop-in that switches to SIGQUIT
 * for a graceful drain.
 */
export function renderSystemdUnit(service: ServiceDefinition): string {
  const isUser = service.kind === "systemd-user";
  const exec = [escapeExecutable(service.executable), ...service.arguments.map(quoteArgument)];
  const lines = [
    "[Unit]",
    `Description=${service.description}`,
    "After=network.target",
    `ConditionFileIsExecutable=${escapeSpecifiers(service.executable)}`,
    "",
    "[Service]",
    "StartLimitInterval=5",
    "StartLimitBurst=10",
    `ExecStart=${exec.join(" ")}`,
  ];
  if (service.runAs !== "" && !isUser) lines.push(`User=${service.runAs}`);
  lines.push(
    "Restart=always",
    "RestartSec=120",
    `EnvironmentFile=-/etc/sysconfig/${service.name}`,
    "",
    "[Install]",
    `WantedBy=${isUser ? "default.target" : "multi-user.target"}`,
    "",
  );
  return lines.join("\n");
}

/** Where the unit goes: /etc/systemd/system, or ~/.config/systemd/user for --user-service. */
export function systemdUnitPath(service: ServiceDefinition): string {
  return service.kind === "systemd-user"
    ? posix.join(service.home, ".config/systemd/user", `${service.name}.service`)
    : `/etc/systemd/system/${service.name}.service`;
}

/**
 * sd_booted(3): systemd is the init system iff this directory exists. Without
 * it (a container, a SysV or OpenRC host) systemctl answers "System has not
 * been booted with systemd as init system (PID 1). Can't operate." only after
 * install wrote the unit and the config, and the unit left behind then made the
 * next install refuse as "already installed".
 */
const SYSTEMD_RUNTIME_DIR = "/run/systemd/system";

export class SystemdPlatform implements ServicePlatform {
  readonly definitionPath: string;
  readonly managerPath = {
    path: SYSTEMD_RUNTIME_DIR,
    isMissing:
      `systemd is not running on this host (no ${SYSTEMD_RUNTIME_DIR}); run the command again to use the init system there is`,
  };
  readonly #service: ServiceDefinition;
  readonly #systemctl: string[];
  readonly #unit: string;

  constructor(service: ServiceDefinition) {
    this.#service = service;
    this.definitionPath = systemdUnitPath(service);
    this.#systemctl = service.kind === "systemd-user" ? ["systemctl", "--user"] : ["systemctl"];
    this.#unit = `${service.name}.service`;
  }

  install(): ServiceStep[] {
    return [
      {
        kind: "require-absent",
        path: this.definitionPath,
        why: "the service is already installed; run uninstall first",
      },
      ...configSteps(this.#service),
      { kind: "mkdir", path: posix.dirname(this.definitionPath), mode: 0o755 },
      {
        kind: "write",
        path: this.definitionPath,
        content: renderSystemdUnit(this.#service),
        mode: 0o644,
      },
      this.#run("daemon-reload"),
      this.#run("enable", this.#unit),
    ];
  }

  uninstall(): ServiceStep[] {
    return [
      // As the official uninstall, which fails when the unit or plist is missing: a mistyped
      // --service must not look uninstalled.
      { kind: "require-present", path: this.definitionPath, why: "the service is not installed" },
      { ...this.#run("disable", this.#unit), mayFail: true },
      { kind: "remove", path: this.definitionPath },
      this.#run("daemon-reload"),
    ];
  }

  start(): ServiceStep[] {
    return [this.#run("start", this.#unit)];
  }

  stop(): ServiceStep[] {
    return [this.#run("stop", this.#unit)];
  }

  restart(): ServiceStep[] {
    return [this.#run("restart", this.#unit)];
  }

  statusCommand(): string[] {
    return [...this.#systemctl, "is-active", this.#unit];
  }

  readStatus(result: CommandResult, isDefined: boolean): ServiceState {
    const state = result.stdout.trim();
    if (state === "active" || state === "reloading" || state === "activating") return "running";
    if (!isDefined) return "not-installed";
    // "failed": it exited with an error, or systemd gave up restarting it (StartLimitBurst).
    if (state === "failed") return "failed";
    if (state === "inactive" || state === "deactivating") return "stopped";
    return "unknown";
  }

  #run(...args: string[]): RunStep {
    return { kind: "run", argv: [...this.#systemctl, ...args] };
  }
}

/**
 * Quotes one ExecStart argument: systemd splits on whitespace, honours
 * double quotes with C escapes, expands `%` specifiers and `$VAR`s. A unit
 * file is read line by line, so control characters (a newline in a directory
 * name) become `\xNN` escapes, which systemd decodes.
 */
function quoteArgument(arg: string): string {
  const escaped = escapeControls(
    arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("%", "%%")
      .replaceAll("$", () => "$$"),
  );
  return `"${escaped}"`;
}

/**
 * The program path stays unquoted, as in the official unit; spaces become
 * \x20, and so do quotes, which systemd honours anywhere in a word.
 */
function escapeExecutable(path: string): string {
  return escapeControls(
    escapeSpecifiers(path).replaceAll("\\", "\\\\").replace(/[ "']/g, hexEscape),
  );
}

function escapeControls(text: string): string {
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f]/g, hexEscape);
}

function hexEscape(ch: string): string {
  return `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%");
}
