/** Adapts the GitLab runner client to the poller's JobSource seam. */
import type { RunnerClient } from "../gitlab/mod.ts";
import type { JobSource, RequestOutcome } from "../poller/poller.ts";

export class GitLabJobSource implements JobSource {
  constructor(readonly client: RunnerClient) {}

  async requestJob(signal: AbortSignal): Promise<RequestOutcome> {
    try {
      const result = await this.client.requestJob({}, signal);
      switch (result.kind) {
        case "job":
          return { kind: "job", job: result.job };
        case "none":
          return result.isQueueChanged ? { kind: "none", isQueueChanged: true } : { kind: "none" };
        case "error":
          if (result.invalidJob) {
            return { kind: "invalid-job", ...result.invalidJob, message: result.message };
          }
          return { kind: "error", healthy: result.healthy, message: result.message };
      }
    } catch (err) {
      // Only an aborted signal throws: the poller is stopping or the entry was removed.
      if (signal.aborted) return { kind: "none" };
      return { kind: "error", healthy: false, message: (err as Error).message };
    }
  }
}
