/** `runner install | uninstall | start | stop | restart | status` (config-reference §16). */
import { fileURLToPath as fromFileUrl } from "node:url";
import { resolve } from "node:path";
import {
  defineService,
  DenoCommandRunner,
  DenoServiceFiles,
  homeOfUser,
  linuxInitSystem,
  pathClosedTo,
  type ServiceAction,
  ServiceError,
  ServiceManager,
} from "../../service/mod.ts";
import { type CliContext, CommandError } from "../cli_context.ts";
import { CONFIG_FLAG, configPath, loadConfig } from "../config_flags.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "../flags.ts";
import { RUNNER_NO_CODE_CACHE_FLAG, RUNNER_V8_FLAGS } from "../../poller/v8_flags.ts";
import { COMPILED_GRANT_FLAGS, isCompiledBinary } from "../../poller/compiled_grants.ts";
import { LAZY_IMPORTS_FLAG } from "../../poller/process_launcher.ts";

export const SERVICE_FLAGS: FlagSpec[] = [
  { name: "service", aliases: ["n"], type: "string", help: "Specify service name to use" },
  {
    name: "working-directory",
    aliases: ["d"],
    type: "string",
    help: "Specify custom root directory",
  },
  CONFIG_FLAG,
  {
    name: "user",
    aliases: ["u"],
    type: "string",
    help: "User to run the jobs as (Unix, as root)",
  },
  {
    name: "init-user",
    aliases: ["i"],
    type: "string",
    help: "User the service manager runs the runner as",
  },
  {
    name: "password",
    aliases: ["p"],
    type: "string",
    help: "Password of a Windows service account (not taken: install is refused on Windows)",
  },
  { name: "syslog", type: "bool", help: "Setup system logging integration" },
  { name: "user-service", type: "bool", help: "Install as a user service (systemd, non-root)" },
];

/** The flags only `install` reads: the others act on the service as it was installed. */
const INSTALL_ONLY_FLAGS = [
  "working-directory",
  "config",
  "user",
  "init-user",
  "password",
  "syslog",
];

/**
 * The flags of one action as its help lists them: the others take the install-only
 * flags only to refuse them by name, so their help leaves them out, as the official one.
 */
export function serviceFlags(action: ServiceAction): FlagSpec[] {
  if (action === "install") return SERVICE_FLAGS;
  return SERVICE_FLAGS.map((spec) =>
    INSTALL_ONLY_FLAGS.includes(spec.name) ? { ...spec, hidden: true } : spec
  );
}

function uidOrZero(): number {
  try {
    return Deno.uid() ?? 0;
  } catch {
    return 0;
  }
}

/** What the service starts: the compiled binary, or `deno run` of `mainModule` as the `runner` task does. */
export function serviceRunnerCommand(execPath: string, mainModule: string): string[] {
  return isCompiledBinary(execPath) ? [execPath] : [
    execPath,
    "run",
    // The grants of a compiled binary: the poller and its executor processes narrow them.
    ...COMPILED_GRANT_FLAGS,
    // And its V8 flags (scripts/compile.ts): a small semi-space for the poller too.
    ...RUNNER_V8_FLAGS,
    // As the `runner` task: a long-running poller gains little from the code cache.
    RUNNER_NO_CODE_CACHE_FLAG,
    // Modules load at first use, as with the `runner` task (poller/poller_permissions.ts).
    LAZY_IMPORTS_FLAG,
    mainModule,
  ];
}

export async function serviceCommand(
  ctx: CliContext,
  action: ServiceAction,
  args: string[],
): Promise<number> {
  const flags = new Flags(parseFlags(args, SERVICE_FLAGS, ctx.env));
  // An empty value would mean the default: `runner uninstall -n "$NAME"` with NAME unset
  // would uninstall gitlab-runner. (--password may be empty: accounts without one.)
  const empty = ["service", "working-directory", "config", "user", "init-user"].find((name) =>
    flags.isExplicit(name) && flags.string(name) === ""
  );
  if (empty) {
    throw new UsageError(`Flag --${empty} is empty: give it a value or leave it out`);
  }
  if (action !== "install") {
    // The official runner does not define them there; they would be ignored.
    const installOnly = INSTALL_ONLY_FLAGS.find((name) => flags.isExplicit(name));
    if (installOnly) {
      throw new UsageError(
        `Flag --${installOnly} is read by install only: ${action} acts on the service as installed (reinstall to change it)`,
      );
    }
  }
  const command = serviceRunnerCommand(
    Deno.execPath(),
    resolve(fromFileUrl(new URL("../main.ts", import.meta.url))),
  );
  const os = Deno.build.os === "darwin"
    ? "darwin"
    : Deno.build.os === "windows"
    ? "windows"
    : "linux";
  const home = ctx.env("HOME") ?? ctx.env("USERPROFILE") ?? "";
  try {
    const definition = defineService(action, {
      ...(flags.string("service") ? { service: flags.string("service") } : {}),
      ...(flags.string("working-directory")
        ? { workingDirectory: flags.string("working-directory") }
        : {}),
      ...(flags.string("config") ? { config: configPath(ctx, flags) } : {}),
      ...(flags.string("user") ? { user: flags.string("user") } : {}),
      ...(flags.string("init-user") ? { initUser: flags.string("init-user") } : {}),
      ...(flags.string("password") ? { password: flags.string("password") } : {}),
      ...(flags.has("syslog") ? { syslog: flags.bool("syslog") } : {}),
      ...(flags.bool("user-service") ? { userService: true } : {}),
    }, {
      os,
      uid: uidOrZero(),
      home,
      cwd: ctx.cwd,
      command,
      defaultConfigFile: configPath(ctx, new Flags(parseFlags([], [CONFIG_FLAG], () => undefined))),
      homeOf: homeOfUser,
      linuxInit: os === "linux" ? linuxInitSystem() : undefined,
    });
    const manager = new ServiceManager({
      commands: new DenoCommandRunner(),
      files: new DenoServiceFiles(),
      log: ctx.log,
    });
    if (action === "install") {
      // As the official install: a config.toml the service could not start with is refused now,
      // not found by the service manager restarting it every 2 minutes.
      await loadConfig(ctx, definition.configFile);
      const isDirectory = await Deno.stat(definition.workingDirectory).then(
        (info) => info.isDirectory,
        () => false,
      );
      if (!isDirectory) {
        // `run --working-directory` stops when it cannot enter it: the service would restart
        // every 2 minutes.
        throw new CommandError(
          `Working directory "${definition.workingDirectory}" (--working-directory) is not a directory on this host`,
        );
      }
      const user = flags.string("user");
      if (os !== "windows" && user !== "" && homeOfUser(user) === undefined) {
        // `run --user` refuses to start when it cannot switch to the user: the service would
        // restart every 2 minutes.
        throw new CommandError(
          `No user "${user}" on this host (--user): the installed service could not run jobs as it`,
        );
      }
      // With --config its home was not looked up; systemd (User=) and launchd (UserName)
      // cannot start a service as a user that does not exist, and would retry every 2 minutes.
      if (definition.runAs !== "" && homeOfUser(definition.runAs) === undefined) {
        throw new CommandError(
          `No user "${definition.runAs}" on this host (--init-user): the service manager could not start the runner as it`,
        );
      }
      if (definition.runAs !== "" && os !== "windows") {
        // The runner runs as this user: `run` must enter its working directory and read its
        // config, or it stops at start and the service manager restarts it every 2 minutes.
        const reached: [string, "read" | "enter", string][] = [
          [definition.workingDirectory, "enter", "working-directory"],
          [definition.configFile, "read", "config"],
        ];
        for (const [path, need, flag] of reached) {
          const closed = pathClosedTo(definition.runAs, path, need);
          if (closed !== undefined) {
            throw new CommandError(
              `User "${definition.runAs}" (--init-user) cannot ${need} "${path}" (--${flag}): "${closed}" is closed to it`,
            );
          }
        }
      }
    }
    if (action === "status") {
      const status = await manager.status(definition);
      if (status.isRunning) ctx.out(status.message);
      else ctx.err(status.message);
      return status.exitCode;
    }
    await manager.run(action, definition);
    return 0;
  } catch (err) {
    if (err instanceof ServiceError) throw new CommandError(err.message, 1, { cause: err });
    throw err;
  }
}
