/**
 * The seam between the build (stage order, scripts, variables) and the place a
 * job runs: the local host, a container, an SSH host or a custom driver.
 *
 * Call order: `prepare` once, then `run` once per stage, then `cleanup`, which
 * always runs (also after failure, cancel and timeout) and may run twice.
 * Aborting the signal given to `run` stops that stage's script and resolves
 * with the exit code the script was killed with; it never leaves a process
 * behind.
 */
export interface Executor extends AsyncDisposable {
  /** Shell the stage scripts are written for, known once `prepare` resolved. */
  readonly shell: ShellName;
  /** Directories as the job sees them, known once `prepare` resolved. */
  readonly paths: ExecutorPaths;
  prepare(signal: AbortSignal): Promise<void>;
  /** Runs one stage script; resolves with its exit code. */
  run(stage: StageScript, signal: AbortSignal): Promise<number>;
  cleanup(): Promise<void>;
}

export type ShellName = "bash" | "sh";

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
}

/** Where job output (the raw, unmasked trace) goes; masking happens in trace/. */
export interface JobOutput {
  write(chunk: Uint8Array): void;
}
