/**
 * The Deno permissions of the poller (`runner run`), computed from the config
 * like the executor table (executor_permissions.ts), and pure. The poller runs
 * in a Worker created with this set by a supervising thread that keeps the
 * process's broad grants (cli/poller_supervisor.ts, docs/security.md); a
 * reloaded config that needs more (a new GitLab host, another listen address,
 * builds dir or CA file) makes the poller drain and the supervisor start a
 * new one with the set of the new config.
 */
import { isGitLabUrl } from "../config/gitlab_url.ts";
import { dirname, isAbsolute, resolve } from "../path/host_path.ts";
import type { GlobalConfig } from "../config/runner_config.ts";
import { formatListenAddress, parseListenAddress } from "../metrics/listen_address.ts";
import { sessionListenPermission } from "../session/session_address.ts";
import { cacheBackend } from "../cache/cache_url_signer.ts";
import { s3StsHostPort } from "../cache/s3_endpoint.ts";
import type { S3CacheConfig } from "../config/runner_config.ts";

/** The EC2 instance metadata service (IMDSv2), for S3 instance-role credentials. */
const INSTANCE_METADATA = "169.254.169.254:80";

/** Whether the S3 signer takes credentials from the environment or the instance role. */
function isS3Iam(s3: S3CacheConfig): boolean {
  const type = s3.authenticationType.toLowerCase();
  return type === "iam" || (type === "" && (s3.accessKey === "" || s3.secretKey === ""));
}

export interface PollerPermissionContext {
  config: GlobalConfig;
  /** config.toml; its directory holds `.runner` (journal, executor state) and the system ID. */
  configPath: string;
  /**
   * Where config.toml leads when it is a symlink (a ConfigMap-style `..data` switch, a
   * `config.toml -> v2/config.toml` flip): its directory is read too. null: not a link.
   */
  configTarget: string | null;
  /** Working directory; relative builds/cache dirs resolve against it. */
  cwd: string;
  /** The poller's own temporary directory (trace buffers, executor temp dirs). */
  tempDir: string;
  /** The runner binary (compiled) or `deno` (from source): what executor processes run. */
  execPath: string;
  /** `--listen-address`; "" = the config's `listen_address`. */
  listenAddress: string;
  /** `--user`; "" = the config's `user`. Shell jobs then start through `su`, checked at start. */
  user: string;
  /**
   * From source, the runner's own `src/`: started with `--unstable-lazy-dynamic-imports`
   * (the `runner` task), the poller loads what an idle poller does not need (a job's trace
   * pipeline, metrics, the session server) at first use, which Deno checks against read
   * permission. null for a compiled binary, which carries its modules inside it.
   */
  sourceDir: string | null;
}

export interface PollerPermissions {
  read: string[];
  write: string[];
  /** `host:port` entries. */
  net: string[];
  /** Programs: the runner's own executable, kill(1), and su when jobs run as another user. */
  run: string[];
}

function hostPort(url: string): string | null {
  // A URL no request goes to: its entry never asks for jobs (config/gitlab_url.ts).
  if (!isGitLabUrl(url)) return null;
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.hostname}:${port}`;
}

function dir(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

export function pollerPermissions(ctx: PollerPermissionContext): PollerPermissions {
  const { config, cwd } = ctx;
  const configDir = dirname(dir(ctx.configPath, cwd));
  const files = [configDir, ctx.tempDir];
  const read = [...files, ctx.execPath];
  if (ctx.sourceDir) read.push(ctx.sourceDir);
  // A link flip (`config.toml -> v2/config.toml`, a ConfigMap's `..data`) goes to a sibling of
  // the target's directory: its parent is read too, so the flip needs no new poller.
  if (ctx.configTarget) read.push(dirname(dirname(ctx.configTarget)));
  const net: string[] = [];
  for (const r of config.runners) {
    const gitlab = hostPort(r.url);
    if (gitlab) net.push(gitlab);
    files.push(dir(r.buildsDir || "builds", cwd), dir(r.cacheDir || "cache", cwd));
    for (const file of [r.tlsCaFile, r.tlsCertFile, r.tlsKeyFile]) {
      if (file) read.push(dir(file, cwd));
    }
    // The poller signs distributed-cache URLs: it reads a GCS key file, asks
    // the EC2 instance metadata service for S3 credentials with "iam", and STS
    // for RoleARN's temporary credentials.
    const backend = cacheBackend(r.cache.type);
    if (backend === "gcs" && r.cache.gcs.credentialsFile) {
      read.push(dir(r.cache.gcs.credentialsFile, cwd));
    }
    if (backend === "s3" && isS3Iam(r.cache.s3)) net.push(INSTANCE_METADATA);
    if (backend === "s3" && (r.cache.s3.roleArn || r.cache.s3.uploadRoleArn)) {
      try {
        net.push(s3StsHostPort(r.cache.s3));
      } catch {
        // No usable endpoint: the signer reports the config error to the job.
      }
    }
  }
  const listen = ctx.listenAddress || config.listenAddress;
  if (listen) {
    try {
      // An IPv6 host in brackets ([::1]:9252): Deno reads "::1:9252" as no address at all.
      net.push(formatListenAddress(parseListenAddress(listen)));
    } catch {
      // Invalid: the metrics server logs why and the poller runs without it.
    }
  }
  // The web terminal's session server ([session_server] listen_address).
  const session = config.sessionServer.listenAddress
    ? sessionListenPermission(config.sessionServer.listenAddress)
    : null;
  if (session) net.push(session);
  const unique = (xs: string[]) => [...new Set(xs)];
  return {
    read: unique([...read, ...files]),
    write: unique(files),
    net: unique(net),
    // `kill`: the process groups of an executor process that died are killed
    // through kill(1) (Deno.kill needs --allow-run for every program). `su` only
    // when jobs run as another user: the poller checks at start that it can switch.
    run: [ctx.execPath, "kill", ...(ctx.user || config.user ? ["su"] : [])],
  };
}

/** The Worker option for `perms`; env and sys are the poller's too, ffi and imports are not. */
export function pollerWorkerPermissions(perms: PollerPermissions): Deno.PermissionOptionsObject {
  return {
    read: perms.read,
    write: perms.write,
    net: perms.net.length > 0 ? perms.net : false,
    run: perms.run,
    env: true,
    sys: true,
    ffi: false,
    import: false,
  };
}

/** What of `perms` the calling thread does not hold, as `kind:value` (empty: all held). */
export function missingPermissions(perms: PollerPermissions): string[] {
  const missing: string[] = [];
  const check = (descriptor: Deno.PermissionDescriptor, label: string) => {
    if (Deno.permissions.querySync(descriptor).state !== "granted") missing.push(label);
  };
  for (const path of perms.read) check({ name: "read", path }, `read:${path}`);
  for (const path of perms.write) check({ name: "write", path }, `write:${path}`);
  for (const host of perms.net) check({ name: "net", host }, `net:${host}`);
  for (const command of perms.run) check({ name: "run", command }, `run:${command}`);
  return missing;
}

/** The file config.toml leads to, when that is another path; null when it is none or unknown. */
export function configTarget(configPath: string): string | null {
  try {
    const real = Deno.realPathSync(configPath);
    return real === configPath ? null : real;
  } catch {
    return null; // missing (the poller waits for it) or not readable from here
  }
}
