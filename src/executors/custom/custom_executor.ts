/**
 * The custom executor: runs jobs in environments the runner does not know
 * (LXD, libvirt, chroots, HPC schedulers) through driver programs, speaking
 * the official protocol so existing drivers work unchanged
 * (docs/executors/custom.md):
 *
 * 1. `prepare`: `config_exec` (optional; its JSON stdout overrides builds_dir,
 *    cache_dir, builds_dir_is_shared, hostname, shell, driver info and
 *    job_env), then prints `Using Custom executor…`, then `prepare_exec`
 *    (optional; output to the job log).
 * 2. `run`: `run_exec <run_args…> <script path> <stage name>` once per stage,
 *    output to the job log. `step_script` is passed as `build_script`, with
 *    the official runner's warning, since 19.x still does so and drivers match
 *    on it.
 * 3. `cleanup`: `cleanup_exec` (optional; output to the runner log, not the
 *    job log), then the per-job temp dir is removed. Runs once per prepare
 *    attempt: a failed `prepare` cleans up before it rejects (as upstream
 *    cleans up after each failed attempt), and a second `cleanup` does nothing.
 *
 * Every driver call gets the runner's environment plus TMPDIR (the per-job
 * temp dir, also its working directory), BUILD_FAILURE_EXIT_CODE=1,
 * SYSTEM_FAILURE_EXIT_CODE=2, BUILD_EXIT_CODE_FILE, JOB_RESPONSE_FILE, then
 * config_exec's job_env, then each job variable as CUSTOM_ENV_<key> (later
 * entries win). Exit codes: 0 is success; BUILD_FAILURE_EXIT_CODE is the
 * job's failure (script_failure) with the code from BUILD_EXIT_CODE_FILE when
 * the driver wrote one; anything else is a runner_system_failure.
 */
import { isAbsolute, join } from "node:path";
import type { CustomConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import type { JobSpec, JobVariable } from "../../job/job_spec.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import type {
  Executor,
  ExecutorPaths,
  JobOutput,
  PrepareOptions,
  ShellName,
  StageScript,
} from "../executor.ts";
import { type ConfigExecOutput, parseConfigExecOutput } from "./config_exec_output.ts";
import { type DriverExit, runDriver } from "./driver_process.ts";
import { jobResponseJson, jobServicesJson } from "./job_response.ts";

/** The exit code a driver uses to say the job failed (script_failure). */
export const BUILD_FAILURE_EXIT_CODE = 1;
/** The exit code a driver uses to say the environment broke (runner_system_failure). */
export const SYSTEM_FAILURE_EXIT_CODE = 2;

/** Official defaults, used when a timeout is 0 or negative. */
const DEFAULT_EXEC_TIMEOUT_S = 3600;
const DEFAULT_GRACEFUL_KILL_TIMEOUT_S = 600;
const DEFAULT_FORCE_KILL_TIMEOUT_S = 10;
/** More than this on config_exec's stdout is not a config. */
const MAX_CONFIG_OUTPUT_BYTES = 1 << 20;

export interface CustomExecutorOptions {
  /** `[runners.custom]`. */
  config: CustomConfig;
  /** Runner `shell`: "" = bash. config_exec's `shell` wins. */
  shell: string;
  /** Runner `builds_dir` / `cache_dir`, as the driver's environment sees them; "" = unset. */
  buildsDir: string;
  cacheDir: string;
  /** The runner's working directory: relative driver paths resolve against it. */
  cwd: string;
  /** The runner process's environment, given to every driver call. */
  env: Record<string, string>;
  /** Where the per-job temp dir is made (scripts, JOB_RESPONSE_FILE, the drivers' TMPDIR). */
  tempDir: string;
  job: JobSpec;
  /** The payload as GitLab sent it; when given it is written to JOB_RESPONSE_FILE as is. */
  jobPayload?: unknown;
  /**
   * The job's variables, exported to drivers as CUSTOM_ENV_<key> until a
   * stage brings a newer list (see {@link CustomStageScript}).
   */
  variables: readonly JobVariable[];
  output: JobOutput;
  /** Runner log: cleanup_exec output and warnings. */
  log: Logger;
  /**
   * Told when a driver call's process group starts and ends, so that the
   * poller can kill it if this process dies first (drivers run in their own
   * session, out of reach of this process's group).
   */
  onProcessGroup?: (pgid: number, isAlive: boolean) => void;
}

/**
 * A stage as runBuild gives it, optionally with the job's current variable
 * list (CI_JOB_STATUS changes before after_script): drivers see it as
 * CUSTOM_ENV_*, and later calls (cleanup_exec) keep using it.
 */
export interface CustomStageScript extends StageScript {
  variables?: readonly JobVariable[];
}

/** One prepare attempt's resources, released by cleanup. */
interface Attempt {
  tempDir: string;
  jobResponseFile: string;
  buildExitCodeFile: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class CustomExecutor implements Executor {
  readonly isSharedEnvironment = true;
  readonly #o: CustomExecutorOptions;
  #shell: ShellName = "bash";
  #paths: ExecutorPaths;
  #hostname = "";
  #jobEnv: Record<string, string> = {};
  #variables: readonly JobVariable[];
  #attempt: Attempt | null = null;
  #cleaning: Promise<void> | null = null;
  /** Aborted by cleanup: stops driver calls still running. */
  #stopAll = new AbortController();

  constructor(options: CustomExecutorOptions) {
    this.#o = options;
    this.#variables = options.variables;
    this.#paths = {
      buildsDir: options.buildsDir,
      cacheDir: options.cacheDir,
      isBuildsDirShared: false,
    };
  }

  get shell(): ShellName {
    return this.#shell;
  }

  get paths(): ExecutorPaths {
    return this.#paths;
  }

  /** config_exec's `hostname` ("" when it set none), for `Running on … via <hostname>`. */
  get hostname(): string {
    return this.#hostname;
  }

  async prepare(signal: AbortSignal, options: PrepareOptions = {}): Promise<void> {
    signal.throwIfAborted();
    const c = this.#o.config;
    if (c.runExec === "") {
      throw new JobFailedError(
        "runner_configuration_error",
        "custom executor is missing run_exec: set run_exec in [runners.custom]",
      );
    }
    // A previous attempt not cleaned up yet (prepare called again) is released first.
    if (this.#attempt !== null) await this.cleanup();
    if (this.#cleaning !== null) await this.#cleaning;
    this.#cleaning = null;
    this.#stopAll = new AbortController();
    this.#paths = {
      buildsDir: this.#o.buildsDir,
      cacheDir: this.#o.cacheDir,
      isBuildsDirShared: false,
    };
    this.#hostname = "";
    this.#jobEnv = {};

    const tempDir = await Deno.makeTempDir({ dir: this.#o.tempDir, prefix: "custom-executor" });
    this.#attempt = {
      tempDir,
      jobResponseFile: join(tempDir, "response.json"),
      buildExitCodeFile: join(tempDir, "build_exit_code"),
    };
    try {
      await this.#prepareAttempt(this.#attempt, signal, options.variables);
    } catch (e) {
      // Upstream runs Cleanup after every failed Prepare, before the retry.
      await this.cleanup();
      throw e;
    }
  }

  async #prepareAttempt(
    attempt: Attempt,
    signal: AbortSignal,
    variablesFor: PrepareOptions["variables"],
  ): Promise<void> {
    const c = this.#o.config;
    // As the official runner's GetAllVariables: the predefined variables too (CI_CONCURRENT_ID,
    // CI_RUNNER_SHORT_TOKEN, …), for the paths as they stand at each driver call.
    if (variablesFor) this.#variables = variablesFor(this.#paths);
    const payload = this.#o.jobPayload ?? jobResponseJson(this.#o.job);
    await Deno.writeTextFile(attempt.jobResponseFile, `${JSON.stringify(payload)}\n`, {
      mode: 0o600,
    });

    let driver: ConfigExecOutput["driver"];
    if (c.configExec !== "") {
      const config = await this.#configExec(attempt, signal);
      driver = config.driver;
      if (config.unknownKeys !== undefined) {
        const keys = config.unknownKeys.map((key) => JSON.stringify(key)).join(", ");
        this.#warn(
          `config_exec "${c.configExec}" printed keys Runner does not know, ignored: ${keys} ` +
            `(known: builds_dir, cache_dir, builds_dir_is_shared, hostname, driver.name, ` +
            `driver.version, job_env, shell)`,
        );
      }
      if (config.buildsDir !== undefined) this.#paths.buildsDir = config.buildsDir;
      if (config.cacheDir !== undefined) this.#paths.cacheDir = config.cacheDir;
      if (config.isBuildsDirShared !== undefined) {
        this.#paths.isBuildsDirShared = config.isBuildsDirShared;
      }
      if (config.hostname !== undefined) this.#hostname = config.hostname;
      if (config.jobEnv !== undefined) this.#jobEnv = config.jobEnv;
      this.#shell = resolveShell(config.shell ?? this.#o.shell, config.shell !== undefined);
      if (variablesFor) this.#variables = variablesFor(this.#paths);
    } else {
      this.#shell = resolveShell(this.#o.shell, false);
    }

    const usage = "Using Custom executor";
    if (driver?.name === undefined) this.#println(`${usage}...`);
    else if (driver.version === undefined) this.#println(`${usage} with driver ${driver.name}...`);
    else this.#println(`${usage} with driver ${driver.name} ${driver.version}...`);

    if (c.prepareExec === "") return;
    const exit = await this.#call(attempt, {
      name: "prepare_exec",
      program: c.prepareExec,
      args: c.prepareArgs,
      // As upstream: the driver's own steps are the runner's streams (00O/00E).
      stdout: (chunk) => this.#o.output.write(chunk, "runner"),
      stderr: (chunk) => this.#o.output.write(chunk, "runner_stderr"),
      signal,
      timeoutS: c.prepareExecTimeout,
      timeoutKey: "prepare_exec_timeout",
    });
    await this.#interpret("prepare_exec", c.prepareExec, exit, attempt, true);
  }

  async #configExec(attempt: Attempt, signal: AbortSignal): Promise<ConfigExecOutput> {
    const c = this.#o.config;
    const chunks: Uint8Array[] = [];
    let size = 0;
    // Output past the limit is no config: stop the driver then, not at config_exec_timeout.
    const tooLarge = new AbortController();
    const sizeError = () =>
      new Error(
        `config_exec "${c.configExec}" printed more than ${MAX_CONFIG_OUTPUT_BYTES} bytes; ` +
          `its output must be a JSON object of at most ${MAX_CONFIG_OUTPUT_BYTES} bytes`,
      );
    let exit: DriverExit;
    try {
      exit = await this.#call(attempt, {
        name: "config_exec",
        program: c.configExec,
        args: c.configArgs,
        stdout: (chunk) => {
          size += chunk.length;
          if (size <= MAX_CONFIG_OUTPUT_BYTES) chunks.push(chunk.slice());
          else tooLarge.abort();
        },
        // As upstream: the driver's diagnostics belong in the job log.
        stderr: (chunk) => this.#o.output.write(chunk, "runner_stderr"),
        signal: AbortSignal.any([signal, tooLarge.signal]),
        timeoutS: c.configExecTimeout,
        timeoutKey: "config_exec_timeout",
      });
    } catch (e) {
      if (tooLarge.signal.aborted && !signal.aborted) throw sizeError();
      throw e;
    }
    if (tooLarge.signal.aborted && !signal.aborted) throw sizeError();
    await this.#interpret("config_exec", c.configExec, exit, attempt, true);
    const text = decoder.decode(concat(chunks));
    try {
      return parseConfigExecOutput(text);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      throw new Error(`Cannot use the output of config_exec "${c.configExec}": ${detail}`, {
        cause: e,
      });
    }
  }

  async run(stage: CustomStageScript, signal: AbortSignal): Promise<number> {
    const attempt = this.#attempt;
    if (attempt === null) {
      throw new Error(`Cannot run stage "${stage.stage}": the custom executor is not prepared`);
    }
    if (stage.variables !== undefined) this.#variables = stage.variables;
    // A signal aborted before the call: nothing was started, nothing to kill.
    if (signal.aborted) return 128 + 15;

    const c = this.#o.config;
    // Upstream scripts start with a shebang: drivers may exec them directly.
    const script = stage.script.startsWith("#!")
      ? stage.script
      : `#!/usr/bin/env ${this.#shell}\n\n${stage.script}`;
    let scriptDir: string;
    try {
      scriptDir = await Deno.makeTempDir({ dir: attempt.tempDir, prefix: "script" });
      await Deno.writeTextFile(join(scriptDir, "script"), script, { mode: 0o700 });
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? "it is gone (did a driver remove its TMPDIR?)"
        : errorText(e);
      throw new Error(
        `Cannot write the script of stage "${stage.stage}" into the job's temporary directory ` +
          `"${attempt.tempDir}" (the drivers' TMPDIR): ${why}`,
        { cause: e },
      );
    }
    const scriptFile = join(scriptDir, "script");

    let stageName = stage.stage;
    if (stageName === "step_script") {
      // TODO(upstream epic 6112): the official runner still renames the stage in 19.x.
      this.#warn(
        "Starting with version 17.0 the 'build_script' stage will be replaced with " +
          "'step_script': https://gitlab.com/groups/gitlab-org/-/epics/6112",
      );
      stageName = "build_script";
    }

    try {
      const exit = await this.#call(attempt, {
        name: "run_exec",
        program: c.runExec,
        args: [...c.runArgs, scriptFile, stageName],
        stdout: (chunk) => this.#o.output.write(chunk, "stdout"),
        stderr: (chunk) => this.#o.output.write(chunk, "stderr"),
        signal,
      });
      if (exit.stoppedBy !== null) {
        // Stopped on request: report how it ended, as the contract asks.
        return exit.code === 0 ? 0 : exit.code;
      }
      return await this.#interpret(`run_exec`, c.runExec, exit, attempt, false);
    } finally {
      await Deno.remove(scriptDir, { recursive: true }).catch(() => {});
    }
  }

  cleanup(): Promise<void> {
    if (this.#cleaning === null) this.#cleaning = this.#cleanup();
    return this.#cleaning;
  }

  async #cleanup(): Promise<void> {
    const attempt = this.#attempt;
    this.#attempt = null;
    // Driver calls still running (a stage nobody aborted) must not outlive the job.
    this.#stopAll.abort();
    if (attempt === null) return;
    const c = this.#o.config;
    try {
      if (c.cleanupExec === "") return;
      const log = this.#o.log;
      const lines = (level: "debug" | "warn", std: string) =>
        lineSink((line) =>
          // "cleanup_std" is the official runner's field for these lines.
          log[level](line, { [F.COMMAND]: "cleanup_exec", "cleanup_std": std })
        );
      const out = lines("debug", "out");
      const err = lines("warn", "err");
      // A driver may have removed its TMPDIR; cleanup_exec still gets a working directory.
      await Deno.mkdir(attempt.tempDir, { recursive: true, mode: 0o700 });
      let exit: DriverExit;
      try {
        exit = await this.#call(attempt, {
          name: "cleanup_exec",
          program: c.cleanupExec,
          args: c.cleanupArgs,
          stdout: out.write,
          stderr: err.write,
          // Cleanup must run even when the job was cancelled: only its own deadline stops it.
          signal: new AbortController().signal,
          timeoutS: c.cleanupExecTimeout,
          timeoutKey: "cleanup_exec_timeout",
          ignoreStopAll: true,
        });
      } finally {
        out.flush();
        err.flush();
      }
      const code = await this.#interpret("cleanup_exec", c.cleanupExec, exit, attempt, false);
      if (code !== 0) {
        // BUILD_FAILURE_EXIT_CODE: upstream's cleanup fails with its exit status all the same.
        throw new Error(
          `cleanup_exec "${c.cleanupExec}" exited with BUILD_FAILURE_EXIT_CODE (exit status ${code})`,
        );
      }
    } catch (e) {
      this.#o.log.warn("Cleanup script failed", {
        [F.ERROR]: e instanceof Error ? e.message : String(e),
      });
    } finally {
      await Deno.remove(attempt.tempDir, { recursive: true }).catch(() => {});
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }

  async #call(
    attempt: Attempt,
    call: {
      name: string;
      program: string;
      args: readonly string[];
      stdout: (chunk: Uint8Array) => void;
      stderr: (chunk: Uint8Array) => void;
      signal: AbortSignal;
      timeoutS?: number;
      timeoutKey?: string;
      ignoreStopAll?: boolean;
    },
  ): Promise<DriverExit> {
    const c = this.#o.config;
    await Deno.remove(attempt.buildExitCodeFile).catch(() => {});
    const timeoutS = call.timeoutS === undefined
      ? undefined
      : call.timeoutS > 0
      ? call.timeoutS
      : DEFAULT_EXEC_TIMEOUT_S;
    const signal = call.ignoreStopAll
      ? call.signal
      : AbortSignal.any([call.signal, this.#stopAll.signal]);
    const exit = await runDriver({
      name: call.name,
      program: this.#programPath(call.program),
      args: call.args,
      cwd: attempt.tempDir,
      env: this.#environment(attempt),
      stdout: call.stdout,
      stderr: call.stderr,
      signal,
      ...(timeoutS === undefined ? {} : { timeoutMs: timeoutS * 1000 }),
      gracefulKillMs: seconds(c.gracefulKillTimeout, DEFAULT_GRACEFUL_KILL_TIMEOUT_S) * 1000,
      forceKillMs: seconds(c.forceKillTimeout, DEFAULT_FORCE_KILL_TIMEOUT_S) * 1000,
      ...(this.#o.onProcessGroup ? { onProcessGroup: this.#o.onProcessGroup } : {}),
    });
    const dormant = exit.isDormant
      ? `: it did not die within force_kill_timeout, likely the process is dormant`
      : "";
    if (exit.stoppedBy === "timeout" && exit.isOutputHeld) {
      throw new Error(
        `${call.name} "${call.program}" exited, but processes it left in the background kept ` +
          `its stdout or stderr open past ${call.timeoutKey} (${timeoutS}s) and were killed: ` +
          `redirect their output (for example > /dev/null 2>&1)`,
      );
    }
    if (exit.stoppedBy === "timeout") {
      throw new Error(
        `${call.name} "${call.program}" did not finish within ${call.timeoutKey} ` +
          `(${timeoutS}s) and was killed${dormant}`,
      );
    }
    if (exit.stoppedBy === "abort" && call.name !== "run_exec") {
      throw new Error(
        `${call.name} "${call.program}" was stopped: the job was cancelled${dormant}`,
      );
    }
    return exit;
  }

  /**
   * Maps a driver's exit code: 0 → 0; BUILD_FAILURE_EXIT_CODE → the code in
   * BUILD_EXIT_CODE_FILE (default 1), thrown as script_failure when `isPrepare`;
   * SYSTEM_FAILURE_EXIT_CODE or anything else → an Error (runner_system_failure).
   */
  async #interpret(
    name: string,
    program: string,
    exit: DriverExit,
    attempt: Attempt,
    isPrepare: boolean,
  ): Promise<number> {
    if (exit.code === 0) return 0;
    if (exit.code === BUILD_FAILURE_EXIT_CODE && exit.signal === null) {
      const code = await readBuildExitCode(attempt.buildExitCodeFile, name, program);
      if (isPrepare) {
        throw new JobFailedError("script_failure", `exit status ${code}`, { exitCode: code });
      }
      // 0 would read as success; the driver said the job failed.
      return code === 0 ? BUILD_FAILURE_EXIT_CODE : code;
    }
    if (exit.code === SYSTEM_FAILURE_EXIT_CODE && exit.signal === null) {
      throw new Error(
        `${name} "${program}" reported a system failure ` +
          `(exit code ${SYSTEM_FAILURE_EXIT_CODE}, SYSTEM_FAILURE_EXIT_CODE)`,
      );
    }
    const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with ${exit.code}`;
    throw new Error(
      `unknown Custom executor executable exit code: ${name} "${program}" ${how}; drivers must ` +
        `exit with 0, BUILD_FAILURE_EXIT_CODE (${BUILD_FAILURE_EXIT_CODE}) or ` +
        `SYSTEM_FAILURE_EXIT_CODE (${SYSTEM_FAILURE_EXIT_CODE})`,
    );
  }

  #environment(attempt: Attempt): Record<string, string> {
    const env: Record<string, string> = {
      ...this.#o.env,
      "TMPDIR": attempt.tempDir,
      "BUILD_FAILURE_EXIT_CODE": String(BUILD_FAILURE_EXIT_CODE),
      "SYSTEM_FAILURE_EXIT_CODE": String(SYSTEM_FAILURE_EXIT_CODE),
      "BUILD_EXIT_CODE_FILE": attempt.buildExitCodeFile,
      "JOB_RESPONSE_FILE": attempt.jobResponseFile,
      // job_env first so that it cannot hide a CI/CD variable (as upstream).
      ...this.#jobEnv,
    };
    const variables = [
      ...this.#variables,
      { key: "CI_JOB_SERVICES", value: jobServicesJson(this.#o.job) },
    ];
    for (const v of variables) {
      // An environment entry cannot hold NUL, nor '=' in its name.
      if (v.key === "" || v.key.includes("=") || v.key.includes("\0")) continue;
      env[`CUSTOM_ENV_${v.key}`] = v.value.replaceAll("\0", "");
    }
    return env;
  }

  #programPath(program: string): string {
    // A bare name is looked up in PATH; other relative paths mean the runner's directory.
    if (!program.includes("/") || isAbsolute(program)) return program;
    return join(this.#o.cwd, program);
  }

  #println(text: string): void {
    this.#o.output.write(encoder.encode(`\x1b[0K${text}\x1b[0;m\n`), "runner");
  }

  #warn(text: string): void {
    this.#o.output.write(
      encoder.encode(`\x1b[0K\x1b[0;33mWARNING: ${text}\x1b[0;m\n`),
      "runner",
    );
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function resolveShell(shell: string, fromDriver: boolean): ShellName {
  const name = shell === "" ? "bash" : shell;
  if (name === "bash" || name === "sh") return name;
  const source = fromDriver ? 'config_exec\'s "shell"' : "shell";
  throw new JobFailedError(
    "runner_configuration_error",
    `shell "${shell}" (from ${source}) is not supported by the custom executor: use "bash" or "sh"`,
  );
}

function seconds(value: number, fallback: number): number {
  return value > 0 ? value : fallback;
}

/**
 * The job's exit code from BUILD_EXIT_CODE_FILE: its first line, an integer.
 * No file means BUILD_FAILURE_EXIT_CODE; anything else in it is a system
 * failure, as upstream treats it. Only the file's start is read, and the
 * error quotes at most 100 characters of it: a driver that sent a command's
 * output there by mistake does not put megabytes into the job log.
 */
async function readBuildExitCode(file: string, name: string, program: string): Promise<number> {
  let head: Uint8Array;
  try {
    using f = await Deno.open(file);
    const buf = new Uint8Array(1024);
    head = buf.subarray(0, await f.read(buf) ?? 0);
  } catch {
    return BUILD_FAILURE_EXIT_CODE;
  }
  const text = decoder.decode(head);
  const newline = text.indexOf("\n");
  const first = (newline < 0 ? text : text.slice(0, newline)).replace(/\r$/, "");
  if (!/^[+-]?\d+$/.test(first) || !Number.isSafeInteger(Number(first))) {
    const quoted = first.length > 100
      ? `${JSON.stringify(first.slice(0, 100))}…`
      : JSON.stringify(first);
    throw new Error(
      `${name} "${program}" exited with BUILD_FAILURE_EXIT_CODE but BUILD_EXIT_CODE_FILE ` +
        `holds ${quoted}, not an integer exit code`,
    );
  }
  return Number(first);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/**
 * Longest runner log record a cleanup_exec line makes; a longer line is cut
 * into records of this size, as the official runner's log writer does (64 KiB).
 */
const MAX_LOG_LINE = 64 * 1024;

/**
 * Splits a byte stream into lines for the runner log. Only the new chunk is
 * searched for line ends, and a line without one is cut at MAX_LOG_LINE: a
 * driver printing megabytes without a newline (a progress bar redrawn with
 * `\r`) costs linear time and bounded memory.
 */
function lineSink(emit: (line: string) => void): {
  write: (chunk: Uint8Array) => void;
  flush: () => void;
} {
  const text = new TextDecoder();
  let pending = "";
  const add = (piece: string) => {
    pending += piece;
    while (pending.length >= MAX_LOG_LINE) {
      emit(pending.slice(0, MAX_LOG_LINE));
      pending = pending.slice(MAX_LOG_LINE);
    }
  };
  return {
    write: (chunk) => {
      const decoded = text.decode(chunk, { stream: true });
      let start = 0;
      for (let end = decoded.indexOf("\n"); end >= 0; end = decoded.indexOf("\n", start)) {
        add(decoded.slice(start, end));
        emit(pending.replace(/\r$/, ""));
        pending = "";
        start = end + 1;
      }
      add(decoded.slice(start));
    },
    flush: () => {
      add(text.decode());
      if (pending !== "") emit(pending);
      pending = "";
    },
  };
}
