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
 */
import type { LoadedConfigFile } from "../config/load_config.ts";
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
  const command = [READ_CONFIG_COMMAND, "--config", path];
  const { sourceDir } = options;
  const args = sourceDir === null ? command : [
    "run",
    "--quiet",
    // main.ts's commands load only when used, as in the runner task.
    "--unstable-lazy-dynamic-imports",
    `--allow-read=${[path, options.configTarget, sourceDir].filter(Boolean).join(",")}`,
    "--allow-env",
    join(sourceDir, "cli", "main.ts"),
    ...command,
  ];
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
