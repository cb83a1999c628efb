/**
 * The trace pipeline of one `runner exec` job: the same `JobTrace` masking
 * and UTF-8 pipeline as a job from GitLab, ending at the terminal instead of
 * an upload. Imported by `ExecutorJobRunner` once the job's start message is
 * on its way (or a job fails before it is), so that exec loads these modules
 * while its executor process prepares the job, as the poller opens a job's
 * trace after the start (`JobSupervisor`); the job's first output waits in
 * the pipe meanwhile.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { featureFlagsForJob, parseGoBool } from "../build/feature_flags.ts";
import { expandVariables, lookupVariable, parseEnvironment } from "../build/job_variables.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { JobTrace } from "../trace/job_trace.ts";
import { maskOptionsForJob } from "../trace/mask_options.ts";
import { TraceStore } from "../trace/trace_store.ts";

/** A trace for `job` (with exec's `repo_url`) whose masked, sanitised bytes go to `onLog`. */
export function openExecTrace(
  job: JobSpec,
  runner: RunnerConfig,
  onLog: (bytes: Uint8Array) => void,
): JobTrace {
  // As the build resolves them: `--env` (the runner's environment) counts too.
  const flags = featureFlagsForJob(runner, job.variables);
  const jobMask = maskOptionsForJob(job, {
    isMaskAllDefaultTokens: flags["FF_MASK_ALL_DEFAULT_TOKENS"] ?? true,
  });
  // An --ssh-password given to exec is a secret of this run: masked wherever
  // it shows (a job that echoes it, an error quoting it), as a masked variable.
  const mask = runner.ssh.password === ""
    ? jobMask
    : { ...jobMask, phrases: [...(jobMask.phrases ?? []), runner.ssh.password] };
  // The log goes to a terminal, not to GitLab, which strips line stamps when
  // it renders: stamp lines only when FF_TIMESTAMPS is set to true explicitly.
  const variables = expandVariables([...parseEnvironment(runner.environment), ...job.variables]);
  const isTimestampAsked = runner.featureFlags["FF_TIMESTAMPS"] !== undefined ||
    parseGoBool(lookupVariable(variables, "FF_TIMESTAMPS") ?? "") !== undefined;
  return new JobTrace({
    mask,
    outputLimitKiB: runner.outputLimit,
    store: new ForwardingTraceStore(onLog),
    isTimestamped: isTimestampAsked && flags["FF_TIMESTAMPS"] === true,
    // No final update reads it: no CRC, and no node:zlib to load for one;
    // the UTF-8 check without node:buffer's (short logs, no Node compatibility).
    crc32: null,
    isUtf8: null,
  });
}

/**
 * The end of the trace pipeline for exec: masked, sanitised bytes go straight
 * to the terminal instead of being kept for upload.
 */
class ForwardingTraceStore extends TraceStore {
  readonly #forward: (bytes: Uint8Array) => void;
  #forwarded = 0;

  constructor(forward: (bytes: Uint8Array) => void) {
    super({ memoryLimitBytes: 0 });
    this.#forward = forward;
  }

  override get size(): number {
    return this.#forwarded;
  }

  override append(bytes: Uint8Array): void {
    this.#forwarded += bytes.length;
    this.#forward(bytes);
  }
}
