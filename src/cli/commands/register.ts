/**
 * `runner register`: official flags and environment variables
 * (config-reference §16). A `glrt-` token takes the verify flow (the runner
 * was created in GitLab; server-owned options are refused); any other token
 * takes the legacy `POST runners` flow. Writes config.toml (0600) and keeps
 * `.runner_system_id` beside it.
 */
import { hostname } from "node:os";
import type { RunnerConfig } from "../../config/runner_config.ts";
import { saveConfig } from "../../config/save_config.ts";
import { loadOrCreateSystemId } from "../../config/system_id.ts";
import { shortToken } from "../../config/short_token.ts";
import { RunnerClient } from "../../gitlab/mod.ts";
import { type CliContext, CommandError } from "../cli_context.ts";
import { CONFIG_FLAG, configPath, loadConfig, requireWritableConfig } from "../config_flags.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "../flags.ts";
import { runnerInfoFor, tlsFilesOf } from "../runner_identity.ts";
import { parseRunnerTable, RUNNER_FLAGS, runnerTableFromFlags } from "../runner_flags.ts";
import { ConfigTemplateError, loadConfigTemplate, mergeTemplate } from "../config_template.ts";
import { ConfigError, formatConfigProblem } from "../../config/config_error.ts";
import { isGitLabUrl } from "../../config/gitlab_url.ts";
import { OFFICIAL_ONLY_EXECUTORS, SUPPORTED_EXECUTORS } from "../../config/executor_names.ts";
import { isAbsolute, resolve } from "node:path";

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

/**
 * Whether a server-owned option is set to something other than its default,
 * by flag or environment variable, as upstream checks them (by value:
 * `--locked=true` is the default and passes, `RUNNER_TAG_LIST=a` does not).
 */
function isServerOwnedSet(flags: Flags, name: string): boolean {
  switch (name) {
    case "locked":
      return !flags.bool("locked", true);
    case "run-untagged":
    case "paused":
      return flags.bool(name);
    case "maximum-timeout":
      return flags.int(name) !== 0;
    default:
      return flags.string(name) !== "";
  }
}

/** `--tag-list`, or `RUNNER_TAG_LIST` when the value came from the environment. */
function flagSource(flags: Flags, name: string): string {
  const env = REGISTER_FLAGS.find((f) => f.name === name)?.env;
  return flags.isExplicit(name) || env === undefined ? `--${name}` : env;
}

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
    help:
      "Path to the configuration template file: its [[runners]] entry fills what the flags leave empty",
  },
  ...RUNNER_FLAGS,
];

/**
 * A value given by flag or environment wins; otherwise ask, offering
 * `fallback`. null at the end of input.
 */
async function ask(
  ctx: CliContext,
  question: string,
  given: string,
  fallback = "",
): Promise<string | null> {
  if (given) return given;
  const offer = fallback ? ` [${fallback}]` : "";
  const answer = await ctx.readLine(`${question}${offer}\n`);
  return answer === null ? null : answer.trim() || fallback;
}

interface PromptOptions {
  fallback?: string;
  /** Asked again while empty, as upstream's askOnce loop. */
  isRequired?: boolean;
  /** What is wrong with an answer (logged, then asked again), or null. */
  problem?: (value: string) => string | null;
}

/** Sections upstream keeps only for the executors that use them (askExecutorOptions). */
const EXECUTOR_SECTIONS = [
  "kubernetes",
  "machine",
  "docker",
  "ssh",
  "parallels",
  "virtualbox",
  "custom",
  "referees",
];
const SECTIONS_OF: Record<string, string[]> = {
  "kubernetes": ["kubernetes"],
  "docker+machine": ["machine", "docker"],
  "docker": ["docker"],
  "docker-autoscaler": ["docker"],
  "docker-windows": ["docker"],
  "docker+ssh": ["docker", "ssh"],
  "ssh": ["ssh"],
  "parallels": ["ssh", "parallels"],
  "virtualbox": ["ssh", "virtualbox"],
  "custom": ["custom"],
};

type Table = Record<string, unknown>;

function subTable(table: Table, key: string): Table {
  const value = table[key];
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Table;
  const created: Table = {};
  table[key] = created;
  return created;
}

/**
 * What upstream's register does to the entry once the executor is known:
 * drops the sections of other executors (we say so), gives docker-windows
 * pwsh, and adds the `/cache` volume to docker executors unless one is
 * mounted there or disable_cache is set.
 */
function shapeForExecutor(ctx: CliContext, table: Table, executor: string): void {
  const kept = SECTIONS_OF[executor] ?? [];
  for (const section of EXECUTOR_SECTIONS) {
    if (kept.includes(section) || table[section] === undefined) continue;
    const value = table[section];
    delete table[section];
    if (typeof value === "object" && value !== null && Object.keys(value).length === 0) continue;
    ctx.log.warn(
      `[runners.${section}] is not written: the "${executor}" executor does not use it`,
    );
  }
  if (executor === "docker-windows") {
    if (!table["shell"]) table["shell"] = "pwsh";
    const docker = subTable(table, "docker");
    const volumes = Array.isArray(docker["volumes"]) ? docker["volumes"] as string[] : [];
    if (!volumes.some((v) => v.includes("c:\\cache"))) {
      docker["volumes"] = [...volumes, "c:\\cache"];
    }
  } else if (["docker", "docker+machine", "docker-autoscaler"].includes(executor)) {
    const docker = subTable(table, "docker");
    const volumes = Array.isArray(docker["volumes"]) ? docker["volumes"] as string[] : [];
    if (volumes.some((v) => v.split(":").at(-1) === "/cache")) return;
    if (docker["disable_cache"] !== true) docker["volumes"] = [...volumes, "/cache"];
  }
}

const ACCESS_LEVELS = ["", "not_protected", "ref_protected"];

/** Executor names upstream's register accepts ("Invalid executor specified" otherwise), and ours. */
const KNOWN_EXECUTORS: readonly string[] = [...SUPPORTED_EXECUTORS, ...OFFICIAL_ONLY_EXECUTORS];

/** What makes `url` unusable for GitLab requests (no scheme, not http or https), or null. */
function urlProblem(url: string): string | null {
  return isGitLabUrl(url)
    ? null
    : `Invalid GitLab URL "${url}": give an absolute http or https URL, such as https://gitlab.example.com/`;
}

function executorProblem(executor: string): string | null {
  return KNOWN_EXECUTORS.includes(executor)
    ? null
    : `Invalid executor specified: "${executor}" (one of ${KNOWN_EXECUTORS.join(", ")})`;
}

interface ExecutorSetting {
  section: string;
  key: string;
  flag: string;
  env: string;
  question: string;
  /** Upstream's non-interactive register stops when it is empty ("needs to be entered"). */
  isRequired: boolean;
}

const DOCKER_IMAGE: ExecutorSetting = {
  section: "docker",
  key: "image",
  flag: "docker-image",
  env: "DOCKER_IMAGE",
  question: "Enter the default Docker image (for example, ruby:3.3):",
  isRequired: true,
};
/** Upstream's askSSHServer. */
const SSH_SERVER: ExecutorSetting[] = [
  {
    section: "ssh",
    key: "host",
    flag: "ssh-host",
    env: "SSH_HOST",
    question: "Enter the SSH server address (for example, my.server.com):",
    isRequired: true,
  },
  {
    section: "ssh",
    key: "port",
    flag: "ssh-port",
    env: "SSH_PORT",
    question: "Enter the SSH server port (for example, 22):",
    isRequired: false,
  },
];
/** Upstream's askSSHLogin. */
const SSH_LOGIN: ExecutorSetting[] = [
  {
    section: "ssh",
    key: "user",
    flag: "ssh-user",
    env: "SSH_USER",
    question: "Enter the SSH user (for example, root):",
    isRequired: true,
  },
  {
    section: "ssh",
    key: "password",
    flag: "ssh-password",
    env: "SSH_PASSWORD",
    question: "Enter the SSH password (for example, docker.io):",
    isRequired: false,
  },
  {
    section: "ssh",
    key: "identity_file",
    flag: "ssh-identity-file",
    env: "SSH_IDENTITY_FILE",
    question: "Enter the path to the SSH identity file (for example, /home/user/.ssh/id_rsa):",
    isRequired: false,
  },
];

/** What upstream's register asks for each executor (askDocker, askSSHServer, askSSHLogin). */
const EXECUTOR_SETTINGS: Record<string, ExecutorSetting[]> = {
  "docker": [DOCKER_IMAGE],
  "docker+machine": [DOCKER_IMAGE],
  "docker-autoscaler": [DOCKER_IMAGE],
  "docker-windows": [{
    ...DOCKER_IMAGE,
    question: DOCKER_IMAGE.question.replace(
      "ruby:3.3",
      "mcr.microsoft.com/windows/servercore:1809",
    ),
  }],
  // The job container is the server: upstream's docker-ssh asked for the login only.
  "docker+ssh": [DOCKER_IMAGE, ...SSH_LOGIN],
  "ssh": [...SSH_SERVER, ...SSH_LOGIN],
};

export async function registerCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, REGISTER_FLAGS, ctx.env));
  const path = configPath(ctx, flags);
  // As upstream, whatever stdin is: a script may pipe the answers in.
  const interactive = !flags.bool("non-interactive");
  /**
   * Interactive: asks until the answer will do, as upstream does (a typo at
   * the executor prompt asks again rather than ending the registration);
   * the fallback at the end of input ("" for the caller to name what is
   * missing).
   */
  const prompt = async (q: string, v: string, options: PromptOptions = {}): Promise<string> => {
    const fallback = options.fallback ?? "";
    if (!interactive) return v || fallback;
    let given = v;
    for (;;) {
      const answer = await ask(ctx, q, given, fallback);
      if (answer === null) return fallback;
      given = "";
      if (answer === "" && options.isRequired) continue;
      const problem = answer === "" ? null : options.problem?.(answer) ?? null;
      if (problem === null) return answer;
      ctx.log.error(problem);
    }
  };
  if (!ACCESS_LEVELS.includes(flags.string("access-level"))) {
    throw new CommandError(
      `Given access-level is not valid: "${
        flags.string("access-level")
      }" (use not_protected or ref_protected)`,
    );
  }

  if (flags.int("maximum-timeout") < 0) {
    // 0 means "not set" and is not sent; a negative one was dropped the same way, without a word.
    throw new UsageError(
      `${flags.label("maximum-timeout")} takes a number of seconds, got ${
        flags.int("maximum-timeout")
      }`,
    );
  }
  const table = runnerTableFromFlags(flags);
  const templateFile = flags.string("template-config");
  const sources = templateFile ? "command line and template" : "command line";
  const templateMessages = new Set<string>();
  if (templateFile) {
    const templatePath = isAbsolute(templateFile) ? templateFile : resolve(ctx.cwd, templateFile);
    let template;
    try {
      template = await loadConfigTemplate(templatePath, ctx.envObject());
    } catch (err) {
      if (!(err instanceof ConfigTemplateError)) throw err;
      throw new CommandError(
        `Could not handle configuration merging from template file: ${err.message}`,
        1,
        { cause: err },
      );
    }
    for (const warning of template.warnings) {
      templateMessages.add(warning.message);
      ctx.log.warn(formatConfigProblem(warning));
    }
    ctx.log.info(`Merging configuration from template file "${templatePath}"`);
    // The name is always set (flag or host name) before merging, as upstream.
    table["name"] = flags.string("name") || hostname();
    mergeTemplate(table, template.runner);
  }
  // Trimmed, as upstream's ask trims what it reads: a variable read from a file (a mounted
  // secret) ends in a newline, which GitLab would take for part of the token.
  const given = (key: string) =>
    typeof table[key] === "string" ? (table[key] as string).trim() : "";

  const url = await prompt(
    "Enter the GitLab instance URL (for example, https://gitlab.com/):",
    given("url"),
    { isRequired: true, problem: urlProblem },
  );
  if (!url) {
    throw new CommandError("Register needs the GitLab URL: pass --url or set CI_SERVER_URL");
  }
  const badUrl = urlProblem(url);
  if (badUrl) throw new CommandError(badUrl);
  const legacyToken = flags.string("registration-token").trim();
  const flagToken = flags.string("token").trim();
  const token = await prompt(
    "Enter the registration token:",
    flagToken || legacyToken,
    { isRequired: true },
  );
  if (!token) {
    throw new CommandError("Register needs a token: pass --token (glrt-…) or --registration-token");
  }
  if (flagToken && legacyToken && legacyToken !== flagToken) {
    ctx.log.warn(
      `${flagSource(flags, "registration-token")} is not used: the token of ${
        flagSource(flags, "token")
      } is`,
    );
  }
  const isCreatedRunnerToken = token.startsWith("glrt-");
  if (isCreatedRunnerToken) {
    const reserved = SERVER_OWNED.filter((f) => isServerOwnedSet(flags, f));
    if (reserved.length > 0) {
      const names = reserved.map((f) => flagSource(flags, f)).join(", ");
      // Upstream's legacy-compatible registration: an authentication token given to -r.
      if (legacyToken !== token) {
        throw new CommandError(
          `Runner configuration other than name and executor configuration is reserved (specifically ${names}) and cannot be specified when registering with a runner authentication token. This configuration is specified on the GitLab server`,
        );
      }
      ctx.log.warn(
        `Ignoring ${names}: GitLab owns these settings for runners created with an authentication token`,
      );
    }
  }
  // Upstream: `-t` with a token that is not a glrt- one only verifies an
  // existing runner and writes it; registering is `-r`.
  const isVerifyOnly = !isCreatedRunnerToken && flagToken !== "";
  const unsent = isVerifyOnly ? SERVER_OWNED.filter((f) => isServerOwnedSet(flags, f)) : [];
  if (unsent.length > 0) {
    ctx.log.warn(
      `${unsent.map((f) => flagSource(flags, f)).join(", ")} ${
        unsent.length === 1 ? "is" : "are"
      } not used: a --token that is not a glrt- one only verifies a runner GitLab has already`,
    );
  }
  // Asked in upstream's order, which answers piped in follow: a runner only
  // verified is not asked its name, a legacy registration its tags and note.
  const name = isVerifyOnly
    ? flags.string("name").trim() || hostname()
    : await prompt("Enter a name for the runner:", flags.string("name").trim(), {
      fallback: hostname(),
    });
  const isLegacyRegistration = !isCreatedRunnerToken && !isVerifyOnly;
  const tags = isLegacyRegistration
    ? await prompt("Enter tags for the runner (comma-separated):", flags.string("tag-list"))
    : "";
  const maintenanceNote = isLegacyRegistration
    ? await prompt(
      "Enter optional maintenance note for the runner:",
      flags.string("maintenance-note"),
    )
    : "";
  const executor = await prompt(
    "Enter an executor: shell, docker, ssh, docker+ssh, custom:",
    given("executor"),
    { isRequired: true, problem: executorProblem },
  );
  if (!executor) {
    throw new CommandError("Register needs an executor: pass --executor or set RUNNER_EXECUTOR");
  }
  const problem = executorProblem(executor);
  if (problem) throw new CommandError(problem);
  for (const setting of EXECUTOR_SETTINGS[executor] ?? []) {
    const section = subTable(table, setting.section);
    const current = typeof section[setting.key] === "string" ? section[setting.key] as string : "";
    const value = await prompt(setting.question, current, { isRequired: setting.isRequired });
    if (value) section[setting.key] = value;
    else if (setting.isRequired) {
      throw new CommandError(
        `Register needs --${setting.flag} (or ${setting.env}) for the "${executor}" executor`,
      );
    }
  }
  table["name"] = name;
  table["url"] = url;
  table["executor"] = executor;
  delete table["token"];
  shapeForExecutor(ctx, table, executor);

  const loaded = await loadConfig(ctx, path);
  await requireWritableConfig(path, "registered");
  const { systemId, saveError } = await loadOrCreateSystemId(path);
  if (saveError) ctx.log.warn(`Cannot save the system ID: ${saveError}`);

  let runner: RunnerConfig;
  try {
    const parsed = parseRunnerTable(table, { source: sources, env: ctx.envObject() });
    runner = parsed.runner;
    for (const warning of parsed.warnings) {
      if (!templateMessages.has(warning.message)) ctx.log.warn(formatConfigProblem(warning));
      // A template's unknown key is warned "unknown and ignored": not written either (upstream
      // decodes the template into its config struct, which drops it), or lint would fail on it.
      if (warning.kind === "unknown_key") {
        delete runner.unsupported[warning.key.replace(/^runners\[0\]\./, "")];
      }
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new CommandError(`Invalid runner settings: ${err.message}`, 1, { cause: err });
  }

  const client = new RunnerClient({
    url,
    runnerInfo: runnerInfoFor(ctx.version, runner),
    token,
    systemId,
    ...tlsFilesOf(runner),
    // Its warnings (a tls-ca-file it cannot read) reach the user.
    log: ctx.log,
  });
  if (isCreatedRunnerToken && loaded.config.runners.some((r) => r.token === token)) {
    ctx.log.warn("A runner with this system ID and token has already been registered.");
  }
  ctx.log.info(
    isVerifyOnly ? "Token specified trying to verify runner..." : "Registering runner...",
    {
      "url": url,
      "runner": shortToken(token),
    },
  );
  try {
    if (isVerifyOnly) {
      ctx.log.warn("If you want to register use the '-r' instead of '-t'.");
      await client.verify();
      runner.token = token;
    } else if (isCreatedRunnerToken) {
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
      ctx.log.warn(
        "Registration tokens (and register's runner options such as tags with them) are " +
          "deprecated since GitLab Runner 15.6: create the runner in GitLab and register it " +
          "with its authentication token (glrt-…), " +
          "https://docs.gitlab.com/ci/runners/new_creation_workflow/",
      );
      const tagList = tags.split(",").map((t) => t.trim()).filter(Boolean);
      const registered = await client.register({
        description: name,
        ...(maintenanceNote ? { maintenanceNote } : {}),
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
    const what = isVerifyOnly ? "Failed to verify the runner" : "Registering runner... failed";
    throw new CommandError(`${what}: ${(err as Error).message}`, 1, { cause: err });
  }

  const config = loaded.config;
  config.runners.push(runner);
  try {
    await saveConfig(path, config);
  } catch (err) {
    if (!flags.bool("leave-runner") && !isCreatedRunnerToken && !isVerifyOnly) {
      await new RunnerClient({
        url,
        runnerInfo: runnerInfoFor(ctx.version, runner),
        token: runner.token,
        ...tlsFilesOf(runner),
        log: ctx.log,
      })
        .unregister().catch(() => {});
    }
    throw new CommandError(`Cannot save ${path}: ${(err as Error).message}`, 1, { cause: err });
  }
  for (
    const [value, flag] of [
      [runner.limit, "--limit"],
      [runner.requestConcurrency, "--request-concurrency"],
    ] as const
  ) {
    if (config.concurrent >= value) continue;
    ctx.log.warn(
      `${flag} ${value} is above the global concurrent (${config.concurrent}) of ${path}: concurrent still caps it, register does not raise it`,
    );
  }
  ctx.out(
    `Runner registered successfully. Feel free to start it, but if it's running already the config should be automatically reloaded!\n\nConfiguration (with the authentication token) was saved in "${path}"`,
  );
  return 0;
}

export function rfc3339Now(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
