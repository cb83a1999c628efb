/**
 * `runner verify`, `runner unregister`, `runner list` and `runner lint`:
 * the commands that read or edit the registered runners in config.toml.
 */
import type { GlobalConfig, RunnerConfig } from "../../config/runner_config.ts";
import { saveConfig } from "../../config/save_config.ts";
import { shortToken } from "../../config/short_token.ts";
import { loadOrCreateSystemId } from "../../config/system_id.ts";
import { formatConfigProblem } from "../../config/config_error.ts";
import { loadConfigFile } from "../../config/load_config.ts";
import { GitLabApiError, RunnerClient } from "../../gitlab/mod.ts";
import { type CliContext, CommandError } from "../cli_context.ts";
import { CONFIG_FLAG, configPath, loadConfig, requireWritableConfig } from "../config_flags.ts";
import { Flags, type FlagSpec, parseFlags } from "../flags.ts";
import { runnerInfoFor, tlsFilesOf } from "../runner_identity.ts";

export const VERIFY_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  { name: "name", aliases: ["n"], type: "string", help: "Name of the runner to verify" },
  { name: "url", aliases: ["u"], type: "string", help: "GitLab URL of the runner to verify" },
  { name: "token", aliases: ["t"], type: "string", help: "Token of the runner to verify" },
  { name: "delete", type: "bool", help: "Delete no longer existing runners from the config" },
];

export const UNREGISTER_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "url",
    aliases: ["u"],
    type: "string",
    env: "CI_SERVER_URL",
    help: "GitLab instance URL",
  },
  {
    name: "token",
    aliases: ["t"],
    type: "string",
    env: "CI_SERVER_TOKEN",
    help: "Runner's authentication token",
  },
  { name: "name", aliases: ["n"], type: "string", help: "Name of the runner to unregister" },
  { name: "all-runners", type: "bool", help: "Unregister all runners" },
  {
    name: "tls-ca-file",
    type: "string",
    env: "CI_SERVER_TLS_CA_FILE",
    help: "CA certificate file",
  },
  {
    name: "tls-cert-file",
    type: "string",
    env: "CI_SERVER_TLS_CERT_FILE",
    help: "Client certificate file",
  },
  { name: "tls-key-file", type: "string", env: "CI_SERVER_TLS_KEY_FILE", help: "Client key file" },
];

export const LIST_FLAGS: FlagSpec[] = [CONFIG_FLAG];

/** The official `reset-token` flags (commands/reset_token.go). */
export const RESET_TOKEN_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "name",
    aliases: ["n"],
    type: "string",
    help: "Name of the runner whose token you wish to reset (as defined in the configuration file)",
  },
  {
    name: "url",
    aliases: ["u"],
    type: "string",
    help: "URL of the runner whose token you wish to reset (as defined in the configuration file)",
  },
  {
    name: "id",
    aliases: ["i"],
    type: "string",
    help: "ID of the runner whose token you wish to reset (as defined in the configuration file)",
  },
  { name: "all-runners", type: "bool", help: "Reset all runner authentication tokens" },
  {
    name: "pat",
    type: "string",
    help: "Personal access token to use in lieu of runner's old authentication token",
  },
];

/**
 * Resets `runner`'s token on GitLab (with its current token, or a personal
 * access token) and puts the new token, its expiry and the time obtained into
 * `runner`. Throws GitLabApiError when GitLab refuses; `runner` is then unchanged.
 */
export async function resetRunnerToken(
  ctx: CliContext,
  runner: RunnerConfig,
  options: { systemId: string; pat?: string },
): Promise<void> {
  const client = clientFor(ctx, runner, options.systemId);
  const result = await client.resetToken(
    options.pat ? { personalAccessToken: { runnerId: runner.id, token: options.pat } } : {},
  );
  runner.token = result.token;
  runner.tokenExpiresAt = result.tokenExpiresAt;
  runner.tokenObtainedAt = result.tokenObtainedAt;
  // A token written as $VAR in the file is replaced by the new literal token.
  runner.envExpansion.token = null;
}

export async function resetTokenCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, RESET_TOKEN_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  const { config } = await loadConfig(ctx, path, "error");
  const { systemId } = await loadOrCreateSystemId(path);
  const pat = flags.string("pat");
  let targets: RunnerConfig[];
  if (flags.bool("all-runners")) {
    ctx.log.warn("Resetting all runner authentication tokens");
    targets = [...config.runners];
  } else if (flags.string("name")) {
    targets = config.runners.filter((r) => r.name === flags.string("name"));
    if (targets.length === 0) {
      throw new CommandError(
        `Couldn't get runner credentials: no runner named "${flags.string("name")}" in ${path}`,
      );
    }
  } else if (flags.string("url") || flags.string("id")) {
    const id = Number(flags.string("id"));
    if (!Number.isInteger(id)) {
      throw new CommandError(`--id must be a number, got "${flags.string("id")}"`);
    }
    targets = config.runners.filter((r) => r.url === flags.string("url") && r.id === id);
    if (targets.length === 0) {
      throw new CommandError(
        `Couldn't get runner credentials: no runner with URL "${
          flags.string("url")
        }" and ID ${id} in ${path}`,
      );
    }
  } else {
    throw new CommandError("No runner provided: give --name, --url with --id, or --all-runners");
  }
  await requireWritableConfig(path, "reset");
  let failed = 0;
  const chosen = targets.slice(0, flags.bool("all-runners") ? undefined : 1);
  for (const runner of chosen) {
    const fields = { "runner": shortToken(runner.token), "name": runner.name };
    try {
      await resetRunnerToken(ctx, runner, { systemId, ...(pat ? { pat } : {}) });
      ctx.log.info("Runner authentication token reset", {
        ...fields,
        "runner": shortToken(runner.token),
      });
    } catch (err) {
      failed++;
      ctx.log.error(
        `Failed to reset runner authentication token: ${(err as Error).message}`,
        fields,
      );
    }
  }
  if (failed < chosen.length) await saveEdited(ctx, path, config);
  return failed > 0 ? 1 : 0;
}
export const LINT_FLAGS: FlagSpec[] = [CONFIG_FLAG];

/** Saves an edited config.toml; a failure is the user's to fix (the file named), not a crash. */
async function saveEdited(ctx: CliContext, path: string, config: GlobalConfig): Promise<void> {
  try {
    await saveConfig(path, config);
  } catch (err) {
    throw new CommandError((err as Error).message, 1, { cause: err });
  }
  ctx.log.info(`Updated ${path}`);
}

function clientFor(ctx: CliContext, runner: RunnerConfig, systemId: string): RunnerClient {
  return new RunnerClient({
    url: runner.url,
    runnerInfo: runnerInfoFor(ctx.version, runner),
    token: runner.token,
    systemId,
    ...tlsFilesOf(runner),
    // Its warnings (a tls-ca-file it cannot read) reach the user.
    log: ctx.log,
  });
}

function selectRunners(config: GlobalConfig, flags: Flags): RunnerConfig[] {
  const name = flags.string("name");
  const url = flags.string("url");
  const token = flags.string("token");
  return config.runners.filter((r) =>
    (!name || r.name === name) && (!url || r.url === url) && (!token || r.token === token)
  );
}

export async function verifyCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, VERIFY_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  const { config } = await loadConfig(ctx, path);
  const { systemId } = await loadOrCreateSystemId(path);
  const selected = selectRunners(config, flags);
  const hasSelector = ["name", "url", "token"].some((f) => flags.string(f) !== "");
  if (selected.length === 0 && hasSelector) {
    throw new CommandError("No runner matches the given name, URL or token");
  }
  if (selected.length === 0) {
    // As the official runner: nothing registered is nothing wrong.
    ctx.log.info(`No runners to verify in ${path}`);
    return 0;
  }
  const removed: RunnerConfig[] = [];
  for (const runner of selected) {
    const fields = { "runner": shortToken(runner.token), "name": runner.name };
    try {
      await clientFor(ctx, runner, systemId).verify();
      ctx.log.info("Verifying runner... is valid", fields);
    } catch (err) {
      if (err instanceof GitLabApiError && err.isForbidden) {
        ctx.log.error("Verifying runner... is removed", fields);
        removed.push(runner);
      } else {
        ctx.log.error(`Verifying runner... failed: ${(err as Error).message}`, fields);
      }
    }
  }
  if (removed.length === 0) return 0;
  if (!flags.bool("delete")) {
    // The official exit status: scripts and health checks act on it.
    throw new CommandError(
      `Failed to verify runners: ${removed.map((r) => `"${r.name}"`).join(", ")} ${
        removed.length === 1 ? "is" : "are"
      } no longer known to GitLab (--delete removes ${
        removed.length === 1 ? "it" : "them"
      } from ${path})`,
    );
  }
  config.runners = config.runners.filter((r) => !removed.includes(r));
  await saveEdited(ctx, path, config);
  return 0;
}

/**
 * The runners `unregister` acts on, as the official runner picks them: all;
 * or the first one with the given --name and/or --token (a warning when more
 * share the name); or, ours, a runner not in the file given by --token and
 * --url.
 */
function unregisterTargets(
  ctx: CliContext,
  config: GlobalConfig,
  flags: Flags,
  path: string,
): RunnerConfig[] {
  if (flags.bool("all-runners")) return [...config.runners];
  // Trimmed as register trims them: CI_SERVER_TOKEN read from a secret file ends in a newline.
  const name = flags.string("name").trim();
  const token = flags.string("token").trim();
  const url = flags.string("url").trim();
  if (!name && !token) {
    throw new CommandError("Unregister needs --name, --token or --all-runners");
  }
  const matching = config.runners.filter((r) =>
    (!name || r.name === name) && (!token || r.token === token)
  );
  if (matching.length > 1) {
    ctx.log.warn(
      `${matching.length} runners are named "${name}" in ${path}: unregistering the first (--token chooses another)`,
    );
  }
  if (matching[0]) return [matching[0]];
  if (token && !name && url) {
    return [{
      ...(config.runners[0] ?? ({} as RunnerConfig)),
      url,
      token,
      tlsCaFile: flags.string("tls-ca-file"),
      tlsCertFile: flags.string("tls-cert-file"),
      tlsKeyFile: flags.string("tls-key-file"),
    } as RunnerConfig];
  }
  const what = [
    ...(name ? [`named "${name}"`] : []),
    ...(token ? [`with token "${shortToken(token)}"`] : []),
  ].join(" and ");
  throw new CommandError(
    `No runner ${what} in ${path}${
      token && !name ? " (to unregister a runner that is not in it, give its --url too)" : ""
    }`,
  );
}

export async function unregisterCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, UNREGISTER_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  const { config } = await loadConfig(ctx, path);
  const { systemId } = await loadOrCreateSystemId(path);
  const targets = unregisterTargets(ctx, config, flags, path);
  if (targets.some((r) => config.runners.includes(r))) {
    await requireWritableConfig(path, "unregistered");
  }
  const before = config.runners.length;
  let failed = 0;
  for (const runner of targets) {
    const fields = { "runner": shortToken(runner.token), "name": runner.name ?? "" };
    try {
      await clientFor(ctx, runner, systemId).unregister();
      ctx.log.info("Unregistering runner from GitLab succeeded", fields);
      config.runners = config.runners.filter((r) => r !== runner && r.token !== runner.token);
    } catch (err) {
      failed++;
      ctx.log.error(`Unregistering runner from GitLab failed: ${(err as Error).message}`, fields);
    }
  }
  if (config.runners.length !== before) await saveEdited(ctx, path, config);
  return failed > 0 ? 1 : 0;
}

export async function listCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, LIST_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  const { config } = await loadConfig(ctx, path);
  ctx.out(`Listing configured runners                          ConfigFile=${path}`);
  for (const r of config.runners) {
    // We print the short token where the official runner prints the whole token: a
    // listing ends up in terminals, tickets and CI logs.
    ctx.out(
      `${r.name.padEnd(50)} Executor=${r.executor} Token=${shortToken(r.token)} URL=${r.url}`,
    );
  }
  return 0;
}

export async function lintCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, LINT_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  // A ConfigError names every invalid value, each with its line (main.ts).
  const loaded = await loadConfigFile(path, { env: ctx.envObject(), missingFile: "error" });
  let errors = 0;
  for (const warning of loaded.warnings) {
    // An entry with an executor we lack, without what its executor needs, or with a value
    // every job fails on, can never run a job here: an error, like a typo.
    if (
      warning.kind === "unknown_key" || warning.kind === "unsupported_executor" ||
      warning.kind === "missing_key" || warning.kind === "invalid_value"
    ) {
      errors++;
      ctx.err(`ERROR: ${formatConfigProblem(warning)}`);
    } else {
      ctx.err(`WARNING: ${formatConfigProblem(warning)}`);
    }
  }
  if (errors > 0) return 1;
  ctx.out(`${path}: config is valid (${loaded.config.runners.length} runners)`);
  return 0;
}
