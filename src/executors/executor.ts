/**
 * The seam between the build (stage order, scripts, variables) and the place a
 * job runs: the local host, a container, an SSH host or a custom driver.
 *
 * Call order: `prepare` once, then `run` once per stage, then `cleanup`, which
 * always runs (also after failure, cancel and timeout) and may run twice.
 * Aborting the signal given to `run` stops that stage's script and resolves
 * with the exit code the script was killed with; it never leaves a process
 * behind.
 *
 * Output: an executor writes everything the stage's processes print (stdout
 * and stderr alike, as they come) to the `JobOutput` it was constructed with,
 * plus its own preparation messages. `run` resolves only after the stage's
 * output was written. `run` rejects only when the executor itself failed (the
 * shell could not be started, the container vanished): that is a
 * runner_system_failure, never the user's fault.
 */
import type { JobVariable } from "../job/job_spec.ts";
import type { OutputStream } from "../job/output_stream.ts";
import type { ShellName } from "../shells/script_writer.ts";

export type { ShellName };

export interface Executor extends AsyncDisposable {
  /** Shell the stage scripts are written for, known once `prepare` resolved. */
  readonly shell: ShellName;
  /** Directories as the job sees them, known once `prepare` resolved. */
  readonly paths: ExecutorPaths;
  /** Host name shown as `Running on … via <hostname>...` (custom: from config_exec). */
  readonly hostname?: string;
  /**
   * Name of the host the stages run on, when it is the runner's own (shell):
   * prepare_script then prints it instead of running `hostname`, one process
   * start less per job. Absent: the script asks the job's host.
   */
  readonly localHostname?: string | undefined;
  /**
   * Whether the job runs on a host other jobs share (shell, ssh): then the job
   * gets `CI_SHARED_ENVIRONMENT=true`, else `CI_DISPOSABLE_ENVIRONMENT=true`.
   * Absent means disposable.
   */
  readonly isSharedEnvironment?: boolean;
  prepare(signal: AbortSignal, options?: PrepareOptions): Promise<void>;
  /**
   * Starts an interactive shell with a terminal where the job runs (the web
   * terminal); absent when the executor has none. May be called any time
   * after construction: it waits for `prepare` where it needs it, and
   * rejects when the place is gone (after `cleanup`). Closing the returned
   * terminal kills its shell; `cleanup` closes every terminal. When `onOutput`
   * returns a promise, no more output is read until it settles (the client
   * is behind), or until the terminal is closed.
   */
  openTerminal?(
    onOutput: (chunk: Uint8Array) => void | Promise<void>,
  ): Promise<JobTerminalProcess>;
  /**
   * Runs one stage script; resolves with its exit code, or with minus the
   * signal number when the stage's shell itself was killed by a signal
   * (`src/job/exit_status.ts`).
   */
  run(stage: StageScript, signal: AbortSignal): Promise<number>;
  /**
   * Removes files where the job runs without a stage process, with the same
   * rights the job's stages have (shell executor, jobs run as the runner's
   * user). Absent: cleanup_file_variables runs its script as a stage.
   */
  readonly removeFiles?: (paths: readonly string[]) => Promise<void>;
  /**
   * The first half of `cleanup`, for an executor whose removal is slow
   * (docker: killing and removing containers, ~100 ms): ends everything that
   * could still reach the job's log or files (terminals, stage connections),
   * leaving what it created in place. A build whose owner reports the result
   * first calls this, then `cleanup` once the result is out (see runBuild's
   * `isCleanupDeferred`). May run twice; `cleanup` runs it first. Absent:
   * `cleanup` is the whole of it.
   */
  finishJob?(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface PrepareOptions {
  /**
   * The job's variables for the given paths, while `prepare` runs: for an
   * executor that runs programs of its own then (custom: config_exec and
   * prepare_exec see them as CUSTOM_ENV_*). Others ignore it.
   */
  variables?: (paths: ExecutorPaths) => readonly JobVariable[];
}

export interface ExecutorPaths {
  buildsDir: string;
  cacheDir: string;
  /** Whether several jobs share buildsDir (adds `<short token>/<slot>` to the project dir). */
  isBuildsDirShared: boolean;
}

export interface StageScript {
  /** Official stage name: `get_sources`, `step_script`, `after_script`, … */
  stage: string;
  /** Complete script text for `shell`. */
  script: string;
  /** The job's variables as of this stage (CI_JOB_STATUS changes before after_script). */
  variables?: readonly JobVariable[];
}

/** An interactive shell on a terminal, opened by `Executor.openTerminal`. */
export interface JobTerminalProcess {
  /** Keystrokes for the shell; dropped past a bound waiting (executors/terminal_input.ts). */
  write(data: Uint8Array): void;
  /** Kills the shell; may run twice. */
  close(): Promise<void>;
  /** Resolves when the shell ended (it exited, or `close`). */
  readonly closed: Promise<void>;
}

/**
 * Where job output (the raw, unmasked trace) goes; masking happens in trace/.
 * `stream` says where the bytes came from (default: the script's stdout); the
 * runner's own messages are `runner`.
 */
export interface JobOutput {
  write(chunk: Uint8Array, stream?: OutputStream): void;
}
