/**
 * One SSH connection (ssh2, never the ssh CLI) to the host a job runs on:
 * exec channels for stage scripts and one SFTP session for artifacts and
 * cache, all multiplexed over the same TCP connection.
 *
 * Opening follows the official runner: up to 3 attempts, a pause between
 * them, `password` and `identity_file` both offered, host keys checked against
 * known_hosts unless `disable_strict_host_key_checking` is true. A refused host
 * key is not retried: it will not change, and the message must stay readable.
 *
 * Keepalive: a keepalive@openssh.com request every `keepaliveIntervalMs`; after
 * `keepaliveCountMax` unanswered ones the connection counts as lost, so a host
 * that vanished without closing TCP ends the job instead of hanging it.
 * Losing the connection closes every channel; `lostReason` then says why.
 */
import { Buffer } from "node:buffer";
import { isAbsolute, join } from "node:path";
// @ts-types="@types/ssh2"
import { Client as Ssh2Client, type ClientChannel, type SFTPWrapper, utils } from "ssh2";
import {
  ipVersion,
  sshFilePath,
  sshHostProblem,
  sshPortProblem,
} from "../../config/ssh_address.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import {
  errorLevel,
  errorText,
  isAuthenticationFailure,
  isBadPassphrase,
  isHostKeyRefusal,
  isMissingPassphrase,
  isSessionRefused,
  SESSION_REFUSED_HINT,
} from "./_ssh_errors.ts";
import { repairedEcdsaKey } from "./_ecdsa_key.ts";
import { describeRefusal, hostKeyAlgorithms, KnownHosts } from "./known_hosts.ts";

/** Where and as whom to log in: `[runners.ssh]` with defaults applied. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** "" = no password authentication. */
  password: string;
  /** Private key file; "" = no key authentication. */
  identityFile: string;
  /** Decrypts an encrypted identity file. */
  identityPassphrase: string;
  disableStrictHostKeyChecking: boolean;
  /** Absolute path of the known_hosts file. */
  knownHostsFile: string;
}

export interface SshConnectOptions {
  /** Attempts in all (official: 3). */
  attempts?: number;
  /** Pause between attempts (official: a few seconds). */
  retryDelayMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Time allowed for TCP connect + handshake + authentication of one attempt. */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** Reads the key and known_hosts files; injectable for tests. */
  readTextFile?: (path: string) => Promise<string>;
  /** Told about each failed attempt that will be retried. */
  onRetry?: (attempt: number, reason: string) => void;
}

/** How a remote command ended, as sshd reported it. */
export interface RemoteExit {
  /** exit-status; null when the command was killed by a signal or sshd sent no status. */
  code: number | null;
  /** exit-signal, e.g. "SIGKILL"; null unless the command was killed by a signal. */
  signal: string | null;
}

/** An exec channel and how its command ended (null until sshd says). */
export interface RemoteCommand {
  readonly channel: ClientChannel;
  readonly exit: RemoteExit | null;
}

/** "exit code 3", "killed by SIGKILL", or that sshd said neither. */
export function describeExit(exit: RemoteExit | null): string {
  if (exit?.code !== null && exit?.code !== undefined) return `exit code ${exit.code}`;
  if (exit?.signal) return `killed by ${exit.signal}`;
  return "the channel closed without an exit status or signal";
}

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_RETRY_DELAY_MS = 3000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;
export const DEFAULT_READY_TIMEOUT_MS = 20_000;

/** ssh2's default host key algorithms, most preferred first (lib/protocol/constants.js). */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/**
 * Ciphers to negotiate first. Measured on Deno 2.9 over loopback: ssh2's
 * chacha20-poly1305 ran at 138 MB/s and aes128-ctr at 98 MB/s, but
 * aes128-gcm (ssh2's default first choice, through Deno's node:crypto) at
 * only 43 MB/s, which made SFTP artifact transfers 3x slower than scp.
 */
const FAST_CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"];

/** `[runners.ssh]` → SshTarget with the official defaults (localhost, port 22, root). */
export function sshTarget(
  config: {
    host: string;
    port: string;
    user: string;
    password: string;
    identityFile: string;
    disableStrictHostKeyChecking: boolean;
    knownHostsFile: string;
  },
  options: { homeDir: string; identityPassphrase?: string },
): SshTarget {
  for (
    const [key, value, why] of [
      ["host", config.host, sshHostProblem(config.host)],
      ["port", config.port, sshPortProblem(config.port)],
    ]
  ) {
    if (why) {
      throw new JobFailedError(
        "runner_configuration_error",
        `Invalid [runners.ssh] ${key} "${value}": ${why}`,
      );
    }
  }
  const port = Number(config.port.trim() || "22");
  const resolve = (path: string) => isAbsolute(path) ? path : join(options.homeDir, path);
  // The poller grants read access to the same paths (executor_permissions.ts).
  const expandHome = (path: string) => sshFilePath(path, options.homeDir);
  return {
    host: config.host || "localhost",
    port,
    user: config.user || "root",
    password: config.password,
    identityFile: config.identityFile ? expandHome(config.identityFile) : "",
    // No official key holds a passphrase; the password doubles as one (docs/executors/ssh.md).
    identityPassphrase: options.identityPassphrase ?? config.password,
    disableStrictHostKeyChecking: config.disableStrictHostKeyChecking,
    knownHostsFile: config.knownHostsFile
      ? expandHome(config.knownHostsFile)
      : resolve(join(".ssh", "known_hosts")),
  };
}

/** `host:port`, an IPv6 address in brackets (`[::1]:22`), for messages. */
function hostAndPort(target: SshTarget): string {
  return `${ipVersion(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
}

/** `user@host:port`, for messages. */
export function describeTarget(target: SshTarget): string {
  return `${target.user}@${hostAndPort(target)}`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(done, ms);
    function done() {
      clearTimeout(id);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The identity_file's key as ssh2 gets it, and the passphrase that unlocks it ("" = none). */
interface IdentityKey {
  data: Buffer;
  passphrase: string;
}

async function readPrivateKey(
  target: SshTarget,
  read: (path: string) => Promise<string>,
): Promise<IdentityKey | null> {
  if (target.identityFile === "") return null;
  let text: string;
  try {
    text = await read(target.identityFile);
  } catch (cause) {
    throw new JobFailedError(
      "runner_configuration_error",
      `Cannot read [runners.ssh] identity_file "${target.identityFile}": ${errorText(cause)}`,
      { cause },
    );
  }
  const key = Buffer.from(text);
  const parsed = utils.parseKey(key, target.identityPassphrase || undefined);
  if (parsed instanceof Error) {
    const why = isMissingPassphrase(parsed)
      ? "it is encrypted and no passphrase is set ([runners.ssh] password is used as its passphrase)"
      : isBadPassphrase(parsed)
      ? "it is encrypted and [runners.ssh] password does not decrypt it"
      : parsed.message;
    throw new JobFailedError(
      "runner_configuration_error",
      `Cannot use [runners.ssh] identity_file "${target.identityFile}": ${why}`,
      { cause: parsed },
    );
  }
  // parseKey reads public keys too: ssh2 would refuse this one at every connect attempt.
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (first && !first.isPrivateKey()) {
    throw new JobFailedError(
      "runner_configuration_error",
      `Cannot use [runners.ssh] identity_file "${target.identityFile}": it holds a public key (${first.type}), not a private key`,
    );
  }
  const repaired = first ? repairedEcdsaKey(first) : null;
  if (repaired !== null) return { data: Buffer.from(repaired), passphrase: "" };
  // A key ssh2 cannot sign with would read as "the server refused the identity_file key".
  const signed = first?.sign(Buffer.from("probe"));
  if (signed instanceof Error) {
    throw new JobFailedError(
      "runner_configuration_error",
      `Cannot use [runners.ssh] identity_file "${target.identityFile}": cannot sign with its ${first?.type} key: ${signed.message}`,
      { cause: signed },
    );
  }
  return { data: key, passphrase: target.identityPassphrase };
}

async function readKnownHosts(
  target: SshTarget,
  read: (path: string) => Promise<string>,
): Promise<KnownHosts | null> {
  if (target.disableStrictHostKeyChecking) return null;
  try {
    return KnownHosts.parse(await read(target.knownHostsFile));
  } catch (cause) {
    throw new JobFailedError(
      "runner_configuration_error",
      `Cannot read known_hosts file "${target.knownHostsFile}" to verify the host key of "${target.host}": ${
        errorText(cause)
      }; set [runners.ssh] known_hosts_file, or disable_strict_host_key_checking = true`,
      { cause },
    );
  }
}

export class SshConnection {
  readonly target: SshTarget;
  readonly #client: Ssh2Client;
  #lostReason: string | null = null;
  readonly #onLost = new Set<(reason: string) => void>();
  #sftp: Promise<SFTPWrapper> | null = null;
  #isClosed = false;

  private constructor(target: SshTarget, client: Ssh2Client) {
    this.target = target;
    this.#client = client;
    let lastError = "";
    client.on("error", (err: Error) => {
      lastError = errorLevel(err) === "client-timeout" && /keepalive/i.test(err.message)
        ? "no answer to keepalive requests"
        : errorText(err);
    });
    client.on("close", () => {
      if (this.#lostReason !== null) return;
      this.#lostReason = this.#isClosed
        ? "closed by Runner"
        : lastError || "the server closed the connection";
      for (const notify of this.#onLost) notify(this.#lostReason);
      this.#onLost.clear();
    });
  }

  /** Connects and authenticates; rejects with a JobFailedError naming the host and the reason. */
  static async open(target: SshTarget, options: SshConnectOptions = {}): Promise<SshConnection> {
    const read = options.readTextFile ?? ((path: string) => Deno.readTextFile(path));
    const privateKey = await readPrivateKey(target, read);
    const knownHosts = await readKnownHosts(target, read);
    const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      options.signal?.throwIfAborted();
      const result = await SshConnection.#attempt(target, { ...options, privateKey, knownHosts });
      if (result instanceof SshConnection) return result;
      lastError = result;
      if (result instanceof JobFailedError) throw result; // host key refused: final
      if (attempt < attempts) {
        options.onRetry?.(attempt, errorText(result));
        await delay(options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, options.signal);
      }
    }
    options.signal?.throwIfAborted();
    const who = describeTarget(target);
    const message = isAuthenticationFailure(lastError)
      ? `SSH authentication as "${target.user}" on "${
        hostAndPort(target)
      }" failed: the server refused ${
        [target.password ? "the password" : "", privateKey ? "the identity_file key" : ""]
          .filter((m) => m).join(" and ") || "login without password or identity_file"
      }`
      : `Cannot connect to SSH server "${who}" after ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }: ${errorText(lastError)}`;
    throw new JobFailedError("runner_system_failure", message, { cause: lastError });
  }

  static #attempt(
    target: SshTarget,
    options: SshConnectOptions & {
      privateKey: IdentityKey | null;
      knownHosts: KnownHosts | null;
      preferFastCiphers?: boolean;
    },
  ): Promise<SshConnection | Error> {
    const { knownHosts } = options;
    let refusal: string | null = null;
    const client = new Ssh2Client();
    const config: Record<string, unknown> = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: options.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
    };
    if (target.password) config["password"] = target.password;
    if (options.privateKey) {
      config["privateKey"] = options.privateKey.data;
      if (options.privateKey.passphrase) config["passphrase"] = options.privateKey.passphrase;
    }
    if (options.preferFastCiphers !== false) {
      config["algorithms"] = { cipher: { remove: FAST_CIPHERS, prepend: FAST_CIPHERS } };
    }
    if (knownHosts) {
      // Negotiate a key type the file knows first, as OpenSSH does; otherwise a
      // host known by its RSA key would offer ed25519 and look "changed".
      const preferred = knownHosts.keyTypesFor(target.host, target.port).flatMap(hostKeyAlgorithms)
        .filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a));
      config["algorithms"] = {
        ...config["algorithms"] as Record<string, unknown>,
        serverHostKey: [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])],
      };
      config["hostVerifier"] = (key: Buffer) => {
        const blob = new Uint8Array(key);
        const verdict = knownHosts.verify(target.host, target.port, blob);
        if (verdict.kind === "trusted") return true;
        refusal = describeRefusal(verdict, {
          host: target.host,
          port: target.port,
          key: blob,
          knownHostsFile: target.knownHostsFile,
          problems: knownHosts.problems,
        });
        return false;
      };
    }
    return new Promise((resolve) => {
      let settled = false;
      const settle = (value: SshConnection | Error) => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const onAbort = () => {
        client.end();
        settle(new Error("connecting was aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      // Nagle's algorithm meets the server's delayed ACKs on every small SFTP
      // request: 44 ms per round trip on loopback with it, well under 1 ms without.
      client.once("connect", () => client.setNoDelay(true));
      client.once("ready", () => {
        client.removeAllListeners("error");
        settle(new SshConnection(target, client));
      });
      client.on("error", (err: Error) => {
        if (refusal !== null || isHostKeyRefusal(err)) {
          settle(
            new JobFailedError("runner_system_failure", refusal ?? err.message, { cause: err }),
          );
        } else {
          settle(err);
        }
        client.end();
      });
      client.once(
        "close",
        () => settle(new Error("the server closed the connection during login")),
      );
      try {
        client.connect(config);
      } catch (err) {
        if (/Unsupported algorithm/.test(String(err)) && options.preferFastCiphers !== false) {
          // This ssh2 build lacks one of FAST_CIPHERS: take its defaults.
          SshConnection.#attempt(target, { ...options, preferFastCiphers: false }).then(settle);
          return;
        }
        settle(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Null while connected; otherwise why the connection ended. */
  get lostReason(): string | null {
    return this.#lostReason;
  }

  /** Calls `notify` once when the connection ends (at once if it already did). Returns an unsubscribe. */
  onLost(notify: (reason: string) => void): () => void {
    if (this.#lostReason !== null) {
      notify(this.#lostReason);
      return () => {};
    }
    this.#onLost.add(notify);
    return () => this.#onLost.delete(notify);
  }

  #lostError(what: string): JobFailedError {
    return new JobFailedError(
      "runner_system_failure",
      `SSH connection to "${describeTarget(this.target)}" lost${what}: ${this.#lostReason}`,
    );
  }

  /**
   * Opens an exec channel running `command` through the login user's shell.
   * How the command ended is recorded from the moment the channel opens:
   * ssh2 emits "exit" while it parses the packets of one read, and a quick
   * command's exit status often comes in the same read as the reply to the
   * exec request (always when a loaded machine reads the socket late), before
   * an awaiting caller could attach a listener.
   */
  exec(command: string): Promise<RemoteCommand> {
    if (this.#lostReason !== null) return Promise.reject(this.#lostError(""));
    return new Promise((resolve, reject) => {
      this.#client.exec(command, (err, channel) => {
        if (err) {
          reject(
            this.#lostReason !== null ? this.#lostError("") : new JobFailedError(
              "runner_system_failure",
              `Cannot start a command on "${describeTarget(this.target)}": ${errorText(err)}${
                isSessionRefused(err) ? `: ${SESSION_REFUSED_HINT}` : ""
              }`,
              { cause: err },
            ),
          );
          return;
        }
        let exit: RemoteExit | null = null;
        channel.on("exit", (code: number | null, signalName?: string) => {
          exit = { code: typeof code === "number" ? code : null, signal: signalName ?? null };
        });
        resolve({
          channel,
          get exit() {
            return exit;
          },
        });
      });
    });
  }

  /**
   * Runs a short command and collects its output (at most 1 MiB of each
   * stream); for probes and kill commands, never for job scripts.
   */
  async execCollect(
    command: string,
    options: { timeoutMs?: number } = {},
  ): Promise<RemoteExit & { stdout: string; stderr: string }> {
    const remote = await this.exec(command);
    const channel = remote.channel;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    channel.on("data", (chunk: Buffer) => {
      if ((size += chunk.length) <= 1 << 20) out.push(chunk);
    });
    channel.stderr.on("data", (chunk: Buffer) => {
      if ((size += chunk.length) <= 1 << 20) err.push(chunk);
    });
    channel.end();
    await new Promise<void>((resolve) => {
      const id = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        channel.close();
        resolve();
      }, options.timeoutMs);
      channel.on("close", () => {
        clearTimeout(id);
        resolve();
      });
    });
    return {
      code: remote.exit?.code ?? null,
      signal: remote.exit?.signal ?? null,
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8"),
    };
  }

  /** The connection's SFTP session, opened on first use. */
  sftp(): Promise<SFTPWrapper> {
    if (this.#lostReason !== null) return Promise.reject(this.#lostError(""));
    this.#sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.#client.sftp((err, sftp) => {
        if (err) {
          this.#sftp = null;
          reject(
            new JobFailedError(
              "runner_system_failure",
              `Cannot start SFTP on "${
                describeTarget(this.target)
              }" (is its sftp subsystem enabled?): ${errorText(err)}`,
              { cause: err },
            ),
          );
        } else resolve(sftp);
      });
    });
    return this.#sftp;
  }

  /** The error a caller throws when its channel ended with the connection. */
  lostError(): JobFailedError {
    return this.#lostError("");
  }

  /** Closes the connection and every channel on it; safe to call twice. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#client.end();
  }
}
