/**
 * `runner`: the command line. Parses global options, builds the logger and
 * hands over to a command. Only this module maps errors to exit codes.
 */
import { ConfigError, formatConfigProblem } from "../config/config_error.ts";
import { LogSink, parseLogFormat, parseLogLevel, StreamLogger } from "../log/mod.ts";
import { type CliContext, CommandError, type PollerScope } from "./cli_context.ts";
import { surviveFileSizeLimit } from "./file_size_signal.ts";
import {
  Flags,
  type FlagSpec,
  parseFlags,
  renderHelp,
  UnknownFlagError,
  UsageError,
} from "./flags.ts";
import { renderVersion, type VersionInfo, versionInfo } from "./version.ts";
const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "debug", type: "bool", env: "RUNNER_DEBUG", help: "Debug mode" },
  {
    name: "log-level",
    aliases: ["l"],
    type: "string",
    env: "LOG_LEVEL",
    help: "Log level (debug, info, warn, error, fatal, panic)",
  },
  {
    name: "log-format",
    type: "string",
    env: "LOG_FORMAT",
    help: "Log format (runner, text, json)",
  },
  {
    name: "cpuprofile",
    type: "string",
    env: "CPU_PROFILE",
    help: "Not supported: warns that no CPU profile is written",
    hidden: true,
  },
  { name: "help", aliases: ["h"], type: "bool", help: "Show help" },
  { name: "version", aliases: ["v"], type: "bool", help: "Print the version" },
];

/**
 * The official register, run-single and exec flags of sections Runner does
 * not have (docs/upgrading.md): refused as unknown, saying whose they are.
 */
const OFFICIAL_ONLY_FLAGS: readonly (readonly [string, string])[] = [
  ["kubernetes-", "the kubernetes executor ([runners.kubernetes])"],
  ["machine-", "the docker+machine executor ([runners.machine])"],
  ["parallels-", "the parallels executor ([runners.parallels])"],
  ["virtualbox-", "the virtualbox executor ([runners.virtualbox])"],
  ["referees-", "[runners.referees]"],
];

/** `--cpuprofile`, or `CPU_PROFILE` when the value came from the environment. */
function given(flags: Flags, name: string): string {
  const env = GLOBAL_FLAGS.find((f) => f.name === name)?.env;
  return flags.isExplicit(name) || env === undefined ? `--${name}` : env;
}

/**
 * The global options. A flag of the command given before it (`runner -c
 * config.toml list`) is named as the command's, to go after it.
 */
async function parseGlobalFlags(
  global: string[],
  command: string | undefined,
  env: (name: string) => string | undefined,
): Promise<Flags> {
  try {
    return new Flags(parseFlags(global, GLOBAL_FLAGS, env));
  } catch (err) {
    const known = commandNamed(command);
    if (!(err instanceof UnknownFlagError) || known === undefined) throw err;
    const { flags } = await known.load();
    const spec = flags.find((f) => [f.name, ...(f.aliases ?? [])].includes(err.flag));
    if (spec === undefined) throw err;
    throw new UsageError(
      `${err.message}: a flag of ${command}, given after it (runner ${command} --${spec.name} …)`,
      { cause: err },
    );
  }
}

/** `parse` of the flag's value; its RangeError names the flag or variable it came from. */
function named<T>(flags: Flags, name: string, parse: (value: string) => T): T {
  try {
    return parse(flags.string(name));
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new UsageError(`${flags.label(name)}: ${err.message}`, { cause: err });
  }
}

/** A command's flags and entry point, from its module. */
interface LoadedCommand {
  flags: FlagSpec[];
  run(ctx: CliContext, args: string[]): Promise<number>;
}

interface Command {
  summary: string;
  /**
   * Imports the command's module on first use: every process (the poller, each
   * executor process, `--version`) would otherwise load and compile every
   * command's dependencies (prom-client, yaml, the service managers…). The
   * specifiers are string literals so that `deno compile` embeds the modules.
   */
  load(): Promise<LoadedCommand>;
  hidden?: boolean;
}

type ServiceAction = "install" | "uninstall" | "start" | "stop" | "restart" | "status";

function serviceAction(action: ServiceAction): () => Promise<LoadedCommand> {
  return async () => {
    const { serviceFlags, serviceCommand } = await import("./commands/service.ts");
    return { flags: serviceFlags(action), run: (c, a) => serviceCommand(c, action, a) };
  };
}

const COMMANDS: Record<string, Command> = {
  run: {
    summary: "Run multi runner service",
    load: async () => {
      const { RUN_FLAGS, runCommand } = await import("./commands/run.ts");
      return { flags: RUN_FLAGS, run: runCommand };
    },
  },
  register: {
    summary: "Register a new runner",
    load: async () => {
      const { REGISTER_FLAGS, registerCommand } = await import("./commands/register.ts");
      return { flags: REGISTER_FLAGS, run: registerCommand };
    },
  },
  unregister: {
    summary: "Unregister a runner",
    load: async () => {
      const { UNREGISTER_FLAGS, unregisterCommand } = await import("./commands/manage.ts");
      return { flags: UNREGISTER_FLAGS, run: unregisterCommand };
    },
  },
  verify: {
    summary: "Verify all registered runners",
    load: async () => {
      const { VERIFY_FLAGS, verifyCommand } = await import("./commands/manage.ts");
      return { flags: VERIFY_FLAGS, run: verifyCommand };
    },
  },
  list: {
    summary: "List all configured runners",
    load: async () => {
      const { LIST_FLAGS, listCommand } = await import("./commands/manage.ts");
      return { flags: LIST_FLAGS, run: listCommand };
    },
  },
  "reset-token": {
    summary: "Reset a runner's token",
    load: async () => {
      const { RESET_TOKEN_FLAGS, resetTokenCommand } = await import("./commands/manage.ts");
      return { flags: RESET_TOKEN_FLAGS, run: resetTokenCommand };
    },
  },
  lint: {
    summary: "Check config.toml for errors and unknown keys",
    load: async () => {
      const { LINT_FLAGS, lintCommand } = await import("./commands/manage.ts");
      return { flags: LINT_FLAGS, run: lintCommand };
    },
  },
  "run-single": {
    summary: "Start a single runner given by flags",
    load: async () => {
      const [{ RUN_SINGLE_FLAGS }, { runSingleCommand }] = await Promise.all([
        import("./commands/run_single_flags.ts"),
        import("./commands/run.ts"),
      ]);
      return { flags: RUN_SINGLE_FLAGS, run: runSingleCommand };
    },
  },
  exec: {
    summary: "Run the pipeline of .gitlab-ci.yml locally",
    load: async () => {
      const { EXEC_FLAGS, execCommand } = await import("./commands/exec.ts");
      return { flags: EXEC_FLAGS, run: execCommand };
    },
  },
  cache: {
    summary: "Manage caches (cache clear)",
    load: async () => {
      const { CACHE_FLAGS, cacheCommand } = await import("./commands/cache.ts");
      return { flags: CACHE_FLAGS, run: cacheCommand };
    },
  },
  "read-config": {
    summary: "Print config.toml as run loads it, as JSON (internal: run's supervisor)",
    hidden: true,
    load: async () => {
      const { READ_CONFIG_FLAGS, readConfigCommand } = await import("./config_reader_process.ts");
      return { flags: READ_CONFIG_FLAGS, run: readConfigCommand };
    },
  },
  "parse-config": {
    summary: "Print config.toml text from stdin as run parses it, as JSON (internal: run's poller)",
    hidden: true,
    load: async () => {
      const { PARSE_CONFIG_FLAGS, parseConfigCommand } = await import("./config_reader_process.ts");
      return { flags: PARSE_CONFIG_FLAGS, run: parseConfigCommand };
    },
  },
  "artifacts-uploader": {
    summary: "Create and upload build artifacts (internal)",
    hidden: true,
    load: async () => {
      const m = await import("./commands/job_helpers.ts");
      return { flags: m.ARTIFACTS_UPLOADER_FLAGS, run: m.artifactsUploaderCommand };
    },
  },
  "artifacts-downloader": {
    summary: "Download and extract build artifacts (internal)",
    hidden: true,
    load: async () => {
      const m = await import("./commands/job_helpers.ts");
      return { flags: m.ARTIFACTS_DOWNLOADER_FLAGS, run: m.artifactsDownloaderCommand };
    },
  },
  "cache-archiver": {
    summary: "Create and upload cache artifacts (internal)",
    hidden: true,
    load: async () => {
      const m = await import("./commands/job_helpers.ts");
      return { flags: m.CACHE_ARCHIVER_FLAGS, run: m.cacheArchiverCommand };
    },
  },
  "cache-extractor": {
    summary: "Download and extract cache artifacts (internal)",
    hidden: true,
    load: async () => {
      const m = await import("./commands/job_helpers.ts");
      return { flags: m.CACHE_EXTRACTOR_FLAGS, run: m.cacheExtractorCommand };
    },
  },
  "cache-init": {
    summary: "Make the paths given as arguments writable for every user (internal)",
    hidden: true,
    load: async () => {
      const m = await import("./commands/job_helpers.ts");
      return { flags: m.CACHE_INIT_FLAGS, run: m.cacheInitCommand };
    },
  },
  install: { summary: "Install service", load: serviceAction("install") },
  uninstall: { summary: "Uninstall service", load: serviceAction("uninstall") },
  start: { summary: "Start service", load: serviceAction("start") },
  stop: { summary: "Stop service", load: serviceAction("stop") },
  restart: { summary: "Restart service", load: serviceAction("restart") },
  status: { summary: "Get status of a service", load: serviceAction("status") },
};

/** The command called `name`; undefined for any other word (`toString` included). */
function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function usage(): string {
  const lines = [
    "Runner: a GitLab Runner written in TypeScript on Deno",
    "",
    "Usage: runner [global options] command [command options]",
    "",
    "Commands:",
  ];
  for (const [name, cmd] of Object.entries(COMMANDS)) {
    if (!cmd.hidden) lines.push(`   ${name.padEnd(12)}${cmd.summary}`);
  }
  lines.push(`   ${"help".padEnd(12)}Shows a list of commands or help for one command`);
  lines.push("", renderHelp("", "", GLOBAL_FLAGS).split("\n").slice(4).join("\n"));
  return lines.join("\n");
}

export interface MainIo {
  stdout: { writeSync(p: Uint8Array): number; isTerminal?(): boolean };
  stderr: { writeSync(p: Uint8Array): number; isTerminal?(): boolean };
  stdin: ReadableStream<Uint8Array>;
  env: Record<string, string>;
  cwd: string;
  /** The runner's identity when the caller knows it (a scoped poller gets it from its supervisor). */
  version?: VersionInfo;
  /** Set when this is the scoped poller worker: `run` runs here, not supervised again. */
  pollerScope?: PollerScope;
}

const encoder = new TextEncoder();

function writeLine(stream: MainIo["stdout"], line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
}

/** Reads lines from `stdin()`, called on the first read. */
function lineReader(
  stdin: () => ReadableStream<Uint8Array>,
): (prompt: string) => Promise<string | null> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let buffered = "";
  const decoder = new TextDecoder();
  return async () => {
    reader ??= stdin().getReader();
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) {
        const rest = buffered;
        buffered = "";
        return rest === "" ? null : rest;
      }
      buffered += decoder.decode(value, { stream: true });
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
}

/** `runner executor-process`: as main() ends any command, an error is a FATAL line and exit 1. */
async function executorProcess(args: string[], io: MainIo): Promise<number> {
  try {
    const { runExecutorEntry } = await import("./executor_entry.ts");
    return await runExecutorEntry(args, {
      // Read when used: the scoped Worker of a compiled binary reads stdin itself.
      get stdin() {
        return io.stdin;
      },
      stderr: io.stderr,
      env: io.env,
    });
  } catch (err) {
    writeLine(io.stderr, `FATAL: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

/** Splits global options (before the command) from the command and its arguments. */
function splitGlobal(
  args: string[],
): { global: string[]; command: string | undefined; rest: string[] } {
  const global: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-")) return { global, command: arg, rest: args.slice(i + 1) };
    global.push(arg);
    const spec = GLOBAL_FLAGS.find((f) =>
      [f.name, ...(f.aliases ?? [])].includes(arg.replace(/^--?/, ""))
    );
    const next = args[i + 1];
    // An unknown flag (a command's, given before it: `-c config.toml list`) takes the word
    // after it when a command follows that, so main can name the command.
    const isValue = spec
      ? spec.type !== "bool"
      : next !== undefined && !commandNamed(next) && commandNamed(args[i + 2]) !== undefined;
    if (isValue && !arg.includes("=") && next !== undefined) global.push(next), i++;
  }
  return { global, command: undefined, rest: [] };
}

export async function main(args: string[], io: MainIo): Promise<number> {
  const { global, command, rest } = splitGlobal(args);
  // Before anything else: a compiled binary's executor process creates its
  // job's Worker first (executor_entry.ts); what this function builds for the
  // other commands (and `io.stdin`, which its own thread never reads) would
  // only delay it.
  if (command === "executor-process") return await executorProcess(rest, io);
  // `io.stdin` only when a command reads it (a prompt): Deno sets up the
  // stream on first use, which a command that never prompts would pay for.
  const read = lineReader(() => io.stdin);
  const env = (name: string) => io.env[name];
  // deno-lint-ignore prefer-const -- assigned below; the sink's callback reads it later
  let ctx: CliContext;
  const sink = new LogSink({
    output: io.stderr,
    level: "info",
    format: "runner",
    onRecord: (level) => ctx.onLogRecord?.(level),
  });
  const log = new StreamLogger(sink);
  ctx = {
    out: (line) => writeLine(io.stdout, line),
    err: (line) => writeLine(io.stderr, line),
    env,
    envObject: () => ({ ...io.env }),
    cwd: io.cwd,
    sink,
    log,
    version: io.version ?? versionInfo(),
    ...(io.pollerScope ? { pollerScope: io.pollerScope } : {}),
    readLine: (prompt) => {
      writeLine(io.stdout, prompt.replace(/\n$/, ""));
      return read(prompt);
    },
  };
  try {
    const flags = await parseGlobalFlags(global, command, env);
    const level = flags.string("log-level");
    if (level.trim().toLowerCase() === "trace") {
      // logrus's level below debug: there is none here, so debug, and say so (once: the scoped
      // poller gets the same options from its supervisor, which said it).
      sink.pin({ level: "debug" });
      if (!io.pollerScope) {
        log.warn(
          `${
            given(flags, "log-level")
          } trace is not a level of this runner: logging at debug, its most detailed`,
        );
      }
    } else if (level) sink.pin({ level: named(flags, "log-level", parseLogLevel) });
    if (flags.bool("debug")) sink.pin({ level: "debug" });
    if (flags.string("log-format")) {
      sink.pin({ format: named(flags, "log-format", parseLogFormat) });
    }
    if (flags.string("cpuprofile") && !io.pollerScope) {
      log.warn(
        `${given(flags, "cpuprofile")} is not supported: no CPU profile is written to "${
          flags.string("cpuprofile")
        }"`,
      );
    }
    if (flags.bool("version")) {
      ctx.out(renderVersion(ctx.version));
      return 0;
    }
    if (command === "help" && rest[0] !== undefined) {
      // urfave/cli's `help COMMAND`, which the official runner has: as `COMMAND --help`.
      const topic = commandNamed(rest[0]);
      if (!topic) {
        ctx.err(`No help topic for '${rest[0]}'`);
        return 1;
      }
      ctx.out(renderHelp(rest[0], topic.summary, (await topic.load()).flags));
      return 0;
    }
    if (command === undefined || command === "help" || flags.bool("help")) {
      ctx.out(usage());
      return command === undefined && !flags.bool("help") ? 1 : 0;
    }
    const cmd = commandNamed(command);
    if (!cmd) {
      ctx.err(`No help topic for '${command}'`);
      ctx.err(usage());
      return 1;
    }
    if (command === "run" && !io.pollerScope && !rest.includes("--help") && !rest.includes("-h")) {
      // The poller runs in a worker holding only what it needs (cli/poller_supervisor.ts).
      const { superviseScopedPoller } = await import("./poller_supervisor.ts");
      return await superviseScopedPoller(ctx, { global, rest });
    }
    const loaded = await cmd.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      ctx.out(renderHelp(command, cmd.summary, loaded.flags));
      return 0;
    }
    return await loaded.run(ctx, rest);
  } catch (err) {
    /**
     * The last word of a failed command: a record of the runner log when it is
     * JSON (a log collector reads every line as one), a plain line otherwise.
     */
    const fail = (level: "error" | "fatal", message: string): void => {
      if (sink.format === "json" && sink.isEnabled(level)) sink.write(level, message, {});
      else ctx.err(`${level.toUpperCase()}: ${message}`);
    };
    if (
      err instanceof UnknownFlagError &&
      (command === "register" || command === "run-single" || command === "exec")
    ) {
      const family = OFFICIAL_ONLY_FLAGS.find(([prefix]) => err.flag.startsWith(prefix));
      if (family) {
        fail(
          "error",
          `${err.message}: an official flag of ${family[1]}, which Runner does not have`,
        );
        return 2;
      }
    }
    if (err instanceof UnknownFlagError && command !== undefined) {
      const spec = GLOBAL_FLAGS.find((f) => [f.name, ...(f.aliases ?? [])].includes(err.flag));
      if (spec) {
        fail(
          "error",
          `${err.message}: a global option, given before the command (runner --${spec.name} ${command} …)`,
        );
        return 2;
      }
    }
    if (err instanceof ConfigError && err.problems.length > 1) {
      // Every bad value of the file, each with its line: not the first and "(and 2 more problems)".
      for (const problem of err.problems) fail("error", formatConfigProblem(problem));
      return 1;
    }
    if (err instanceof UsageError || err instanceof CommandError || err instanceof ConfigError) {
      fail("error", err.message);
      return err instanceof CommandError ? err.exitCode : err instanceof UsageError ? 2 : 1;
    }
    if (err instanceof RangeError) {
      fail("error", err.message);
      return 2;
    }
    fail("fatal", (err as Error).stack ?? String(err));
    return 1;
  }
}

if (import.meta.main) {
  surviveFileSizeLimit();
  const code = await main(Deno.args, {
    stdout: Deno.stdout,
    stderr: Deno.stderr,
    // On first use: Deno sets up stdin's stream then (~5 ms on a small VM),
    // which the process thread of a compiled executor process never needs.
    get stdin() {
      return Deno.stdin.readable;
    },
    env: Deno.env.toObject(),
    cwd: Deno.cwd(),
  });
  Deno.exit(code);
}
