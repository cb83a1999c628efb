import { win32 } from "node:path";
import type { ServiceDefinition } from "./service_definition.ts";
import type { CommandResult, ServicePlatform, ServiceState, ServiceStep } from "./service_plan.ts";
import { configSteps } from "./default_config.ts";

/**
 * A Windows service driven by the built-in tools, no PowerShell needed:
 * `sc.exe` creates, describes, deletes and queries the service; `net.exe`
 * starts and stops it because, unlike `sc.exe start/stop`, it waits until
 * the service reached the new state, which `restart` relies on.
 *
 * sc.exe takes each `option=` and its value as two arguments; binPath is one
 * argument holding the whole command line, the executable always quoted
 * (an unquoted path with spaces is the classic service-hijack hole).
 */
/**
 * Why ServiceManager refuses `install` on Windows. The Service Control Manager
 * waits for the program it starts to call StartServiceCtrlDispatcher and report
 * "running"; the official runner does (kardianos/service), Runner does not (it
 * would need FFI, which its grants exclude). A service created for it fails
 * every start after 30 s (event 7009, error 1053), so none is created. The other
 * actions drive a service by name, which works for one a wrapper installed.
 */
export const WINDOWS_INSTALL_REFUSAL =
  'Runner cannot run as a Windows service: the Service Control Manager fails the start of a program that does not report to it through StartServiceCtrlDispatcher within 30 s, and Runner does not; run "runner run" under a service wrapper (WinSW, NSSM) or as a scheduled task at startup instead';

export class WindowsPlatform implements ServicePlatform {
  readonly definitionPath = undefined;
  readonly managerPath = undefined;
  readonly #service: ServiceDefinition;

  constructor(service: ServiceDefinition) {
    this.#service = service;
  }

  /** The command line the Service Control Manager starts. */
  binaryPath(): string {
    return [`"${this.#service.executable}"`, ...this.#service.arguments.map(quoteWindowsArg)]
      .join(" ");
  }

  install(): ServiceStep[] {
    const service = this.#service;
    const create = [
      "sc.exe",
      "create",
      service.name,
      "binPath=",
      this.binaryPath(),
      "start=",
      "auto",
      "DisplayName=",
      service.name,
    ];
    if (service.account !== "") create.push("obj=", service.account, "password=", service.password);
    return [
      ...configSteps(service, win32),
      { kind: "run", argv: create },
      { kind: "run", argv: ["sc.exe", "description", service.name, service.description] },
      // Restart=always / RestartSec=120 of the systemd unit, in SCM terms.
      {
        kind: "run",
        argv: [
          "sc.exe",
          "failure",
          service.name,
          "reset=",
          "86400",
          "actions=",
          "restart/120000/restart/120000/restart/120000",
        ],
      },
    ];
  }

  uninstall(): ServiceStep[] {
    return [{ kind: "run", argv: ["sc.exe", "delete", this.#service.name] }];
  }

  start(): ServiceStep[] {
    return [{ kind: "run", argv: ["net.exe", "start", this.#service.name] }];
  }

  stop(): ServiceStep[] {
    return [{ kind: "run", argv: ["net.exe", "stop", this.#service.name] }];
  }

  restart(): ServiceStep[] {
    return [
      { kind: "run", argv: ["net.exe", "stop", this.#service.name], mayFail: true },
      { kind: "run", argv: ["net.exe", "start", this.#service.name] },
    ];
  }

  statusCommand(): string[] {
    return ["sc.exe", "query", this.#service.name];
  }

  /**
   * `sc.exe query` prints `STATE              : 4  RUNNING`; it exits 1060
   * (ERROR_SERVICE_DOES_NOT_EXIST) for an unknown service.
   */
  readStatus(result: CommandResult, _isDefined: boolean): ServiceState {
    if (result.code === 1060 || /\b1060\b/.test(result.stdout)) return "not-installed";
    const state = /STATE\s*:\s*\d+\s+(\w+)/.exec(result.stdout)?.[1];
    if (state === "RUNNING") return "running";
    if (state === "STOPPED") return "stopped";
    return "unknown";
  }
}

/**
 * Quotes one argument for a Windows command line so that the C runtime's
 * parser (CommandLineToArgvW) gives it back unchanged: backslashes are
 * doubled only where they precede a quote.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === "\\") {
      backslashes++;
      continue;
    }
    if (ch === '"') {
      out += "\\".repeat(backslashes * 2 + 1) + '"';
    } else {
      out += "\\".repeat(backslashes) + ch;
    }
    backslashes = 0;
  }
  return out + "\\".repeat(backslashes * 2) + '"';
}

/** The argv as one command line, as a user would type it in cmd.exe. */
export function windowsCommandLine(argv: readonly string[]): string {
  return argv.map(quoteWindowsArg).join(" ");
}
