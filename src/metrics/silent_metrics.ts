/**
 * What the poller reports its events to when no `listen_address` is set:
 * nothing reads metrics then, so none are kept, and prom-client is never
 * loaded (about 10 MB of the idle poller's resident memory). Only type
 * imports here, so loading this module loads no metric code.
 */
import type { JobListEntry, ProcessState, RunnerMetrics } from "./runner_metrics.ts";

/** The surface of RunnerMetrics the poller, clients and logger call. */
export type RunnerEvents = Pick<RunnerMetrics, keyof RunnerMetrics>;

/** RunnerEvents that keep nothing but the process state. */
export class SilentMetrics implements RunnerEvents {
  #processState: ProcessState = "starting";

  get processState(): ProcessState {
    return this.#processState;
  }
  setProcessState(state: ProcessState): void {
    this.#processState = state;
  }
  listJobs(): JobListEntry[] {
    return [];
  }
  readonly logRecorded = (): void => {};
  setConcurrent(): void {}
  setLimits(): void {}
  setWorkerSlots(): void {}
  workerProcessingFailed(): void {}
  workerFed(): void {}
  workerFeedFailed(): void {}
  healthCheckFailed(): void {}
  setRequestConcurrency(): void {}
  apiRequestAttempts(): void {}
  requestConcurrencyExceeded(): void {}
  apiRequest(): void {}
  jobStarted(): void {}
  jobStageChanged(): void {}
  jobFinished(): void {}
  jobQueued(): void {}
  configLoaded(): void {}
  configLoadFailed(): void {}
  configSaved(): void {}
  configSaveFailed(): void {}
}
