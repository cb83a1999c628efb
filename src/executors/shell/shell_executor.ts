/**
 * Runs each stage on this host with `bash --login` (or `sh -l`), the script
 * fed on stdin, like the official shell executor. The runner's environment is
 * passed through; the job's variables are exported by the script itself.
 *
 * Each stage runs in its own session (so its own process group): aborting
 * sends SIGTERM to the whole group (the script's `trap 'exit 1' TERM` makes
 * the shell exit cleanly), then SIGKILL to the group after `killGraceMs`, so
 * background children such as `sleep 1000 &` die too.
 *
 * When the shell exits normally, processes it left in the background are not
 * killed (a job may start a daemon on purpose), but the stage waits for them
 * to close its stdout/stderr, as upstream does; redirect a daemon's output to
 * let the stage finish. Aborting ends that wait as well.
 */
import { isAbsolute, join } from "../../path/host_path.ts";
import type {
  Executor,
  ExecutorPaths,
  JobOutput,
  JobTerminalProcess,
  ShellName,
  StageScript,
} from "../executor.ts";
import { TerminalInput } from "../terminal_input.ts";
import type { OutputStream } from "../../job/output_stream.ts";
import { checkUserSwitch, suArgs } from "./user_switch.ts";
import { quoteShell } from "../../shells/shell_quote.ts";
import { isXtraceScript } from "../../shells/script_writer.ts";

export interface ShellExecutorOptions {
  /** Runner `shell`: "" (= bash), `bash` or `sh`. */
  shell: string;
  /** Runner `builds_dir`; "" = `<cwd>/builds`. Relative paths resolve against `cwd`. */
  buildsDir: string;
  /** Runner `cache_dir`; "" = `<cwd>/cache`. */
  cacheDir: string;
  /** The runner's working directory. */
  cwd: string;
  /** The runner process's environment, passed to every stage. */
  env: Record<string, string>;
  output: JobOutput;
  /**
   * Run stages as this user through `su` (the runner must be root); the
   * builds and cache directories are created and handed to that user.
   */
  user?: string;
  /** Time between SIGTERM and SIGKILL when a stage is aborted. Default 5000 ms. */
  killGraceMs?: number;
  /**
   * Told when a stage's process group starts and ends, so that someone outside
   * this process (the poller) can kill it if this process dies first.
   */
  onProcessGroup?: (pgid: number, isAlive: boolean) => void;
}

const encoder = new TextEncoder();

/**
 * First line of a bash stage's stdin. bash reads a script from a pipe one
 * byte per read(2) (a command might read stdin, so it must not read ahead):
 * a 5 KB stage is 5,000 system calls, ~8 ms of CPU. This line reads the rest
 * in one go and evaluates it: the same commands, exit codes and error
 * messages (`bash: …`). Not for a script under xtrace (CI_DEBUG_TRACE):
 * the eval would add a `+` to every line of the trace, which then differs
 * from the official runner's. Where /dev/stdin cannot be opened (a pipe the job
 * user does not own, after su) nothing was read: the line unsets its
 * variable and bash reads the script on, byte by byte as before. dash reads
 * its input in blocks anyway.
 */
const READ_AT_ONCE = "{ __runner_stage=$(</dev/stdin); } 2>/dev/null && " +
  '[ -n "$__runner_stage" ] && eval "unset __runner_stage; $__runner_stage"; ' +
  "unset __runner_stage\n";

export class ShellExecutor implements Executor {
  readonly shell: ShellName;
  readonly paths: ExecutorPaths;
  readonly isSharedEnvironment = true;
  readonly removeFiles?: (paths: readonly string[]) => Promise<void>;
  readonly #options: ShellExecutorOptions;
  readonly #running = new Set<Deno.ChildProcess>();
  readonly #terminals = new Set<JobTerminalProcess>();
  #owner: { uid: number; gid: number } | null = null;

  /** Throws a `TypeError` naming the shell when it is not bash or sh. */
  constructor(options: ShellExecutorOptions) {
    const shell = options.shell === "" ? "bash" : options.shell;
    if (shell !== "bash" && shell !== "sh") {
      throw new TypeError(
        `Shell "${options.shell}" is not supported by the shell executor: use "bash" or "sh"`,
      );
    }
    this.shell = shell;
    this.#options = options;
    // Another user's files are removed by that user's shell, never by us.
    if (!options.user) this.removeFiles = removeLocalFiles;
    const resolve = (dir: string, fallback: string) =>
      dir === "" ? join(options.cwd, fallback) : isAbsolute(dir) ? dir : join(options.cwd, dir);
    this.paths = {
      buildsDir: resolve(options.buildsDir, "builds"),
      cacheDir: resolve(options.cacheDir, "cache"),
      isBuildsDirShared: true,
    };
  }

  /** This host's name (the stages run here), or undefined without `--allow-sys=hostname`. */
  get localHostname(): string | undefined {
    try {
      return Deno.hostname();
    } catch {
      return undefined;
    }
  }

  /** The job user's ids once `prepare` switched to it; null when jobs run as the runner's user. */
  get owner(): { uid: number; gid: number } | null {
    return this.#owner;
  }

  #println(text: string): void {
    this.#options.output.write(encoder.encode(`\x1b[0K${text}\x1b[0;m\n`), "runner");
  }

  #command(): { command: string; args: string[] } {
    const login = this.shell === "bash" ? "--login" : "-l";
    if (this.#options.user) {
      // The official form: su -s /bin/bash <user> -c "bash -l".
      return { command: "su", args: suArgs(this.#options.user, this.shell, `${this.shell} -l`) };
    }
    return { command: this.shell, args: [login] };
  }

  /** Where stages start: the runner's directory, or the builds dir the switched user can enter. */
  #stageCwd(): string {
    return this.#options.user ? this.paths.buildsDir : this.#options.cwd;
  }

  /**
   * Creates the builds and cache directories and hands the ones root owns to
   * the job user, then checks through `su` that the user can write both.
   */
  async #prepareUserDirs(user: string, signal: AbortSignal): Promise<void> {
    const switched = await checkUserSwitch(user, {
      env: this.#options.env,
      cwd: this.#options.cwd,
      signal,
    });
    this.#owner = { uid: switched.uid, gid: switched.gid };
    const dirs = [this.paths.buildsDir, this.paths.cacheDir];
    for (const dir of dirs) {
      await Deno.mkdir(dir, { recursive: true });
      if ((await Deno.stat(dir)).uid === 0) await Deno.chown(dir, switched.uid, switched.gid);
    }
    const check = await new Deno.Command("su", {
      args: [
        ...suArgs(user, "sh", 'for d in "$0" "$@"; do test -w "$d" -a -x "$d" || echo "$d"; done'),
        ...dirs,
      ],
      cwd: this.#options.cwd,
      env: this.#options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal,
    }).output();
    const denied = new TextDecoder().decode(check.stdout).trim();
    if (!check.success || denied !== "") {
      throw new Error(
        `User "${user}" cannot write ${
          denied ? `"${denied.split("\n")[0]}"` : "the builds directory"
        }: ` +
          "give it the directory and search permission on its parents",
      );
    }
  }

  async prepare(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#options.user) {
      await this.#prepareUserDirs(this.#options.user, signal);
      // Fail here, once and clearly, rather than in every stage.
      await this.#probe(
        { command: "su", args: suArgs(this.#options.user, this.shell, ":") },
        signal,
      );
    }
    // Without a user switch the shell is not probed: that would be one more
    // process start per job. A missing shell fails the first stage, naming it
    // (`run`), as the official runner's exec error does.
    this.#println(`Using Shell (${this.shell}) executor...`);
  }

  async #probe(probe: { command: string; args: string[] }, signal: AbortSignal): Promise<void> {
    let result: Deno.CommandOutput;
    try {
      result = await new Deno.Command(probe.command, {
        args: probe.args,
        cwd: this.#options.cwd,
        env: this.#options.env,
        clearEnv: true,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        signal,
      }).output();
    } catch (e) {
      throw cannotStart(probe.command, e);
    }
    if (!result.success) {
      const detail = new TextDecoder().decode(result.stderr).trim();
      throw new Error(
        `Cannot start "${probe.command}": exit code ${result.code}${detail ? `: ${detail}` : ""}`,
      );
    }
  }

  async run(stage: StageScript, signal: AbortSignal): Promise<number> {
    const { command, args } = this.#command();
    const options = {
      cwd: this.#stageCwd(),
      env: this.#options.env,
      clearEnv: true,
    };
    let child: Deno.ChildProcess;
    let isViaSetsid: boolean;
    try {
      ({ child, isViaSetsid } = spawnInSession(command, args, {
        ...options,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }));
    } catch (e) {
      throw cannotStart(command, e);
    }
    this.#running.add(child);
    this.#options.onProcessGroup?.(child.pid, true);

    const pumps = Promise.all([
      this.#pump(child.stdout, "stdout"),
      this.#pump(child.stderr, "stderr"),
    ]);
    // Not under xtrace: its eval would add a `+` to every line of the debug trace.
    const isReadAtOnce = this.shell === "bash" && !isXtraceScript(stage.script);
    const feed = this.#feed(child, isReadAtOnce ? READ_AT_ONCE + stage.script : stage.script);
    let killed: Promise<void> | null = null;
    const onAbort = () => {
      killed ??= this.#kill(child);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });

    try {
      const status = await child.status;
      await feed;
      // Background processes may keep the pipes open; an abort ends the wait.
      await Promise.race([pumps, abortPromise(signal)]);
      if (killed !== null) {
        await killed;
        await withTimeout(pumps, 2000);
      }
      if (status.code === 127 && isViaSetsid) {
        try {
          checkFound(command, options);
        } catch (e) {
          throw cannotStart(command, e);
        }
      }
      // A shell killed by a signal: minus its number (Deno's code is 128 + n),
      // which the build reports as upstream does ("signal: killed", -1).
      return status.signal !== null ? -(status.code - 128) : status.code;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#running.delete(child);
      this.#options.onProcessGroup?.(child.pid, false);
    }
  }

  /**
   * The web terminal: the stages' login shell (`bash -l`, through su for
   * another user, as the official runner starts it) on a pseudo-terminal.
   * Deno cannot open a pty, so util-linux `script` holds one for the shell;
   * it runs in its own process group, which closing kills.
   */
  openTerminal(
    onOutput: (chunk: Uint8Array) => void | Promise<void>,
  ): Promise<JobTerminalProcess> {
    const { command, args } = this.#command();
    const line = [command, ...args].map(quoteShell).join(" ");
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("script", {
        args: ["-qfec", line, "/dev/null"],
        cwd: this.#stageCwd(),
        // A terminal needs a TERM; docker sets xterm for a tty exec, so do we.
        env: { TERM: "xterm", ...this.#options.env },
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? '"script" (util-linux) not found' : err;
      return Promise.reject(new Error(`Cannot start a terminal: ${why}`, { cause: err }));
    }
    this.#options.onProcessGroup?.(child.pid, true);
    const closing = Promise.withResolvers<void>();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      try {
        for await (const chunk of stream) {
          // Not reading while the client is behind blocks the shell on its terminal.
          const wait = onOutput(chunk);
          if (wait) await Promise.race([wait, closing.promise]);
        }
      } catch {
        // Cancelled: the terminal was closed.
      }
    };
    const writer = child.stdin.getWriter();
    const input = new TerminalInput((data) => writer.write(data));
    const closed = Promise.all([child.status, pump(child.stdout), pump(child.stderr)]).then(
      () => {
        this.#options.onProcessGroup?.(child.pid, false);
        this.#terminals.delete(terminal);
      },
    );
    const terminal: JobTerminalProcess = {
      write: (data) => input.write(data),
      close: async () => {
        closing.resolve();
        // The shell of a closed terminal gets a hangup, as when a terminal window closes.
        signalGroup(child.pid, "SIGHUP");
        await withTimeout(child.status, 2000);
        signalGroup(child.pid, "SIGKILL");
        await closed;
      },
      closed,
    };
    this.#terminals.add(terminal);
    return Promise.resolve(terminal);
  }

  async #feed(child: Deno.ChildProcess, script: string): Promise<void> {
    const writer = child.stdin.getWriter();
    try {
      await writer.write(encoder.encode(script));
      await writer.close();
    } catch {
      // The shell exited before reading everything (killed, or `exit` early).
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>, name: OutputStream): Promise<void> {
    try {
      for await (const chunk of stream) this.#options.output.write(chunk, name);
    } catch {
      // Stream cancelled after an abort.
    }
  }

  async #kill(child: Deno.ChildProcess): Promise<void> {
    signalGroup(child.pid, "SIGTERM");
    await withTimeout(child.status, this.#options.killGraceMs ?? 5000);
    // Always sweep the group: children may ignore SIGTERM or outlive the shell.
    signalGroup(child.pid, "SIGKILL");
    await child.status;
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.#terminals].map((terminal) => terminal.close()));
    await Promise.all([...this.#running].map((child) => this.#kill(child)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}

/**
 * How stages get their own session (so their own process group, to kill as
 * a whole). Deno's `detached` forks the whole executor process before the
 * exec, 11-17 ms of its CPU; util-linux `setsid` is started the cheap way
 * (posix_spawn) and execs the shell in a new session, ~2 ms. `setsid` that
 * cannot find the shell says so on stderr and exits 127, as a script does
 * for a command it cannot find: after a 127, the shell is looked up once
 * (Deno's own spawn says NotFound) so that a missing shell still fails the
 * stage with "not found". Where `setsid` is missing, `detached` it is.
 */
const foundCommands = new Set<string>();
let hasSetsid = Deno.build.os === "linux";

/** Starts `command` in a new session (see above); throws what Deno.Command throws. */
function spawnInSession(
  command: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args" | "detached">,
): { child: Deno.ChildProcess; isViaSetsid: boolean } {
  if (hasSetsid) {
    try {
      const child = new Deno.Command("setsid", { ...options, args: [command, ...args] }).spawn();
      return { child, isViaSetsid: true };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      hasSetsid = false;
    }
  }
  return {
    child: new Deno.Command(command, { ...options, args, detached: true }).spawn(),
    isViaSetsid: false,
  };
}

/**
 * Throws NotFound when `command` is not in the PATH of `options.env`: it is
 * started once as `<command> -c :` (the shells take that), then known.
 */
function checkFound(command: string, options: Omit<Deno.CommandOptions, "args">): void {
  const key = `${options.env?.["PATH"] ?? ""}\0${command}`;
  if (foundCommands.has(key)) return;
  const probe = new Deno.Command(command, {
    ...options,
    args: ["-c", ":"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  void probe.status.catch(() => {});
  foundCommands.add(key);
}

/**
 * `rm -f` of each path: a missing one is no error. Synchronous: a few small
 * files in the job's temporary directory, a system call each, where an
 * asynchronous remove per file would wake (or start) a thread of Deno's pool
 * for each, at the end of every job.
 */
function removeLocalFiles(paths: readonly string[]): Promise<void> {
  // Every path is tried; the first failure is the answer.
  let failure: unknown = null;
  for (const path of paths) {
    try {
      Deno.removeSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) failure ??= e;
    }
  }
  return failure === null ? Promise.resolve() : Promise.reject(failure);
}

function cannotStart(command: string, cause: unknown): Error {
  const why = cause instanceof Deno.errors.NotFound ? "not found in PATH" : String(cause);
  return new Error(`Cannot start "${command}": ${why}`, { cause });
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Waits for `promise`, at most `ms`; the timer never outlives the wait. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let id: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (id = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(id);
  }
}
