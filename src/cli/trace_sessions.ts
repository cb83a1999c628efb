/** Opens the trace pipeline (mask, limit, upload) for each job: trace/ behind the supervisor's seam. */
import type { RunnerConfig } from "../config/runner_config.ts";
import type { JobClient } from "../gitlab/mod.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Logger } from "../log/logger.ts";
import type { TraceCallbacks, TraceSession, TraceSessionFactory } from "../poller/job_supervisor.ts";

export interface TraceSessionsOptions {
  clientFor(runner: RunnerConfig): JobClient;
  log: Logger;
}

export class TraceSessions implements TraceSessionFactory {
  constructor(readonly options: TraceSessionsOptions) {}

  open(_runner: RunnerConfig, _job: JobSpec, _callbacks: TraceCallbacks): TraceSession {
    throw new Error("not yet");
  }
}
