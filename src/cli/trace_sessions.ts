/**
 * Opens the trace pipeline for each job: mask → UTF-8 → output_limit → store
 * (trace/job_trace.ts), with the uploader sending it to GitLab as it grows and
 * delivering the final state. The supervisor sees only the TraceSession seam.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { mapFailureReason } from "../gitlab/failure_reasons.ts";
import type { JobClient } from "../gitlab/mod.ts";
import { resolveFeatureFlags } from "../build/feature_flags.ts";
import { type JobSpec, variableValue } from "../job/job_spec.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type {
  JobResult,
  TraceCallbacks,
  TraceSession,
  TraceSessionFactory,
} from "../poller/job_supervisor.ts";
import { JobTrace } from "../trace/job_trace.ts";
import { TraceUploader, type UploaderClock } from "../trace/job_trace_uploader.ts";
import { maskOptionsForJob } from "../trace/mask_options.ts";
import { openTempSpillFile } from "../trace/temp_spill_file.ts";
import { TraceStore } from "../trace/trace_store.ts";

export interface TraceSessionsOptions {
  clientFor(runner: RunnerConfig): JobClient;
  log: Logger;
  /** Where traces past 8 MiB spill to a file. */
  tempDir: string;
  clock?: UploaderClock;
}

export class TraceSessions implements TraceSessionFactory {
  readonly #o: TraceSessionsOptions;

  constructor(options: TraceSessionsOptions) {
    this.#o = options;
  }

  open(runner: RunnerConfig, job: JobSpec, callbacks: TraceCallbacks): TraceSession {
    const flags = resolveFeatureFlags(runner.featureFlags ?? {}, (key) => variableValue(job, key));
    const trace = new JobTrace({
      mask: maskOptionsForJob(job, {
        isMaskAllDefaultTokens: flags["FF_MASK_ALL_DEFAULT_TOKENS"] ?? true,
      }),
      outputLimitKiB: runner.outputLimit,
      store: new TraceStore({ openSpillFile: () => openTempSpillFile(this.#o.tempDir) }),
    });
    const debugTrace = variableValue(job, "CI_DEBUG_TRACE") === "true";
    const log = this.#o.log.child({ [F.JOB_ID]: job.id });
    const uploader = new TraceUploader({
      transport: this.#o.clientFor(runner),
      job: { id: job.id, token: job.token, ...(debugTrace ? { debugTrace } : {}) },
      trace,
      callbacks,
      finalRetryLimit: runner.jobStatusFinalUpdateRetryLimit,
      log,
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
    });
    uploader.start();
    return {
      write: (chunk) => trace.write(chunk),
      finish: async (result: JobResult) => {
        trace.close();
        try {
          return await uploader.finish({
            state: result.state,
            ...(result.state === "failed"
              ? {
                failureReason: mapFailureReason(
                  result.failureReason ?? "",
                  job.features.failureReasons,
                ),
              }
              : {}),
            ...(result.exitCode ? { exitCode: result.exitCode } : {}),
          });
        } finally {
          trace[Symbol.dispose]();
        }
      },
    };
  }
}
