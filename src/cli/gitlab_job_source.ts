/**
 * Adapts the GitLab runner client to the poller's JobSource seam. With a
 * session server, each request announces a fresh web terminal session; the
 * job it brings keeps it.
 */
import type { RunnerClient } from "../gitlab/mod.ts";
import type { JobSource, RequestOutcome } from "../poller/poller.ts";
import type { SessionOffer } from "../session/session_server.ts";

/** Makes the session announced with a request (session/session_server.ts). */
export interface SessionOffers {
  offer(): SessionOffer;
}

export class GitLabJobSource implements JobSource {
  /** `sessions`: only for an executor with a terminal, and a configured session server. */
  constructor(readonly client: RunnerClient, readonly sessions: SessionOffers | null = null) {}

  async requestJob(signal: AbortSignal): Promise<RequestOutcome> {
    try {
      const offer = this.sessions?.offer();
      const result = await this.client.requestJob(offer ? { session: offer.info } : {}, signal);
      switch (result.kind) {
        case "job":
          offer?.accept(result.job.id);
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
