/**
 * Which stream a piece of job output came from. The job log keeps them apart
 * when it stamps lines (FF_TIMESTAMPS): the runner's own messages are stream
 * `00O` (`00E` for a driver's diagnostics), the job's stdout `01O` and its stderr `01E`, as in the official
 * runner (buildlogger: StreamExecutorLevel 0, StreamWorkLevel 1). Service containers' output
 * (CI_DEBUG_SERVICES) is `0fO`, upstream's StreamStartingServiceLevel.
 */
export type OutputStream = "runner" | "runner_stderr" | "stdout" | "stderr" | "service";

/** The runner's own streams (`00O`, `00E`); a write on them means a script stage is not running. */
export function isRunnerStream(stream: OutputStream): boolean {
  return stream === "runner" || stream === "runner_stderr";
}
