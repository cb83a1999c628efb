/**
 * config.toml as `runner run` loads it, read for the supervisor by a
 * short-lived process of the runner (`runner read-config`) that prints it as
 * JSON. The supervisor needs the config at start and on a re-scope (the
 * poller's permission set, the token variables to forget, the config the
 * poller runs with) and never again: loading TOML in its own thread would load
 * the first npm package of the process (smol-toml), and with it Deno's npm
 * resolution, whose code and data stay in the idle runner's RSS for as long as
 * it runs (~2.5 MB, scripts/bench/job_latency.ts figure (c)). The read costs
 * a process start at start and at each re-scope, while no poller runs.
 *
 * The child reads the file and the environment the supervisor hands it (for
 * `$VAR` in config.toml) and nothing else: from source, `deno run` with read
 * access to the file, its link target and the runner's `src/`; compiled, the
 * binary itself.
 *
 * The poller parses an edited config.toml the same way (`runner
 * parse-config`, the text on stdin): in its own thread the first edit would
 * load the TOML package and the config schema for good (~5 MB of an idle
 * runner's RSS, scripts/bench/reload_latency.ts).
 */
import type { LoadedConfigFile } from "../config/load_config.ts";
import type { LoadedConfig } from "../config/parse_config.ts";
import { ConfigError, type ConfigProblem } from "../config/config_error.ts";
import { join } from "../path/host_path.ts";
import type { CliContext } from "./cli_context.ts";
import { CONFIG_FLAG } from "./config_flags.ts";
import { Flags, type FlagSpec, parseFlags } from "./flags.ts";

/** The hidden command the child runs. */
export const READ_CONFIG_COMMAND = "read-config";

export const READ_CONFIG_FLAGS: FlagSpec[] = [CONFIG_FLAG];

/** `runner read-config --config <file>`: the loaded config as one line of JSON on stdout. */
export async function readConfigCommand(ctx: CliContext, args: string[]): Promise<number> {
  const { loadConfigFile } = await import("../config/load_config.ts");
  const path = new Flags(parseFlags(args, READ_CONFIG_FLAGS, ctx.env)).string("config");
  const loaded = await loadConfigFile(path, { env: ctx.envObject(), missingFile: "empty" });
  ctx.out(JSON.stringify(loaded));
  return 0;
}

/**
 * The child's arguments: `command` to the binary when compiled; from source,
 * `deno run` of main.ts with read access to `src/` and `reads`, and env.
 */
function childArgs(
  command: string[],
  sourceDir: string | null,
  reads: readonly (string | null)[],
): string[] {
  if (sourceDir === null) return command;
  return [
    "run",
    "--quiet",
    // main.ts's commands load only when used, as in the runner task.
    "--unstable-lazy-dynamic-imports",
    `--allow-read=${[...reads, sourceDir].filter(Boolean).join(",")}`,
    "--allow-env",
    join(sourceDir, "cli", "main.ts"),
    ...command,
  ];
}

export interface ConfigReaderOptions {
  /** The runner binary (compiled) or `deno` (from source). */
  execPath: string;
  /** From source, the runner's `src/`; null compiled. */
  sourceDir: string | null;
  /** The environment the config's `$VAR`s expand from; the child's whole environment. */
  env: Record<string, string>;
  /** config.toml's link target, when it is a link (it must be readable too). */
  configTarget: string | null;
}

/**
 * Loads `path` in a child process as `loadConfigFile(path, { env, missingFile:
 * "empty" })` would; null when it cannot (the child's error is dropped: the
 * poller, started with the defaults' permissions, loads the file itself and
 * reports it).
 */
export async function readConfigInChild(
  path: string,
  options: ConfigReaderOptions,
): Promise<LoadedConfigFile | null> {
  const args = childArgs(
    [READ_CONFIG_COMMAND, "--config", path],
    options.sourceDir,
    [path, options.configTarget],
  );
  try {
    const out = await new Deno.Command(options.execPath, {
      args,
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    return JSON.parse(new TextDecoder().decode(out.stdout)) as LoadedConfigFile;
  } catch {
    return null;
  }
}

/** The hidden command that parses config.toml text given on stdin. */
export const PARSE_CONFIG_COMMAND = "parse-config";

export const PARSE_CONFIG_FLAGS: FlagSpec[] = [CONFIG_FLAG];

/** What `runner parse-config` prints: the config and its warnings, or what refuses it. */
type ParseAnswer = { loaded: LoadedConfig } | { problems: ConfigProblem[] };

/**
 * `runner parse-config --config <file>`: config.toml's text from stdin, parsed
 * as `parseConfig` does (`--config` names the file in messages), as one line
 * of JSON on stdout, its problems included.
 */
export async function parseConfigCommand(ctx: CliContext, args: string[]): Promise<number> {
  const { parseConfig } = await import("../config/parse_config.ts");
  const file = new Flags(parseFlags(args, PARSE_CONFIG_FLAGS, ctx.env)).string("config");
  const text = await new Response(Deno.stdin.readable).text();
  let answer: ParseAnswer;
  try {
    answer = { loaded: parseConfig(text, { file, env: ctx.envObject() }) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    answer = { problems: [...error.problems] };
  }
  ctx.out(JSON.stringify(answer));
  return 0;
}

/** Where the parsing child comes from, and the environment `$VAR`s expand from. */
export type ConfigParserOptions = Omit<ConfigReaderOptions, "configTarget">;

/**
 * `parseConfig(text, { file, env })` in a child process (`runner
 * parse-config`): throws its ConfigError; null when the child could not
 * answer (the caller parses the text itself).
 */
export async function parseConfigInChild(
  text: string,
  file: string,
  options: ConfigParserOptions,
): Promise<LoadedConfig | null> {
  const args = childArgs([PARSE_CONFIG_COMMAND, "--config", file], options.sourceDir, []);
  let answer: ParseAnswer;
  try {
    const child = new Deno.Command(options.execPath, {
      args,
      env: options.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text)).finally(() => writer.close());
    const out = await child.output();
    if (!out.success) return null;
    answer = JSON.parse(new TextDecoder().decode(out.stdout)) as ParseAnswer;
  } catch {
    return null;
  }
  if ("problems" in answer) throw new ConfigError(answer.problems);
  return answer.loaded;
}
