/**
 * The Deno permissions each executor subprocess starts with
 * (docs/security.md holds the same table for people). Pure: the launcher
 * turns the result into `--allow-*` flags when running from source
 * (`permissionFlags`); a compiled binary, which carries global grants, runs
 * the job in a Worker created with the same set (`workerPermissions`,
 * cli/scoped_worker.ts).
 */
import { isAbsolute, join, resolve } from "../path/host_path.ts";
import type { RunnerConfig } from "../config/runner_config.ts";
import { cacheEndpoints, cacheUploadUrls } from "../cache/cache_endpoint.ts";
import { proxyFor, proxyHostPort } from "../os/http_proxy.ts";
import { seccompProfilePath } from "../config/seccomp_profile_path.ts";
import { sshFilePath, sshNetAddress } from "../config/ssh_address.ts";
import { dockerEndpoint as parseDockerEndpoint } from "../config/docker_endpoint.ts";
import { CLONE_URL_EXPECTED, parseCloneUrl } from "../config/clone_url.ts";
import { dockerConfigPath, executorStateDir } from "./executor_paths.ts";

export { dockerConfigPath, executorStateDir };
export { workerPermissions } from "./executor_worker_permissions.ts";

export interface ExecutorPermissions {
  read: string[];
  write: string[];
  /** Programs the process may spawn; empty = none; ["*"] = any. */
  run: string[];
  /** `host:port` entries; ["*"] = any. */
  net: string[];
  /** Whether the process may read its (already cleaned) environment. */
  env: boolean;
  /** `Deno.osRelease`/hostname style information. */
  sys: boolean;
}

export interface PermissionContext {
  runner: RunnerConfig;
  /** Runner working directory; relative builds/cache dirs resolve against it. */
  cwd: string;
  /** Temporary directory the executor may use. */
  tempDir: string;
  /**
   * The runner's state directory (`<config dir>/.runner`). Executor processes
   * only ever get `executorStateDir(stateDir)` below it: the job journal beside
   * it holds other jobs' tokens.
   */
  stateDir: string;
  env: (name: string) => string | undefined;
  /**
   * Docker config JSON texts a docker job may take credentials from (the
   * job's and the runner's DOCKER_AUTH_CONFIG, the runner's docker config
   * file): the credential helpers they name may run.
   */
  dockerAuthConfigs?: readonly string[];
}

/** `docker-credential-<name>` programs named by `credsStore` / `credHelpers`; never paths. */
export function credentialHelperPrograms(configs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const text of configs) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof doc !== "object" || doc === null) continue;
    const { credsStore, credHelpers } = doc as Record<string, unknown>;
    if (typeof credsStore === "string") names.add(credsStore);
    if (typeof credHelpers === "object" && credHelpers !== null) {
      for (const h of Object.values(credHelpers)) if (typeof h === "string") names.add(h);
    }
  }
  return [...names].filter((n) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n))
    .map((n) => `docker-credential-${n}`);
}

function hostPort(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.hostname}:${port}`;
}

function dir(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/**
 * Where the docker executor connects: a unix socket path or a tcp `host:port`.
 * Throws a TypeError naming the setting when it is no Docker endpoint.
 */
export function dockerEndpoint(
  runner: RunnerConfig,
  env: (name: string) => string | undefined,
): { socket: string } | { net: string } {
  const endpoint = parseDockerEndpoint(runner.docker, env);
  if (endpoint.kind === "socket") return { socket: endpoint.socketPath };
  const host = endpoint.host.includes(":") && !endpoint.host.startsWith("[")
    ? `[${endpoint.host}]`
    : endpoint.host;
  return { net: `${host}:${endpoint.port}` };
}

export function executorPermissions(ctx: PermissionContext): ExecutorPermissions {
  const { runner, cwd, tempDir } = ctx;
  const gitlab = hostPort(runner.url);
  const perms: ExecutorPermissions = {
    read: [tempDir],
    write: [tempDir],
    run: [],
    net: [gitlab],
    env: true,
    sys: true,
  };
  // Artifact transfers and the job's TLS variables (git) need the runner's TLS files.
  for (const file of [runner.tlsCaFile, runner.tlsCertFile, runner.tlsKeyFile]) {
    if (file) perms.read.push(dir(file, cwd));
  }
  switch (runner.executor) {
    case "shell": {
      const builds = dir(runner.buildsDir || "builds", cwd);
      const cache = dir(runner.cacheDir || "cache", cwd);
      perms.read.push(builds, cache);
      perms.write.push(builds, cache);
      // A job script may start any program anyway, and signalling a stage's process
      // group (Deno.kill(-pgid)) needs unscoped --allow-run: scoping it would buy nothing.
      perms.run.push("*");
      if (runner.cloneUrl) {
        const clone = parseCloneUrl(runner.cloneUrl);
        if (clone === null) {
          throw new TypeError(
            `[[runners]] clone_url "${runner.cloneUrl}" is not ${CLONE_URL_EXPECTED}`,
          );
        }
        perms.net.push(hostPort(clone.href));
      }
      break;
    }
    case "docker": {
      const endpoint = dockerEndpoint(runner, ctx.env);
      perms.read.push(executorStateDir(ctx.stateDir));
      perms.write.push(executorStateDir(ctx.stateDir));
      if ("socket" in endpoint) {
        // Deno 2 checks a unix socket connect against --allow-net=unix:<path> too.
        perms.read.push(endpoint.socket);
        perms.write.push(endpoint.socket);
        perms.net.push(`unix:${endpoint.socket}`);
      } else {
        perms.net.push(endpoint.net);
        if (runner.docker.tlsCertPath) perms.read.push(runner.docker.tlsCertPath);
      }
      // Registry credentials: the runner's docker config and the helpers the configs name.
      const dockerConfig = dockerConfigPath(ctx.env);
      if (dockerConfig) perms.read.push(dockerConfig);
      perms.run.push(...credentialHelperPrograms(ctx.dockerAuthConfigs ?? []));
      perms.read.push(...seccompProfileFiles(runner, cwd));
      break;
    }
    case "ssh":
    case "docker+ssh": {
      // None for a host or port that is no address: the executor fails the job naming the key.
      const address = sshNetAddress(runner.ssh.host, runner.ssh.port);
      if (address) perms.net.push(address);
      // The executor reads these files with "~" put in HOME (the cwd without one).
      const home = ctx.env("HOME") ?? cwd;
      const { identityFile, knownHostsFile } = runner.ssh;
      if (identityFile) perms.read.push(dir(sshFilePath(identityFile, home), cwd));
      const knownHosts = knownHostsFile || join(home, ".ssh", "known_hosts");
      perms.read.push(dir(sshFilePath(knownHosts, home), cwd));
      if (runner.executor === "docker+ssh") {
        const endpoint = dockerEndpoint(runner, ctx.env);
        perms.read.push(executorStateDir(ctx.stateDir));
        perms.write.push(executorStateDir(ctx.stateDir));
        if ("socket" in endpoint) {
          perms.read.push(endpoint.socket);
          perms.write.push(endpoint.socket);
          perms.net.push(`unix:${endpoint.socket}`);
        } else perms.net.push(endpoint.net);
        perms.read.push(...seccompProfileFiles(runner, cwd));
        // The job container's address is only known once it runs: sshd inside it
        // is reached on a bridge address no flag can name in advance.
        perms.net = ["*"];
      }
      break;
    }
    case "custom": {
      const c = runner.custom;
      for (const program of [c.configExec, c.prepareExec, c.runExec, c.cleanupExec]) {
        if (!program) continue;
        perms.run.push(program.includes("/") ? dir(program, cwd) : program);
        // A driver that exec(2) refuses is looked at to say why (its #! line, its mode).
        if (program.includes("/")) perms.read.push(dir(program, cwd));
      }
      // Deno.kill needs unscoped --allow-run, so driver process groups are signalled with kill(1).
      // An archive's symlinks are made with ln(1): Deno refuses Deno.symlink to scoped fs grants.
      perms.run.push("kill", "ln");
      if (runner.buildsDir) perms.read.push(dir(runner.buildsDir, cwd));
      if (runner.buildsDir) perms.write.push(dir(runner.buildsDir, cwd));
      if (runner.cacheDir) perms.read.push(dir(runner.cacheDir, cwd));
      if (runner.cacheDir) perms.write.push(dir(runner.cacheDir, cwd));
      break;
    }
  }
  // Cache archives travel between the executor process and the object store,
  // through the proxy the environment names for it (node:http connects to it).
  if (!perms.net.includes("*")) {
    perms.net.push(...cacheEndpoints(runner.cache));
    for (const url of cacheUploadUrls(runner.cache)) {
      const proxy = proxyFor(url, ctx.env);
      if (proxy && !perms.net.includes(proxyHostPort(proxy.url))) {
        perms.net.push(proxyHostPort(proxy.url));
      }
    }
  }
  return perms;
}

/** seccomp=<file> in security_opt: the executor reads the profile in, as the official runner. */
function seccompProfileFiles(runner: RunnerConfig, cwd: string): string[] {
  return [...runner.docker.securityOpt, ...runner.docker.servicesSecurityOpt].flatMap((option) => {
    const profile = seccompProfilePath(option);
    return profile ? [dir(profile, cwd)] : [];
  });
}

/** `--allow-*` flags for `deno run`; an empty list grants nothing. */
export function permissionFlags(perms: ExecutorPermissions): string[] {
  const flags = ["--no-prompt"];
  const list = (name: string, values: string[]) => {
    const unique = [...new Set(values)];
    if (unique.length > 0) flags.push(`--allow-${name}=${unique.join(",")}`);
  };
  list("read", perms.read);
  list("write", perms.write);
  if (perms.run.includes("*")) flags.push("--allow-run");
  else list("run", perms.run);
  if (perms.net.includes("*")) flags.push("--allow-net");
  else list("net", perms.net);
  if (perms.env) flags.push("--allow-env");
  if (perms.sys) flags.push("--allow-sys");
  return flags;
}
