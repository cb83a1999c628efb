/**
 * Headers GitLab adds to job update and trace answers (spec §4.2, §5.2).
 * Each parser returns undefined for absent or unusable values.
 */

/** Longest update interval the runner accepts from the server: 15 min. */
export const MAX_UPDATE_INTERVAL_SECONDS = 15 * 60;

/** `Job-Status`, lowercased. */
export function jobStatusOf(headers: Headers): string | undefined {
  const value = headers.get("Job-Status")?.trim().toLowerCase();
  return value ? value : undefined;
}

/** `Job-Status: canceled|failed` ends the job for us, whatever the status code. */
export function isAbortStatus(jobStatus: string | undefined): boolean {
  return jobStatus === "canceled" || jobStatus === "failed";
}

/** The second number of `Range: 0-<N>`: the server's trace size. */
export function traceRangeEnd(headers: Headers): number | undefined {
  const match = /^\s*(?:bytes[ =])?(\d+)-(\d+)\s*$/.exec(headers.get("Range") ?? "");
  if (!match?.[2]) return undefined;
  const end = Number(match[2]);
  return Number.isSafeInteger(end) ? end : undefined;
}

/** `X-GitLab-Trace-Update-Interval` in seconds: ignored when <= 0 or unparsable, capped at 15 min. */
export function updateIntervalSeconds(headers: Headers): number | undefined {
  const raw = headers.get("X-GitLab-Trace-Update-Interval")?.trim();
  if (!raw || !/^\d+$/.test(raw)) return undefined;
  const seconds = Number(raw);
  if (seconds <= 0) return undefined;
  return Math.min(seconds, MAX_UPDATE_INTERVAL_SECONDS);
}
