/**
 * How a stage's shell ended, in the official runner's words. An executor's
 * `run` resolves with the shell's exit code, or with minus the signal number
 * when the shell itself was killed by a signal (a command the shell ran and
 * that was killed is the shell's exit code 128 + n, as it says).
 *
 * The official shell executor reports such a shell as Go's ExitError does:
 * "signal: killed", exit code -1 (Go's ExitCode() of a signalled process).
 */

/** Go's names of the Linux signals (syscall.Signal.String). */
const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: "hangup",
  2: "interrupt",
  3: "quit",
  4: "illegal instruction",
  5: "trace/breakpoint trap",
  6: "aborted",
  7: "bus error",
  8: "floating point exception",
  9: "killed",
  10: "user defined signal 1",
  11: "segmentation fault",
  12: "user defined signal 2",
  13: "broken pipe",
  14: "alarm clock",
  15: "terminated",
  16: "stack fault",
  17: "child exited",
  18: "continued",
  19: "stopped (signal)",
  20: "stopped",
  21: "stopped (tty input)",
  22: "stopped (tty output)",
  23: "urgent I/O condition",
  24: "CPU time limit exceeded",
  25: "file size limit exceeded",
  26: "virtual timer expired",
  27: "profiling timer expired",
  28: "window changed",
  29: "I/O possible",
  30: "power failure",
  31: "bad system call",
};

/** `exit status 3`, or `signal: killed` for a stage result of -9. */
export function describeExit(code: number): string {
  if (code >= 0) return `exit status ${code}`;
  return `signal: ${SIGNAL_NAMES[-code] ?? `signal ${-code}`}`;
}

/** The exit code GitLab gets: the shell's, or -1 for a shell killed by a signal. */
export function reportedExitCode(code: number): number {
  return code < 0 ? -1 : code;
}
