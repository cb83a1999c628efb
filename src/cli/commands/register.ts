/**
 * `runner register`: official flags and environment variables
 * (config-reference §16). A `glrt-` token takes the verify flow (the runner
 * was created in GitLab; server-owned options are refused); any other token
 * takes the legacy `POST runners` flow. Writes config.toml (0600) and keeps
 * `.runner_system_id` beside it.
 */
import { hostname } from "node:os";
import type { RunnerConfig } from "../../config/runner_config.ts";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import { saveConfig } from "../../config/save_config.ts";
import { loadOrCreateSystemId } from "../../config/system_id.ts";
import { shortToken } from "../../config/short_token.ts";
import { RunnerClient } from "../../gitlab/mod.ts";
import { type CliContext, CommandError } from "../cli_context.ts";
import { CONFIG_FLAG, configPath, loadConfig } from "../config_flags.ts";
import { Flags, type FlagSpec, parseFlags } from "../flags.ts";
import { runnerInfoFor, tlsFilesOf } from "../runner_identity.ts";
import { applyRunnerFlags, RUNNER_FLAGS } from "../runner_flags.ts";

/** Options GitLab owns for runners created in its UI (glrt- tokens). */
const SERVER_OWNED = [
  "locked",
  "access-level",
  "run-untagged",
  "maximum-timeout",
  "paused",
  "tag-list",
  "maintenance-note",
];

export const REGISTER_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "non-interactive",
    aliases: ["n"],
    type: "bool",
    env: "REGISTER_NON_INTERACTIVE",
    help: "Run registration unattended",
  },
  {
    name: "leave-runner",
    type: "bool",
    env: "REGISTER_LEAVE_RUNNER",
    help: "Don't remove the runner if registration fails",
  },
  {
    name: "registration-token",
    aliases: ["r"],
    type: "string",
    env: "REGISTRATION_TOKEN",
    help: "Runner's registration token (deprecated)",
  },
  {
    name: "run-untagged",
    type: "bool",
    env: "REGISTER_RUN_UNTAGGED",
    help: "Register to run untagged builds",
  },
  { name: "locked", type: "bool", env: "REGISTER_LOCKED", help: "Lock runner for current project" },
  {
    name: "access-level",
    type: "string",
    env: "REGISTER_ACCESS_LEVEL",
    help: "not_protected or ref_protected",
  },
  {
    name: "maximum-timeout",
    type: "int",
    env: "REGISTER_MAXIMUM_TIMEOUT",
    help: "Maximum job timeout in seconds",
  },
  { name: "paused", type: "bool", env: "REGISTER_PAUSED", help: "Register the runner paused" },
  {
    name: "maintenance-note",
    type: "string",
    env: "REGISTER_MAINTENANCE_NOTE",
    help: "Runner's maintenance note",
  },
  { name: "tag-list", type: "string", env: "RUNNER_TAG_LIST", help: "Comma-separated tag list" },
  {
    name: "template-config",
    type: "string",
    env: "TEMPLATE_CONFIG_FILE",
    help: "Config template (not supported; ignored with a warning)",
  },
  ...RUNNER_FLAGS,
];

/** A value given by flag or environment wins; otherwise ask, offering `fallback`. */
async function ask(
  ctx: CliContext,
  question: string,
  given: string,
  fallback = "",
): Promise<string> {
  if (given || !ctx.isInteractive) return given || fallback;
  const offer = fallback ? ` [${fallback}]` : "";
  const answer = (await ctx.readLine(`${question}${offer}\n`) ?? "").trim();
  return answer || fallback;
}

export async function registerCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, REGISTER_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  const interactive = !flags.bool("non-interactive") && ctx.isInteractive;
  const prompt = (q: string, v: string, fallback = "") =>
    interactive ? ask(ctx, q, v, fallback) : Promise.resolve(v || fallback);

  const url = await prompt(
    "Enter the GitLab instance URL (for example, https://gitlab.com/):",
    flags.string("url"),
  );
  if (!url) {
    throw new CommandError("Register needs the GitLab URL: pass --url or set CI_SERVER_URL");
  }
  const legacyToken = flags.string("registration-token");
  const token = await prompt(
    "Enter the registration token:",
    flags.string("token") || legacyToken,
  );
  if (!token) {
    throw new CommandError("Register needs a token: pass --token (glrt-…) or --registration-token");
  }
  const isCreatedRunnerToken = token.startsWith("glrt-");
  if (isCreatedRunnerToken) {
    const given = SERVER_OWNED.filter((f) => flags.isExplicit(f));
    if (given.length > 0) {
      const names = given.map((f) => `--${f}`).join(", ");
      if (!legacyToken) {
        throw new CommandError(
          `Runner configuration other than name and executor configuration is reserved (specifically ${names}) and cannot be specified when registering with a runner authentication token. This configuration is specified on the GitLab server`,
        );
      }
      ctx.log.warn(
        `Ignoring ${names}: GitLab owns these settings for runners created with an authentication token`,
      );
    }
  }
  const name = await prompt("Enter a name for the runner:", flags.string("name"), hostname());
  const executor = await prompt(
    "Enter an executor: shell, docker, ssh, docker+ssh, custom:",
    flags.string("executor"),
  );
  if (!executor) {
    throw new CommandError("Register needs an executor: pass --executor or set RUNNER_EXECUTOR");
  }
  if (executor === "docker" && interactive && !flags.string("docker-image")) {
    const image = await ask(ctx, "Enter the default Docker image (for example, ruby:3.3):", "");
    if (image) args = [...args, "--docker-image", image];
  }
  if (flags.isExplicit("template-config")) {
    ctx.log.warn("--template-config is not supported yet; the flag is ignored");
  }

  const loaded = await loadConfig(ctx, path);
  const { systemId, saveError } = await loadOrCreateSystemId(path);
  if (saveError) ctx.log.warn(`Cannot save the system ID: ${saveError}`);

  const runner: RunnerConfig = defaultRunnerConfig(executor);
  const runnerFlags = new Flags(parseFlags(args, REGISTER_FLAGS, ctx.env));
  applyRunnerFlags(runner, runnerFlags);
  // An empty allow-list means "what pull_policy says" when the file is loaded;
  // saving the filled-in default would pin it to the default policy and refuse
  // the --docker-pull-policy just given.
  if (!runnerFlags.isExplicit("docker-allowed-pull-policies")) {
    runner.docker.allowedPullPolicies = [];
  }
  runner.name = name;
  runner.url = url;
  runner.executor = executor;

  const client = new RunnerClient({
    url,
    runnerInfo: runnerInfoFor(ctx.version, runner),
    token,
    systemId,
    ...tlsFilesOf(runner),
  });
  ctx.log.info("Registering runner...", { "url": url, "runner": shortToken(token) });
  try {
    if (isCreatedRunnerToken) {
      const verified = await client.verify();
      if (verified.id === 0) {
        throw new CommandError(
          "Registering runner... failed: GitLab did not return a runner ID (is GitLab older than 15.10?)",
        );
      }
      runner.id = verified.id;
      runner.token = token;
      runner.tokenObtainedAt = rfc3339Now();
      runner.tokenExpiresAt = verified.tokenExpiresAt || runner.tokenExpiresAt;
    } else {
      const tags = flags.string("tag-list") ||
        (interactive ? await ask(ctx, "Enter tags for the runner (comma-separated):", "") : "");
      const tagList = tags.split(",").map((t) => t.trim()).filter(Boolean);
      const registered = await client.register({
        description: name,
        ...(flags.string("maintenance-note")
          ? { maintenanceNote: flags.string("maintenance-note") }
          : {}),
        tagList,
        runUntagged: flags.has("run-untagged") ? flags.bool("run-untagged") : tagList.length === 0,
        locked: flags.has("locked") ? flags.bool("locked") : true,
        ...(flags.string("access-level") ? { accessLevel: flags.string("access-level") } : {}),
        ...(flags.int("maximum-timeout") > 0
          ? { maximumTimeout: flags.int("maximum-timeout") }
          : {}),
        paused: flags.bool("paused"),
      });
      runner.id = registered.id;
      runner.token = registered.token;
      runner.tokenObtainedAt = registered.tokenObtainedAt;
      runner.tokenExpiresAt = registered.tokenExpiresAt || runner.tokenExpiresAt;
    }
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(`Registering runner... failed: ${(err as Error).message}`, 1, {
      cause: err,
    });
  }

  const config = loaded.config;
  config.runners.push(runner);
  try {
    await saveConfig(path, config);
  } catch (err) {
    if (!flags.bool("leave-runner") && !isCreatedRunnerToken) {
      await new RunnerClient({
        url,
        runnerInfo: runnerInfoFor(ctx.version, runner),
        token: runner.token,
      })
        .unregister().catch(() => {});
    }
    throw new CommandError(`Cannot save ${path}: ${(err as Error).message}`, 1, { cause: err });
  }
  ctx.out(
    `Runner registered successfully. Feel free to start it, but if it's running already the config should be automatically reloaded!\n\nConfiguration (with the authentication token) was saved in "${path}"`,
  );
  return 0;
}

export function rfc3339Now(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
