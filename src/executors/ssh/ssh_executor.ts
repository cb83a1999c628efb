/**
 * The ssh executor: every stage runs on a remote host over one SSH connection
 * (ssh2), the way the official runner runs it: an exec channel starts a login
 * shell (`bash --login`, or `sh -l`), the stage script is written to the
 * channel's stdin, stdout and stderr are streamed to the job output, and the
 * exit status comes back over the channel. Artifacts and cache move over SFTP
 * on the same connection (`files()`), so the remote host needs only sshd, a
 * shell and git.
 *
 * - `prepare` connects (retries, keepalive, host key check, see
 *   ssh_connection.ts), opens SFTP, resolves `builds_dir`/`cache_dir`
 *   against the remote home directory (default `~/builds`, `~/cache`) and
 *   checks that the shell starts.
 * - Cancel and timeout (the `run` signal): sshd starts each exec command as a
 *   session leader, so its pid is the process group of the stage; the command
 *   reports that pid on stderr (a marker line the executor strips). Aborting
 *   opens a second channel that sends SIGTERM to the group, waits up to
 *   `killGraceMs`, then SIGKILLs what is left, so `sleep 1000 &` dies too.
 *   Closing a channel alone would not do: sshd leaves a pty-less command
 *   running when its channel closes.
 * - Losing the connection mid-stage (host down, sshd killed, keepalive
 *   unanswered) rejects `run` with a runner_system_failure naming the host.
 * - `cleanup` kills running stages, then closes SFTP and the connection; it may
 *   run twice.
 */
import { Buffer } from "node:buffer";
import type { ClientChannel } from "ssh2";
import type { SshConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import { joinPath } from "../../shells/script_writer.ts";
import type { Executor, ExecutorPaths, JobOutput, ShellName, StageScript } from "../executor.ts";
import { SftpFiles } from "./sftp_files.ts";
import {
  describeExit,
  describeTarget,
  SshConnection,
  type SshConnectOptions,
  type SshTarget,
  sshTarget,
} from "./ssh_connection.ts";

/** Exit code a stage resolves with when it was aborted and no status came back: SIGKILL's. */
export const KILLED_EXIT_CODE = 137;

export interface SshExecutorOptions {
  /** `[runners.ssh]`. */
  config: SshConfig;
  /** Runner `shell`: "" (= bash), `bash` or `sh`. */
  shell: string;
  /** Runner `builds_dir`; "" = `builds`. Relative paths are under the remote home. */
  buildsDir: string;
  /** Runner `cache_dir`; "" = `cache`. */
  cacheDir: string;
  output: JobOutput;
  log: Logger;
  /** The runner user's home, for the default `~/.ssh/known_hosts` and `~/` in paths. */
  homeDir: string;
  jobId?: number;
  /** Decrypts an encrypted identity_file; default: `[runners.ssh] password`. */
  identityPassphrase?: string;
  /** Time between SIGTERM and SIGKILL of an aborted stage. Default 5000 ms. */
  killGraceMs?: number;
  /** Connection tuning (attempts, keepalive, timeouts); tests shorten them. */
  connect?: Omit<SshConnectOptions, "signal" | "onRetry">;
}

const encoder = new TextEncoder();
/** Bytes of stderr held back while looking for the pid marker. */
const MARKER_SEARCH_LIMIT = 64 * 1024;
/** How long an abort waits for the stage's pid before falling back to channel signals. */
const PID_WAIT_MS = 5000;

const SIGNAL_NUMBERS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  ABRT: 6,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
};

interface RunningStage {
  channel: ClientChannel;
  /** The remote process group, once the marker arrived; null when it never will. */
  pid: Promise<number | null>;
  /** Resolves when the channel closed. */
  closed: Promise<void>;
  kill: Promise<void> | null;
}

export class SshExecutor implements Executor {
  readonly shell: ShellName;
  paths: ExecutorPaths;
  readonly isSharedEnvironment = true;
  readonly target: SshTarget;
  readonly #o: SshExecutorOptions;
  readonly #log: Logger;
  #connection: SshConnection | null = null;
  #files: SftpFiles | null = null;
  /** Why SFTP is not available (no sftp subsystem); jobs that move no files run anyway. */
  #filesError: JobFailedError | null = null;
  readonly #running = new Set<RunningStage>();
  #isCleanedUp = false;

  /** Throws a TypeError for a shell other than bash/sh, a JobFailedError for a bad port. */
  constructor(options: SshExecutorOptions) {
    const shell = options.shell === "" ? "bash" : options.shell;
    if (shell !== "bash" && shell !== "sh") {
      throw new TypeError(
        `Shell "${options.shell}" is not supported by the ssh executor: use "bash" or "sh"`,
      );
    }
    this.shell = shell;
    this.#o = options;
    this.target = sshTarget(options.config, {
      homeDir: options.homeDir,
      ...(options.identityPassphrase !== undefined
        ? { identityPassphrase: options.identityPassphrase }
        : {}),
    });
    this.#log = options.log.child({
      [F.EXECUTOR]: "ssh",
      ...(options.jobId !== undefined ? { [F.JOB_ID]: options.jobId } : {}),
    });
    this.paths = {
      buildsDir: options.buildsDir || "builds",
      cacheDir: options.cacheDir || "cache",
      isBuildsDirShared: true,
    };
  }

  #println(text: string): void {
    this.#o.output.write(encoder.encode(`${text}\n`), "runner");
  }

  /** The connection, for the docker+ssh executor and tests; null before prepare. */
  get connection(): SshConnection | null {
    return this.#connection;
  }

  /** SFTP access to the remote host (artifacts, cache); valid after `prepare`. */
  files(): SftpFiles {
    if (this.#filesError) throw this.#filesError;
    if (!this.#files) throw new Error("The ssh executor is not prepared: call prepare first");
    return this.#files;
  }

  async prepare(signal: AbortSignal): Promise<void> {
    this.#println("Using SSH executor...");
    const connection = await SshConnection.open(this.target, {
      ...this.#o.connect,
      signal,
      onRetry: (attempt, reason) => {
        this.#println(
          `WARNING: SSH connection attempt ${attempt} to ${this.target.host} failed: ${reason}`,
        );
        this.#log.warn("SSH connection attempt failed", { [F.ERROR]: reason });
      },
    });
    this.#connection = connection;
    if (this.#isCleanedUp) {
      connection.close();
      throw new Error("The ssh executor was cleaned up while connecting");
    }
    // The login directory is the remote home: relative builds/cache dirs live there.
    // (A marker, since the user's rc files may print too.)
    const probe = await connection.execCollect(
      `exec ${this.shell} -c 'printf "\\nrunner-home=%s\\n" "$PWD"'`,
      { timeoutMs: 60_000 },
    );
    if (probe.code !== 0) {
      // 127: the shell is not on the host (exec: bash: not found).
      const hint = probe.code === 127 && this.shell === "bash"
        ? ` (a host without bash needs shell = "sh" in [[runners]])`
        : "";
      throw new JobFailedError(
        "runner_system_failure",
        `Cannot start "${this.shell}" on "${this.target.host}": ${describeExit(probe)}${
          probe.stderr.trim() ? `: ${probe.stderr.trim()}` : ""
        }${hint}`,
      );
    }
    const home = /\nrunner-home=(.*)\n/.exec(probe.stdout)?.[1] || "/";
    const resolve = (dir: string) =>
      dir.startsWith("/") ? dir : joinPath(home, dir.replace(/^~\//, ""));
    this.paths = {
      buildsDir: resolve(this.paths.buildsDir),
      cacheDir: resolve(this.paths.cacheDir),
      isBuildsDirShared: true,
    };
    // Artifacts and cache move over SFTP. A host without the sftp subsystem
    // still runs jobs that move no files; one that needs them fails clearly.
    try {
      this.#files = new SftpFiles(await connection.sftp(), describeTarget(this.target));
    } catch (err) {
      if (!(err instanceof JobFailedError)) throw err;
      this.#filesError = new JobFailedError(
        "runner_system_failure",
        `This job moves files (artifacts, cache or dependencies), which needs SFTP on "${
          describeTarget(this.target)
        }": ${err.message}`,
        { cause: err },
      );
      this.#log.warn("SFTP is not available; jobs with artifacts or cache will fail", {
        [F.ERROR]: err.message,
      });
    }
  }

  #loginShell(): string {
    return this.shell === "bash" ? "bash --login" : "sh -l";
  }

  async run(stage: StageScript, signal: AbortSignal): Promise<number> {
    const connection = this.#connection;
    if (!connection) throw new Error("The ssh executor is not prepared: call prepare first");
    if (signal.aborted) return KILLED_EXIT_CODE;
    const nonce = crypto.randomUUID().replaceAll("-", "");
    const marker = `runner-stage-pid-${nonce}=`;
    // The user's shell runs this as sshd's session leader: `$$` is the stage's
    // process group, and `exec` keeps it for the login shell.
    const command = `printf '%s%s\\n' '${marker}' "$$" >&2; exec ${this.#loginShell()}`;
    const remote = await connection.exec(command);
    const channel = remote.channel;
    channel.on("data", (chunk: Buffer) => this.#o.output.write(new Uint8Array(chunk), "stdout"));
    const pid = this.#watchStderr(channel, marker);
    const closed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
    const stage_: RunningStage = { channel, pid, closed, kill: null };
    this.#running.add(stage_);

    let killFinished = () => {};
    const killed = new Promise<void>((resolve) => (killFinished = resolve));
    const onAbort = () => {
      stage_.kill ??= this.#kill(connection, stage_).finally(killFinished);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      channel.end(Buffer.from(stage.script, "utf8"));
      // sshd holds a session channel open while anything of it runs: after an
      // abort, the kill's own bounded waits decide when to stop waiting.
      await Promise.race([closed, killed]);
      if (stage_.kill) await stage_.kill;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#running.delete(stage_);
    }
    const status = remote.exit;
    if (status?.code !== null && status?.code !== undefined) return status.code;
    if (status?.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
    if (stage_.kill) return KILLED_EXIT_CODE;
    if (connection.lostReason !== null) throw connection.lostError();
    throw new JobFailedError(
      "runner_system_failure",
      `The ${stage.stage} stage on "${this.target.host}" ended without an exit status`,
    );
  }

  /** Forwards stderr to the output, minus the pid marker line; resolves with the pid. */
  #watchStderr(channel: ClientChannel, marker: string): Promise<number | null> {
    return new Promise((resolve) => {
      let held = Buffer.alloc(0);
      let isSearching = true;
      const needle = Buffer.from(marker);
      const stop = (pid: number | null, rest: Buffer) => {
        isSearching = false;
        if (rest.length > 0) this.#o.output.write(new Uint8Array(rest), "stderr");
        resolve(pid);
      };
      channel.stderr.on("data", (chunk: Buffer) => {
        if (!isSearching) {
          this.#o.output.write(new Uint8Array(chunk), "stderr");
          return;
        }
        held = Buffer.concat([held, chunk]);
        const at = held.indexOf(needle);
        if (at >= 0) {
          const end = held.indexOf(0x0a, at);
          if (end < 0) return; // the rest of the line is still coming
          const pid = Number(held.subarray(at + needle.length, end).toString("latin1"));
          if (at > 0) this.#o.output.write(new Uint8Array(held.subarray(0, at)), "stderr");
          stop(Number.isInteger(pid) && pid > 1 ? pid : null, held.subarray(end + 1));
        } else if (held.length > MARKER_SEARCH_LIMIT) {
          // A login shell that prints this much before running our command: give up on the pid.
          stop(null, held);
        }
      });
      channel.once("close", () => {
        if (isSearching) stop(null, held);
      });
    });
  }

  async #kill(connection: SshConnection, stage: RunningStage): Promise<void> {
    const grace = Math.max(0, this.#o.killGraceMs ?? 5000);
    const pid = await within(stage.pid, PID_WAIT_MS, null);
    /** Why the kill command did not run, for the warning; null when it ran (or was not needed). */
    let killFailure: string | null = null;
    if (pid !== null && connection.lostReason === null) {
      // dash's `kill` takes `-PGID` but not `-- -PGID`; bash and busybox take both.
      const seconds = Math.ceil(grace / 1000);
      const script = [
        `kill -TERM -${pid} 2>/dev/null || exit 0`,
        "i=0",
        `while [ $i -lt ${seconds} ]; do kill -0 -${pid} 2>/dev/null || exit 0; sleep 1; i=$((i+1)); done`,
        `kill -KILL -${pid} 2>/dev/null`,
        "exit 0",
      ].join("\n");
      try {
        await connection.execCollect(`sh -c '${script}'`, { timeoutMs: grace + 30_000 });
      } catch (err) {
        killFailure = err instanceof Error ? err.message : String(err);
        this.#log.warn("Cannot kill an aborted stage on the remote host", {
          [F.ERROR]: killFailure,
        });
      }
    }
    if ((pid === null || killFailure !== null) && connection.lostReason === null) {
      // No pid, or no session for the kill command: signal the session over the
      // channel (OpenSSH 7.9+ delivers it to the shell, not to its children).
      stage.channel.signal("TERM");
      await within(stage.closed, grace, undefined);
      stage.channel.signal("KILL");
    }
    // A process that left the group may still hold the channel's pipes open.
    await within(stage.closed, 10_000, undefined);
    stage.channel.close();
    const isClosed = await within(stage.closed.then(() => true), 5000, false);
    if (!isClosed || killFailure !== null) {
      this.#println(
        `WARNING: processes of the aborted stage may still run on ${this.target.host}: ${
          killFailure === null
            ? "they survived SIGKILL of the stage's process group"
            : `the command to kill its process group could not start (${killFailure}); only its shell was signalled`
        }`,
      );
      this.#log.warn("Aborted stage did not end on the remote host", { [F.PID]: pid ?? "unknown" });
    }
  }

  async cleanup(): Promise<void> {
    this.#isCleanedUp = true;
    const connection = this.#connection;
    if (connection) {
      await Promise.all(
        [...this.#running].map((stage) => stage.kill ??= this.#kill(connection, stage)),
      );
      connection.close();
    }
    this.#files = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}

/** `promise`'s value, or `fallback` after `ms`; the timer never outlives the wait. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let id: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => (id = setTimeout(() => resolve(fallback), ms))),
    ]);
  } finally {
    clearTimeout(id);
  }
}
