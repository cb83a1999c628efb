/**
 * The metrics a `listen_address` serves: RunnerMetrics on a fresh registry
 * and the MetricsServer that exposes them. cli/commands/run.ts imports this
 * module (and with it prom-client) only when an address is set.
 */
import type { Logger } from "../log/logger.ts";
import { MetricsServer } from "./metrics_server.ts";
import { DenoProcessProbe } from "./process_metrics.ts";
import type { ProcfsSnapshot } from "./procfs_snapshot.ts";
import { Registry } from "./prom_client.ts";
import { RunnerMetrics, type VersionInfo } from "./runner_metrics.ts";

export interface MetricsEndpoint {
  metrics: RunnerMetrics;
  /** Not listening yet: the caller calls `listen`. */
  server: MetricsServer;
}

export function createMetricsEndpoint(options: {
  version: VersionInfo;
  /** The /proc values of the process, when this thread may not read them itself. */
  procfs?: () => ProcfsSnapshot | undefined;
  log: Logger;
}): MetricsEndpoint {
  const registry = new Registry();
  const metrics = new RunnerMetrics({
    registry,
    version: options.version,
    processProbe: new DenoProcessProbe(options.procfs),
  });
  const server = new MetricsServer({
    registry,
    jobs: metrics,
    processState: () => metrics.processState,
    log: options.log,
  });
  return { metrics, server };
}
