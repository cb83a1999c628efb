import type { GlobalConfig, RunnerConfig } from "../config/runner_config.ts";
import { shortToken } from "../config/short_token.ts";
import type { JournalJob } from "../journal/mod.ts";

/**
 * The config entry whose client reports a journaled job at start: the entry
 * that took it; else one with its URL (its token rotated since, the journal
 * knowing only the old short token): its TLS files (`tls-ca-file`, client
 * certificate) are what that GitLab needs, and the job token from the
 * journal authenticates the calls; else `bare` (a default entry) with the
 * job's URL, when no entry for that GitLab is left.
 */
export function journalRunner(
  config: GlobalConfig,
  job: JournalJob,
  bare: RunnerConfig | null,
): RunnerConfig {
  const entry =
    config.runners.find((r) => r.url === job.url && shortToken(r.token) === job.runner) ??
      config.runners.find((r) => r.url === job.url);
  if (entry) return entry;
  if (!bare) throw new RangeError(`No entry for journaled job ${job.jobId}`);
  return { ...bare, url: job.url };
}
