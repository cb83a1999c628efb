/**
 * Why a job stopped when nobody canceled it: the runner (or the executor
 * process) was told to stop by a signal. The job fails as
 * `runner_interrupted`, its log saying "aborted: " and the signal as Go
 * prints it ("aborted: terminated" for SIGTERM), as the official runner's does.
 */
export class RunnerInterrupt {
  constructor(readonly signal: string) {}

  /** "aborted: terminated" for SIGTERM. */
  get message(): string {
    return `aborted: ${GO_SIGNAL_NAMES[this.signal] ?? this.signal}`;
  }
}

/** How Go's os.Signal prints the signals a runner is stopped with. */
const GO_SIGNAL_NAMES: Readonly<Record<string, string>> = {
  "SIGTERM": "terminated",
  "SIGINT": "interrupt",
  "SIGQUIT": "quit",
  "SIGHUP": "hangup",
};
