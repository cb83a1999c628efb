import { posix } from "node:path";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import { LaunchdPlatform } from "./launchd_plist.ts";
import type { ServiceAction, ServiceDefinition } from "./service_definition.ts";
import { ServiceError } from "./service_error.ts";
import type { CommandResult, ServicePlatform, ServiceState, ServiceStep } from "./service_plan.ts";
import { SysvPlatform } from "./sysv_init_script.ts";
import { SystemdPlatform } from "./systemd_unit.ts";
import { WINDOWS_INSTALL_REFUSAL, WindowsPlatform } from "./windows_service.ts";

/** Runs service-manager programs (systemctl, launchctl, sc.exe). */
export interface CommandRunner {
  /** Resolves with the exit code; rejects only when the program cannot be started. */
  run(argv: readonly string[]): Promise<CommandResult>;
}

/** File operations the installer needs. */
export interface ServiceFiles {
  exists(path: string): Promise<boolean>;
  /** Creates parents as needed; an existing directory keeps its mode. */
  mkdir(path: string, mode: number): Promise<void>;
  writeFile(path: string, content: string, mode: number): Promise<void>;
  /** Gives `path` to `user` and the user's primary group (Unix). */
  chown(path: string, user: string): Promise<void>;
  /** A missing file is not an error. */
  remove(path: string): Promise<void>;
}

/** The answer of `status`: cli/ prints `message` on stdout (exit 0) or stderr (exit 1). */
export interface ServiceStatus {
  state: ServiceState;
  isRunning: boolean;
  /** `<name>: Service is running`, `<name>: Service has stopped`, … */
  message: string;
  exitCode: 0 | 1;
}

/** The service-manager driver for a definition's kind. */
export function servicePlatform(service: ServiceDefinition): ServicePlatform {
  switch (service.kind) {
    case "systemd-system":
    case "systemd-user":
      return new SystemdPlatform(service);
    case "launchd-daemon":
    case "launchd-agent":
      return new LaunchdPlatform(service);
    case "sysv":
      return new SysvPlatform(service);
    case "windows":
      return new WindowsPlatform(service);
  }
}

/** The steps of one action; `status` has none (see ServiceManager.status). */
export function planServiceAction(
  action: Exclude<ServiceAction, "status">,
  service: ServiceDefinition,
): ServiceStep[] {
  const platform = servicePlatform(service);
  switch (action) {
    case "install":
      return platform.install();
    case "uninstall":
      return platform.uninstall();
    case "start":
      return platform.start();
    case "stop":
      return platform.stop();
    case "restart":
      return platform.restart();
  }
}

const STATUS_TEXT: Record<ServiceState, string> = {
  "running": "Service is running",
  "stopped": "Service has stopped",
  // kardianos/service's error for systemd's "failed", which the official runner prints.
  "failed": "service in failed state",
  // kardianos/service's ErrNotInstalled, which the official runner prints.
  "not-installed": "the service is not installed",
  "unknown": "Service status unknown",
};

/**
 * Carries out install/uninstall/start/stop/restart/status through injected
 * commands and files. Steps run in order and the first failure stops the
 * plan with a ServiceError naming the step; steps already done are not
 * undone (the official runner does not either).
 */
export class ServiceManager {
  readonly #commands: CommandRunner;
  readonly #files: ServiceFiles;
  readonly #log: Logger;

  constructor(options: { commands: CommandRunner; files: ServiceFiles; log: Logger }) {
    this.#commands = options.commands;
    this.#files = options.files;
    this.#log = options.log;
  }

  async run(action: Exclude<ServiceAction, "status">, service: ServiceDefinition): Promise<void> {
    await this.#requireManager(servicePlatform(service), `${action} service "${service.name}"`);
    if (action === "install" && service.kind === "windows") {
      throw new ServiceError(
        `Cannot install service "${service.name}": ${WINDOWS_INSTALL_REFUSAL}`,
      );
    }
    const steps = planServiceAction(action, service);
    for (const step of steps) await this.#runStep(action, service, step);
  }

  async status(service: ServiceDefinition): Promise<ServiceStatus> {
    const platform = servicePlatform(service);
    await this.#requireManager(platform, `read the status of service "${service.name}"`);
    const path = platform.definitionPath;
    const isDefined = path === undefined ? true : await this.#files.exists(path);
    let state: ServiceState;
    // Why the state is unknown (a user bus that su or sudo did not bring, no systemctl):
    // the official runner prints the error there too.
    let why = "";
    const argv = platform.statusCommand();
    try {
      const result = await this.#commands.run(argv);
      state = platform.readStatus(result, isDefined);
      why = result.stderr.trim().split("\n")[0] ?? "";
    } catch (error) {
      state = isDefined ? "unknown" : "not-installed";
      why = `${argv.join(" ")}: ${errorText(error)}`;
    }
    const isRunning = state === "running";
    return {
      state,
      isRunning,
      message: `${service.name}: ${STATUS_TEXT[state]}${
        state === "unknown" && why ? `: ${why}` : ""
      }`,
      exitCode: isRunning ? 0 : 1,
    };
  }

  /** `path` and its ancestors that do not exist, outermost first (Unix paths: owners are Unix). */
  async #missingDirectories(path: string): Promise<string[]> {
    const missing: string[] = [];
    for (let dir = path; !await this.#files.exists(dir); dir = posix.dirname(dir)) {
      missing.unshift(dir);
      if (posix.dirname(dir) === dir) break;
    }
    return missing;
  }

  async #requireManager(platform: ServicePlatform, what: string): Promise<void> {
    const manager = platform.managerPath;
    if (manager === undefined || await this.#files.exists(manager.path)) return;
    throw new ServiceError(`Cannot ${what}: ${manager.isMissing}`);
  }

  async #runStep(action: string, service: ServiceDefinition, step: ServiceStep): Promise<void> {
    const fail = (what: string, cause?: unknown): never => {
      throw new ServiceError(
        `Cannot ${action} service "${service.name}": ${what}`,
        cause === undefined ? undefined : { cause },
      );
    };
    try {
      switch (step.kind) {
        case "require-absent":
          if (await this.#files.exists(step.path)) fail(`"${step.path}" exists: ${step.why}`);
          return;
        case "require-present":
          if (!await this.#files.exists(step.path)) {
            fail(`"${step.path}" does not exist: ${step.why}`);
          }
          return;
        case "mkdir": {
          const created = step.owner === undefined ? [] : await this.#missingDirectories(step.path);
          await this.#files.mkdir(step.path, step.mode);
          for (const dir of created) await this.#files.chown(dir, step.owner!);
          return;
        }
        case "write":
          if (step.isKeptIfPresent && await this.#files.exists(step.path)) return;
          await this.#files.writeFile(step.path, step.content, step.mode);
          if (step.owner !== undefined) await this.#files.chown(step.path, step.owner);
          this.#log.info("Wrote file", { [F.SERVICE]: service.name, [F.FILE]: step.path });
          return;
        case "remove":
          await this.#files.remove(step.path);
          return;
        case "run":
          await this.#runCommand(step.argv, step.mayFail ?? false, fail);
          return;
        case "run-first":
          for (const argv of step.choices) {
            try {
              await this.#runCommand(argv, false, fail);
              return;
            } catch (error) {
              if (!(error instanceof Deno.errors.NotFound)) throw error;
            }
          }
          if (step.ifNone !== undefined) {
            this.#log.warn(step.ifNone, { [F.SERVICE]: service.name });
          }
          return;
      }
    } catch (error) {
      if (error instanceof ServiceError) throw error;
      const target = step.kind === "run"
        ? `"${step.argv.join(" ")}"`
        : step.kind === "run-first"
        ? step.choices.map((argv) => `"${argv.join(" ")}"`).join(" or ")
        : `"${step.path}"`;
      fail(`${step.kind} ${target} failed: ${errorText(error)}`, error);
    }
  }

  /** Rejects as the runner does when the program is missing (Deno.errors.NotFound). */
  async #runCommand(
    argv: string[],
    mayFail: boolean,
    fail: (what: string) => never,
  ): Promise<void> {
    const result = await this.#commands.run(argv);
    this.#log.debug("Ran service command", {
      [F.COMMAND]: argv.join(" "),
      [F.STATUS]: result.code,
    });
    if (result.code !== 0 && !mayFail) {
      const output = (result.stderr.trim() || result.stdout.trim()).split("\n")[0] ?? "";
      fail(`"${argv.join(" ")}" exited with ${result.code}${output ? `: ${output}` : ""}`);
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
