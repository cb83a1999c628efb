export { formatGoDuration } from "./go_duration.ts";
export {
  DEFAULT_METRICS_PORT,
  formatListenAddress,
  type ListenAddress,
  parseListenAddress,
} from "./listen_address.ts";
export { MetricsServer, type MetricsServerOptions } from "./metrics_server.ts";
export { DenoProcessProbe, type ProcessProbe, registerProcessMetrics } from "./process_metrics.ts";
export {
  type ApiEndpoint,
  formatJobList,
  type JobListEntry,
  type JobListProvider,
  type JobMode,
  type JobState,
  PROCESS_STATES,
  type ProcessState,
  type RunnerLabels,
  RunnerMetrics,
  type RunnerMetricsOptions,
  type VersionInfo,
} from "./runner_metrics.ts";
