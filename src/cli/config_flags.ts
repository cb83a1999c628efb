/**
 * The `-c/--config` flag shared by most commands, and loading the file it names
 * with warnings logged the way `run` does.
 */
import { defaultConfigPath } from "../config/default_paths.ts";
import type { LoadedConfigFile } from "../config/load_config.ts";
import { formatConfigProblem } from "../config/config_error.ts";
import { type CliContext, CommandError } from "./cli_context.ts";
import type { Flags, FlagSpec } from "./flags.ts";
import { isAbsolute, resolve } from "../path/host_path.ts";

export const CONFIG_FLAG: FlagSpec = {
  name: "config",
  aliases: ["c"],
  type: "string",
  env: "CONFIG_FILE",
  help: "Config file",
};

/**
 * `run --working-directory DIR`: the process moves there before anything
 * else, so relative config, builds and cache paths resolve against it.
 */
export function enterWorkingDirectory(ctx: CliContext, flags: Flags): void {
  const workDir = flags.string("working-directory");
  if (!workDir) return;
  const dir = isAbsolute(workDir) ? workDir : resolve(ctx.cwd, workDir);
  try {
    Deno.chdir(dir);
  } catch (err) {
    throw new CommandError(`Cannot use working directory "${dir}": ${(err as Error).message}`);
  }
  ctx.cwd = dir;
}

export function configPath(ctx: CliContext, flags: Flags): string {
  const given = flags.string("config");
  if (given) return isAbsolute(given) ? given : resolve(ctx.cwd, given);
  return defaultConfigFile(ctx);
}

/** Where config.toml is without -c/--config (its directory holds the official certs/). */
export function defaultConfigFile(ctx: CliContext): string {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    // Not available on this platform.
  }
  return defaultConfigPath({
    os: Deno.build.os,
    uid,
    home: ctx.env("HOME") ?? ctx.env("USERPROFILE") ?? null,
    cwd: ctx.cwd,
  });
}

/**
 * Loads the config, logging its warnings; ConfigError propagates to main. The
 * loader (schema, TOML package) is imported here, on use: the poller gets its
 * config from its supervisor and loads the loader only for an edit.
 */
export async function loadConfig(
  ctx: CliContext,
  path: string,
  missingFile: "empty" | "error" = "empty",
): Promise<LoadedConfigFile> {
  const { loadConfigFile } = await import("../config/load_config.ts");
  return logConfigWarnings(ctx, await loadConfigFile(path, { env: ctx.envObject(), missingFile }));
}

/** Logs the warnings of a loaded config as `run` does; returns it. */
export function logConfigWarnings(ctx: CliContext, loaded: LoadedConfigFile): LoadedConfigFile {
  for (const warning of loaded.warnings) {
    ctx.log.warn(formatConfigProblem(warning));
  }
  return loaded;
}

/**
 * Stops before GitLab is changed (`what`: "registered", "unregistered",
 * "reset") when config.toml could not record it afterwards: a runner
 * unregistered in GitLab but left in the file, or a reset token lost with the
 * old one revoked. The writer is imported on use, as the loader above.
 */
export async function requireWritableConfig(path: string, what: string): Promise<void> {
  const { checkConfigWritable } = await import("../config/save_config.ts");
  try {
    await checkConfigWritable(path);
  } catch (err) {
    throw new CommandError(`${(err as Error).message}: nothing was ${what}`, 1, { cause: err });
  }
}
