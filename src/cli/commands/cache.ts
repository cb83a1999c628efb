/**
 * `runner cache clear`: removes the docker executor's per-project cache and
 * build volumes (what the official `clear-docker-cache` script does), for every
 * docker runner in config.toml, or one runner or project.
 */
import { shortToken } from "../../config/short_token.ts";
import type { DockerConfig } from "../../config/runner_config.ts";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import { type CliContext, CommandError } from "../cli_context.ts";
import { CONFIG_FLAG, configPath, loadConfig } from "../config_flags.ts";
import { Flags, type FlagSpec, parseFlags } from "../flags.ts";

export const CACHE_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  { name: "name", aliases: ["n"], type: "string", help: "Only this runner's volumes" },
  { name: "project-id", type: "int", help: "Only this project's volumes" },
];

export async function cacheCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, CACHE_FLAGS, ctx.env, { takesArguments: true }));
  const [action, extra] = flags.positionals;
  if (action !== "clear") {
    throw new CommandError(`Unknown cache command "${action ?? ""}": use "runner cache clear"`, 2);
  }
  if (extra !== undefined) {
    throw new CommandError(
      `Unexpected argument "${extra}": "runner cache clear" takes flags only`,
      2,
    );
  }
  const path = configPath(ctx, flags);
  // A -c (or CONFIG_FILE) that names no file is a typo, not "no docker
  // runners": read as an empty config it removed every Runner cache volume.
  const { config } = await loadConfig(ctx, path, flags.has("config") ? "error" : "empty");
  const name = flags.string("name");
  const runners = config.runners.filter((r) =>
    (r.executor === "docker" || r.executor === "docker+ssh") && (!name || r.name === name)
  );
  if (name && runners.length === 0) {
    throw new CommandError(`No docker runner named "${name}" in ${path}`);
  }
  // Without docker runners in the file, clear every Runner volume on the local daemon.
  if (runners.length === 0) {
    ctx.out(`No docker runner in ${path}: removing the cache volumes of every runner`);
  }
  const targets: { docker: DockerConfig; token: string }[] = runners.length > 0
    ? runners.map((r) => ({ docker: r.docker, token: shortToken(r.token) }))
    : [{ docker: defaultRunnerConfig("docker").docker, token: "" }];
  const { clearCacheVolumes, connectDocker } = await import("../../executors/docker/mod.ts");
  let failed = 0;
  for (const target of targets) {
    let result: Awaited<ReturnType<typeof clearCacheVolumes>>;
    try {
      const docker = await connectDocker(target.docker, { env: ctx.env });
      result = await clearCacheVolumes(docker, {
        ...(target.token ? { shortToken: target.token } : {}),
        ...(flags.has("project-id") ? { projectId: flags.int("project-id") } : {}),
      });
    } catch (err) {
      // The daemon is down or elsewhere: a message, not a stack trace.
      throw new CommandError(
        `Cannot clear cache volumes${target.token ? ` of runner ${target.token}` : ""}: ${
          (err as Error).message
        } (is Docker running? [runners.docker] host or DOCKER_HOST says where)`,
        1,
        { cause: err },
      );
    }
    for (const volume of result.removed) ctx.out(`Removed volume ${volume}`);
    for (const f of result.failures) {
      failed++;
      ctx.err(`ERROR: Cannot remove volume ${f.name}: ${f.reason}`);
    }
    if (result.removed.length === 0 && result.failures.length === 0) {
      ctx.out(`No cache volumes${target.token ? ` for runner ${target.token}` : ""}`);
    }
  }
  return failed > 0 ? 1 : 0;
}
