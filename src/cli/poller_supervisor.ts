/**
 * `runner run` as a scoped poller, from source and compiled alike. This
 * thread keeps the process's broad grants and does little with them: it reads
 * the flags and config.toml, computes the poller's permission set
 * (poller/poller_permissions.ts), makes the poller's temporary directory and
 * runs the poller (the whole `run` command) in a Worker created with that set
 * (cli/poller_worker.ts). It never talks to GitLab and never sees a job.
 *
 * A reloaded config that needs permissions the worker lacks (a new GitLab
 * URL, listen address, builds dir or CA file) makes the poller drain, as on
 * SIGQUIT, and end with POLLER_RESCOPE_EXIT; this thread then reads the config
 * again and starts a poller with the new set. Jobs keep running during the
 * drain; new jobs wait until it ends.
 *
 * Secrets: the environment goes to the worker as a copy (for `$VAR` in
 * config.toml, also on reload), and the variables that carry runner tokens are
 * deleted from the process environment before the poller starts, so no later
 * `Deno.env` read or child process sees them. /proc/<pid>/environ still shows
 * the environment the process was started with (docs/security.md).
 */
import type { LoadedConfigFile } from "../config/load_config.ts";
import type { GlobalConfig } from "../config/runner_config.ts";
import { F } from "../log/fields.ts";
import { fromFileUrl } from "../path/host_path.ts";
import { readProcfsSnapshot } from "../metrics/procfs_snapshot.ts";
import {
  configTarget,
  pollerPermissions,
  pollerWorkerPermissions,
} from "../poller/poller_permissions.ts";
import { isCompiledBinary } from "../poller/compiled_grants.ts";
import { type CliContext, POLLER_RESCOPE_EXIT } from "./cli_context.ts";
import { certsDirectory, certsDirectoryWarnings } from "./certs_directory.ts";
import { configPath, defaultConfigFile, enterWorkingDirectory } from "./config_flags.ts";
import { environmentProxyWarnings, proxyEnvironmentWarnings } from "./proxy_environment.ts";
import { readConfigInChild } from "./config_reader_process.ts";
import { Flags, parseFlags } from "./flags.ts";
import { RUN_FLAGS } from "./commands/run_flags.ts";
import { runScopedWorker } from "./scoped_worker.ts";
import { releaseStartupGarbage } from "./startup_garbage.ts";
import type { VersionInfo } from "./version.ts";

/** The first message a poller worker receives. */
export interface PollerWorkerInit {
  /** Global options, `run`, and its flags (without `--working-directory`, already applied). */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  version: VersionInfo;
  tempDir: string;
  configPath: string;
  listenAddress: string;
  /** `--user`, or "". */
  user: string;
  /** The runner's `src/` from source (the poller's lazy imports read it); null compiled. */
  sourceDir: string | null;
  /** The config the previous poller ran with, when it stopped for this one's permissions. */
  previous: GlobalConfig | null;
  /** config.toml as this thread loaded it (PollerScope.loaded); null when it could not. */
  loaded: LoadedConfigFile | null;
  /** `loaded` is the previous poller's config: the file could not be used (PollerScope.isStale). */
  isStale: boolean;
  /** Why, when the previous poller refused it (PollerScope.staleReason). */
  staleReason: string | null;
}

/** A reloaded config.toml a poller refused at its start, as read, and why. */
interface Refusal {
  text: string | null;
  reason: string;
}

/** Variables that carry runner or registration tokens whatever config.toml says. */
const TOKEN_VARIABLES = ["CI_SERVER_TOKEN", "REGISTRATION_TOKEN", "RUNNER_TOKEN"];

const WORKING_DIRECTORY = ["--working-directory", "-working-directory", "-d", "--d"];

/** `args` without the working-directory flag and its value. */
export function withoutWorkingDirectory(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.split("=")[0]!;
    if (WORKING_DIRECTORY.includes(name)) {
      if (!arg.includes("=")) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** How often the poller's copy of the process metrics' /proc values is refreshed. */
const PROCFS_INTERVAL_MS = 2000;

/** Runs `runner run` in a scoped worker until it stops for good; resolves the exit code. */
export async function superviseScopedPoller(
  ctx: CliContext,
  options: { global: string[]; rest: string[] },
): Promise<number> {
  const flags = new Flags(parseFlags(options.rest, RUN_FLAGS, ctx.env));
  if (flags.bool("syslog")) {
    // Said here, once: the poller reads the same flags. With --syslog the official
    // runner's lines go to the system logger tagged with the service name
    // (kardianos/service's SystemLogger), which is all `run` does with --service
    // outside Windows: that name goes unused too, and the warning names it.
    const service = flags.string("service");
    const tag = service === ""
      ? '"gitlab-runner", the default --service'
      : `${JSON.stringify(service)} (--service)`;
    ctx.log.warn(
      `${
        flags.isExplicit("syslog") ? "--syslog" : "LOG_SYSLOG"
      } is not supported: the runner logs to stderr only (the service manager's journal or log file keeps it), without the syslog tag ${tag}`,
    );
  }
  enterWorkingDirectory(ctx, flags);
  const path = configPath(ctx, flags);
  const env = ctx.envObject();
  const execPath = Deno.execPath();
  const sourceDir = isCompiledBinary(execPath)
    ? null
    : fromFileUrl(new URL("..", import.meta.url)).replace(/\/$/, "");
  const listenAddress = flags.string("listen-address");
  const user = flags.string("user");
  const args = [...options.global, "run", ...withoutWorkingDirectory(options.rest)];
  for (const warning of proxyEnvironmentWarnings(ctx.env.bind(ctx))) ctx.log.warn(warning);
  // The official runner's TLS files by convention, which Runner names rather than reads.
  const certsDir = certsDirectory(defaultConfigFile(ctx));
  let isFirst = true;
  let previous: GlobalConfig | null = null;
  /** The reloaded config.toml the last poller refused at its start (PollerScope.onRefuse). */
  let refused: Refusal | null = null;
  while (true) {
    // Set by the last poller's message (TypeScript cannot see the callback assign it).
    const refusal = refused as Refusal | null;
    refused = null;
    // In a child process: this thread loads no TOML (cli/config_reader_process.ts).
    let loaded = refusal ? null : await readConfigInChild(path, {
      execPath,
      sourceDir,
      env,
      configTarget: configTarget(path),
    });
    // A re-scope whose file broke, or went, since the edit that asked for it, or
    // that the new poller refused: the runner keeps the config it ran, as for any
    // broken edit, instead of stopping on the error (or running no runner at all
    // for a missing file).
    const isStale = previous !== null &&
      (refusal !== null || loaded === null || loaded.text === null);
    if (isStale) loaded = { config: previous!, warnings: [], text: refusal?.text ?? null };
    const staleReason = refusal?.reason ?? null;
    // The defaults (and the config schema they come from) load only when the file could not be.
    const config = loaded?.config ??
      (await import("../config/default_config.ts")).defaultConfig();
    if (isFirst) forgetTokenVariables(config);
    isFirst = false;
    if (!isStale) {
      for (const warning of await certsDirectoryWarnings(config.runners, certsDir)) {
        ctx.log.warn(warning);
      }
      for (const warning of environmentProxyWarnings(config.runners, ctx.env.bind(ctx))) {
        ctx.log.warn(warning);
      }
    }
    const tempDir = await Deno.makeTempDir({ prefix: "runner-" });
    const permissions = pollerPermissions({
      config,
      configPath: path,
      configTarget: configTarget(path),
      cwd: ctx.cwd,
      tempDir,
      execPath,
      listenAddress,
      user,
      sourceDir,
    });
    ctx.log.debug("Starting the scoped poller", {
      "read": permissions.read.join(","),
      "write": permissions.write.join(","),
      "net": permissions.net.join(","),
      "run": permissions.run.join(","),
    });
    const init: PollerWorkerInit = {
      args,
      env,
      cwd: ctx.cwd,
      version: ctx.version,
      tempDir,
      configPath: path,
      listenAddress,
      user,
      sourceDir,
      // Nothing changed when the previous config is kept.
      previous: isStale ? null : previous,
      loaded,
      isStale,
      staleReason,
    };
    // Deno wants every permission for /proc/self: this thread reads the process
    // metrics' values for the poller, once its metrics endpoint asks for them.
    let procfsTimer: ReturnType<typeof setInterval> | undefined;
    const code = await runScopedWorker(new URL("./poller_worker.ts", import.meta.url), {
      permissions: pollerWorkerPermissions(permissions),
      init,
      onError: (message) => ctx.log.error("The poller failed", { [F.ERROR]: message }),
      // This thread's work is done (flags, config.toml, the poller's set) until a re-scope.
      onReady: () => releaseStartupGarbage(ctx.log, "supervisor"),
      onMessage: (message, worker) => {
        const m = message as {
          type?: string;
          config?: GlobalConfig;
          text?: string | null;
          reason?: string;
        };
        if (m.type === "rescope" && m.config) previous = m.config;
        if (m.type === "refuse" && m.reason) refused = { text: m.text ?? null, reason: m.reason };
        if (m.type === "procfs-wanted" && procfsTimer === undefined) {
          const send = () => worker.postMessage({ type: "procfs", snapshot: readProcfsSnapshot() });
          send();
          procfsTimer = setInterval(send, PROCFS_INTERVAL_MS);
        }
      },
    }).finally(() => clearInterval(procfsTimer));
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    if (code !== POLLER_RESCOPE_EXIT) return code;
  }
}

/**
 * Deletes from the process environment every variable that carries a runner
 * token: the fixed names and those `token = "$VAR"` names in config.toml. The
 * poller keeps its copy.
 */
function forgetTokenVariables(config: GlobalConfig): void {
  const names = new Set(TOKEN_VARIABLES);
  for (const r of config.runners) {
    const template = r.envExpansion.token?.template ?? "";
    for (const m of template.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)) names.add(m[1]!);
  }
  for (const name of names) Deno.env.delete(name);
}
