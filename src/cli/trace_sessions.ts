/**
 * Opens the trace pipeline for each job: mask → UTF-8 → output_limit → store
 * (trace/job_trace.ts), with the uploader sending it to GitLab as it grows and
 * delivering the final state. The supervisor sees only the TraceSession seam.
 *
 * The pipeline's modules load with the first job, not with the poller: an
 * idle poller does not need them, and the checksum's node:zlib alone costs
 * it about 1.5 MB of heap (scripts/bench/job_latency.ts, figure (c)).
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { mapFailureReason } from "../gitlab/failure_reasons.ts";
import type { JobClient } from "../gitlab/mod.ts";
import { featureFlagsForJob, isDebugTraceForJob } from "../build/feature_flags.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import type {
  JobResult,
  TraceCallbacks,
  TraceSession,
  TraceSessionFactory,
} from "../poller/job_supervisor.ts";
import { type Clock, systemClock } from "../trace/clock.ts";

/** The trace pipeline's modules; literal specifiers, so `deno compile` embeds them. */
function loadPipeline() {
  return Promise.all([
    import("../trace/job_trace.ts"),
    import("../trace/trace_uploader.ts"),
    import("../trace/mask_options.ts"),
    import("../trace/temp_spill_file.ts"),
    import("../trace/trace_store.ts"),
    import("../trace/crc32.ts"),
    import("node:buffer"),
  ]).then(([a, b, c, d, e, f, { isUtf8 }]) => ({ ...a, ...b, ...c, ...d, ...e, ...f, isUtf8 }));
}

let pipeline: ReturnType<typeof loadPipeline> | undefined;

export interface TraceSessionsOptions {
  clientFor(runner: RunnerConfig): JobClient;
  log: Logger;
  /** Where traces past 8 MiB spill to a file. */
  tempDir: string;
  clock?: Clock;
}

/** Most unsent log bytes a job's `ended` journal record keeps (see unsentLog). */
const MAX_UNSENT_LOG_BYTES = 256 * 1024;

export class TraceSessions implements TraceSessionFactory {
  readonly #o: TraceSessionsOptions;

  constructor(options: TraceSessionsOptions) {
    this.#o = options;
  }

  async open(
    runner: RunnerConfig,
    job: JobSpec,
    callbacks: TraceCallbacks,
  ): Promise<TraceSession> {
    const {
      crc32,
      isUtf8,
      JobTrace,
      TraceUploader,
      maskOptionsForJob,
      openTempSpillFile,
      TraceStore,
    } = await (pipeline ??= loadPipeline());
    // As the build resolves them, so the runner's `environment` counts too.
    const flags = featureFlagsForJob(runner, job.variables);
    const store = new TraceStore({ openSpillFile: () => openTempSpillFile(this.#o.tempDir) });
    const trace = new JobTrace({
      mask: maskOptionsForJob(job, {
        isMaskAllDefaultTokens: flags["FF_MASK_ALL_DEFAULT_TOKENS"] ?? true,
      }),
      outputLimitKiB: runner.outputLimit,
      store,
      isTimestamped: flags["FF_TIMESTAMPS"] ?? true,
      crc32,
      isUtf8,
    });
    const debugTrace = isDebugTraceForJob(runner, job.variables);
    const log = this.#o.log.child({ [F.JOB_ID]: job.id });
    const uploader = new TraceUploader({
      transport: this.#o.clientFor(runner),
      job: { id: job.id, token: job.token, ...(debugTrace ? { debugTrace } : {}) },
      trace,
      clock: this.#o.clock ?? systemClock(),
      onAbort: () => callbacks.onAbort(),
      onCancelRequested: () => callbacks.onCancelRequested(),
      finalUpdateRetryLimit: runner.jobStatusFinalUpdateRetryLimit,
      // Only from [runners.feature_flags], as upstream (RUNNER_ONLY_FEATURE_FLAGS).
      isDynamicForceSendInterval:
        runner.featureFlags["FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL"] === true,
      onFinalRetry: (attempt, error, delayMs) =>
        log.warn("Final job update failed; trying again", {
          "attempt": attempt,
          "retry_in_s": Math.round(delayMs / 100) / 10,
          [F.ERROR]: error,
        }),
    });
    uploader.start();
    return {
      write: (chunk, stream) => trace.write(chunk, stream),
      unsentLog: () => {
        trace.close();
        const offset = Math.min(uploader.sentBytes, trace.size);
        const length = trace.size - offset;
        // Most jobs end with a few seconds of output unsent; a larger end is
        // not worth a journal line that size.
        if (length > MAX_UNSENT_LOG_BYTES) return null;
        return {
          offset,
          bytes: trace.read(offset, length),
          checksum: trace.checksum(),
          size: trace.size,
        };
      },
      finish: async (result: JobResult) => {
        trace.close();
        try {
          const final = await uploader.finish({
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
          if (final.outcome === "aborted" || final.outcome === "not-found") {
            log.warn("GitLab no longer accepts updates for this job", { "outcome": final.outcome });
          } else if (!final.isDelivered) {
            log.error("Giving up on the final job update", {
              "attempts": final.attempts,
              [F.ERROR]: final.lastError ?? "",
            });
          } else if (final.sentBytes < trace.size) {
            log.warn("GitLab got the job's final state without its whole log", {
              "sent_bytes": final.sentBytes,
              "log_bytes": trace.size,
              [F.ERROR]: final.lastError ?? "",
            });
          }
          if (store.spillError !== null) {
            log.warn("The job's log could not use its temporary file and was kept in memory", {
              [F.ERROR]: store.spillError.message,
            });
          }
          // A job GitLab already ended needs nothing more from us.
          return final.isDelivered || final.outcome === "aborted" || final.outcome === "not-found";
        } finally {
          trace[Symbol.dispose]();
        }
      },
    };
  }
}
