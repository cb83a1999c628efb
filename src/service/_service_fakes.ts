import type { CommandResult } from "./service_plan.ts";
import type { CommandRunner, ServiceFiles } from "./service_manager.ts";
import type { ServiceHost } from "./service_definition.ts";
import type { LogFields, Logger } from "../log/logger.ts";

/** Test doubles for service/ tests; not used by production code. */

export function linuxRoot(overrides: Partial<ServiceHost> = {}): ServiceHost {
  return {
    os: "linux",
    uid: 0,
    home: "/root",
    cwd: "/home/gitlab-runner",
    command: ["/usr/bin/gitlab-runner"],
    defaultConfigFile: "/etc/gitlab-runner/config.toml",
    homeOf: (user) => (user === "gitlab-runner" ? "/home/gitlab-runner" : undefined),
    linuxInit: "systemd",
    ...overrides,
  };
}

export function linuxUser(overrides: Partial<ServiceHost> = {}): ServiceHost {
  return linuxRoot({
    uid: 1000,
    home: "/home/alice",
    cwd: "/home/alice",
    defaultConfigFile: "/home/alice/.gitlab-runner/config.toml",
    ...overrides,
  });
}

export function macHost(uid: number): ServiceHost {
  return {
    os: "darwin",
    uid,
    home: uid === 0 ? "/var/root" : "/Users/alice",
    cwd: "/Users/alice",
    command: ["/usr/local/bin/gitlab-runner"],
    defaultConfigFile: uid === 0
      ? "/etc/gitlab-runner/config.toml"
      : "/Users/alice/.gitlab-runner/config.toml",
    homeOf: () => undefined,
    linuxInit: undefined,
  };
}

export function windowsHost(): ServiceHost {
  return {
    os: "windows",
    uid: -1,
    home: "C:\\Users\\alice",
    cwd: "C:\\GitLab-Runner",
    command: ["C:\\GitLab-Runner\\gitlab-runner.exe"],
    defaultConfigFile: "C:\\GitLab-Runner\\config.toml",
    homeOf: () => undefined,
    linuxInit: undefined,
  };
}

export class ScriptedCommands implements CommandRunner {
  readonly ran: string[][] = [];
  constructor(readonly answer: (argv: readonly string[]) => CommandResult = () => ok("")) {}
  run(argv: readonly string[]): Promise<CommandResult> {
    this.ran.push([...argv]);
    return Promise.resolve(this.answer(argv));
  }
}

export function ok(stdout: string): CommandResult {
  return { code: 0, stdout, stderr: "" };
}

export class MemoryFiles implements ServiceFiles {
  readonly files = new Map<string, { content: string; mode: number }>();
  readonly dirs = new Map<string, number>();
  readonly log: string[] = [];
  exists(path: string): Promise<boolean> {
    return Promise.resolve(this.files.has(path) || this.dirs.has(path));
  }
  mkdir(path: string, mode: number): Promise<void> {
    this.log.push(`mkdir ${path} ${mode.toString(8)}`);
    if (!this.dirs.has(path)) this.dirs.set(path, mode);
    return Promise.resolve();
  }
  writeFile(path: string, content: string, mode: number): Promise<void> {
    this.log.push(`write ${path} ${mode.toString(8)}`);
    this.files.set(path, { content, mode });
    return Promise.resolve();
  }
  chown(path: string, user: string): Promise<void> {
    this.log.push(`chown ${path} ${user}`);
    return Promise.resolve();
  }
  remove(path: string): Promise<void> {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
    return Promise.resolve();
  }
}

export class SilentLogger implements Logger {
  debug(_msg: string, _fields?: LogFields): void {}
  info(_msg: string, _fields?: LogFields): void {}
  warn(_msg: string, _fields?: LogFields): void {}
  error(_msg: string, _fields?: LogFields): void {}
  child(_fields: LogFields): Logger {
    return this;
  }
}
