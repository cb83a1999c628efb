import { posix } from "node:path";
import type { ServiceDefinition } from "./service_definition.ts";
import type { CommandResult, ServicePlatform, ServiceState, ServiceStep } from "./service_plan.ts";
import { configSteps } from "./default_config.ts";

/**
 * The launchd job: Label = service name, ProgramArguments = runner + `run …`,
 * KeepAlive and RunAtLoad true (config-reference §16). Output goes to
 * `<name>.out.log` / `<name>.err.log` under /Library/Logs (daemon) or
 * ~/Library/Logs (agent), directories that exist on every macOS install.
 */
export function renderLaunchdPlist(service: ServiceDefinition): string {
  const logDir = launchdLogDir(service);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    "<dict>",
    "  <key>Label</key>",
    `  <string>${escapeXml(service.name)}</string>`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...[service.executable, ...service.arguments].map((arg) =>
      `    <string>${escapeXml(arg)}</string>`
    ),
    "  </array>",
  ];
  if (service.runAs !== "") {
    lines.push("  <key>UserName</key>", `  <string>${escapeXml(service.runAs)}</string>`);
  }
  lines.push(
    "  <key>KeepAlive</key>",
    "  <true/>",
    "  <key>RunAtLoad</key>",
    "  <true/>",
    "  <key>Disabled</key>",
    "  <false/>",
    "  <key>StandardOutPath</key>",
    `  <string>${escapeXml(posix.join(logDir, `${service.name}.out.log`))}</string>`,
    "  <key>StandardErrorPath</key>",
    `  <string>${escapeXml(posix.join(logDir, `${service.name}.err.log`))}</string>`,
    "</dict>",
    "</plist>",
    "",
  );
  return lines.join("\n");
}

/** /Library/LaunchDaemons/<name>.plist as root, ~/Library/LaunchAgents/<name>.plist otherwise. */
export function launchdPlistPath(service: ServiceDefinition): string {
  return service.kind === "launchd-daemon"
    ? `/Library/LaunchDaemons/${service.name}.plist`
    : posix.join(service.home, "Library/LaunchAgents", `${service.name}.plist`);
}

function launchdLogDir(service: ServiceDefinition): string {
  return service.kind === "launchd-daemon"
    ? "/Library/Logs"
    : posix.join(service.home, "Library/Logs");
}

/**
 * Driven with `launchctl load/unload <plist>`, like the official runner;
 * install only writes the plist, start loads it (RunAtLoad then starts it).
 */
export class LaunchdPlatform implements ServicePlatform {
  readonly definitionPath: string;
  readonly managerPath = undefined;
  readonly #service: ServiceDefinition;

  constructor(service: ServiceDefinition) {
    this.#service = service;
    this.definitionPath = launchdPlistPath(service);
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
        content: renderLaunchdPlist(this.#service),
        mode: 0o644,
      },
    ];
  }

  uninstall(): ServiceStep[] {
    return [
      // As the official uninstall, which fails when the unit or plist is missing: a mistyped
      // --service must not look uninstalled.
      { kind: "require-present", path: this.definitionPath, why: "the service is not installed" },
      { kind: "run", argv: ["launchctl", "unload", this.definitionPath], mayFail: true },
      { kind: "remove", path: this.definitionPath },
    ];
  }

  start(): ServiceStep[] {
    return [{ kind: "run", argv: ["launchctl", "load", this.definitionPath] }];
  }

  stop(): ServiceStep[] {
    return [{ kind: "run", argv: ["launchctl", "unload", this.definitionPath] }];
  }

  restart(): ServiceStep[] {
    return [
      { kind: "run", argv: ["launchctl", "unload", this.definitionPath], mayFail: true },
      { kind: "run", argv: ["launchctl", "load", this.definitionPath] },
    ];
  }

  statusCommand(): string[] {
    return ["launchctl", "list", this.#service.name];
  }

  /** `launchctl list <label>` prints a dictionary with `"PID" = 123;` while the job runs. */
  readStatus(result: CommandResult, isDefined: boolean): ServiceState {
    if (!isDefined) return "not-installed";
    if (result.code !== 0) return "stopped"; // not loaded
    return /"PID"\s*=\s*\d+;/.test(result.stdout) ? "running" : "stopped";
  }
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&apos;");
}
