/**
 * One line of the job journal: a JSON object per line, so a crash can at
 * worst tear the last line, which `decodeJournal` then skips. Keys are
 * snake_case on disk, camelCase in memory.
 *
 * The journal holds the **job** token (needed to report the job after a
 * restart) and only the runner's short token (9 characters that name the
 * entry, see config/short_token.ts), never the runner token itself.
 */

/** Journal format version, written on every line. */
export const JOURNAL_VERSION = 1;

export type JournalRecord =
  /** The runner received the job; written before the acceptance `PUT`. */
  | {
    type: "taken";
    jobId: number;
    url: string;
    /** Short token of the runner entry, for humans and to pick the matching entry. */
    runner: string;
    jobToken: string;
    at: string;
  }
  /** GitLab accepted the job; the executor process is about to start. */
  | { type: "started"; jobId: number; url: string; at: string }
  /**
   * The job ended with this result, its final update on its way: a job whose
   * update never arrived is reported so at the next start, not as a crash.
   * `failureReason` is in GitLab's words (mapped to what the job's GitLab lists).
   */
  | {
    type: "ended";
    jobId: number;
    url: string;
    state: "success" | "failed";
    failureReason?: string;
    exitCode?: number;
    /** The end of the job's log GitLab had not confirmed, when small enough to keep. */
    log?: JournalLog;
    at: string;
  }
  /** GitLab has the final state (or the job is gone there): nothing left to report. */
  /** The restart note is in the job's log on GitLab: a later start does not append it again. */
  | { type: "noted"; jobId: number; url: string; at: string }
  | { type: "finished-reported"; jobId: number; url: string; state: string; at: string };

export type JournalRecordType = JournalRecord["type"];

/**
 * `bytes` are the log from `offset` to its end (`size`), as masked for
 * GitLab; `checksum` (`crc32:%08x`) is the whole log's. On disk: `log_offset`,
 * `log_tail` (base64), `log_checksum`, `log_size`.
 */
export interface JournalLog {
  offset: number;
  bytes: Uint8Array;
  checksum: string;
  size: number;
}

// V8's own base64 (Uint8Array.prototype.toBase64, Uint8Array.fromBase64):
// some 150 times faster than btoa over a binary string, which cost ~60 µs
// per job end for a 3 KB log end.
function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

function fromBase64(text: string): Uint8Array | null {
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    return null;
  }
}

function decodeLog(obj: Record<string, unknown>): JournalLog | null {
  const offset = obj["log_offset"];
  const size = obj["log_size"];
  const checksum = obj["log_checksum"];
  const tail = obj["log_tail"];
  if (typeof tail !== "string" || typeof checksum !== "string") return null;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size)) return null;
  const bytes = fromBase64(tail);
  if (bytes === null || (offset as number) < 0) return null;
  if ((offset as number) + bytes.length !== size) return null;
  return { offset: offset as number, bytes, checksum, size: size as number };
}

/** One line, newline included. */
export function encodeRecord(record: JournalRecord): string {
  const base = {
    "v": JOURNAL_VERSION,
    "type": record.type,
    "job_id": record.jobId,
    "url": record.url,
  };
  switch (record.type) {
    case "taken":
      return JSON.stringify({
        ...base,
        "runner": record.runner,
        "job_token": record.jobToken,
        "at": record.at,
      }) + "\n";
    case "started":
    case "noted":
      return JSON.stringify({ ...base, "at": record.at }) + "\n";
    case "ended":
      return JSON.stringify({
        ...base,
        "state": record.state,
        ...(record.failureReason ? { "failure_reason": record.failureReason } : {}),
        ...(record.exitCode ? { "exit_code": record.exitCode } : {}),
        ...(record.log
          ? {
            "log_offset": record.log.offset,
            "log_tail": toBase64(record.log.bytes),
            "log_checksum": record.log.checksum,
            "log_size": record.log.size,
          }
          : {}),
        "at": record.at,
      }) + "\n";
    case "finished-reported":
      return JSON.stringify({ ...base, "state": record.state, "at": record.at }) + "\n";
  }
}

export interface DecodedJournal {
  records: JournalRecord[];
  /** Lines that were not a record we know (torn by a crash, or damaged), 1-based. */
  badLines: number[];
}

function field(obj: Record<string, unknown>, key: string): string | null {
  const value = obj[key];
  return typeof value === "string" ? value : null;
}

/**
 * A GitLab URL the runner can send to: a damaged `url` would otherwise reach
 * the API client at the next start, which throws on it (a runner that could
 * never start again, its journal never compacted).
 */
function isGitLabUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const protocol = new URL(url).protocol;
  return protocol === "http:" || protocol === "https:";
}

/** Reads one line; null when it is not a complete, known record. */
export function decodeRecord(line: string): JournalRecord | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const obj = parsed as Record<string, unknown>;
  const jobId = obj["job_id"];
  const url = field(obj, "url");
  const at = field(obj, "at") ?? "";
  if (obj["v"] !== JOURNAL_VERSION || !Number.isSafeInteger(jobId)) return null;
  if (url === null || !isGitLabUrl(url)) return null;
  const id = jobId as number;
  switch (obj["type"]) {
    case "taken": {
      const runner = field(obj, "runner");
      const jobToken = field(obj, "job_token");
      if (runner === null || jobToken === null) return null;
      return { type: "taken", jobId: id, url, runner, jobToken, at };
    }
    case "started":
      return { type: "started", jobId: id, url, at };
    case "noted":
      return { type: "noted", jobId: id, url, at };
    case "ended": {
      const state = obj["state"];
      if (state !== "success" && state !== "failed") return null;
      const failureReason = field(obj, "failure_reason");
      const exitCode = obj["exit_code"];
      // A damaged log part only loses the log part: the result still counts.
      const log = decodeLog(obj);
      return {
        type: "ended",
        jobId: id,
        url,
        state,
        ...(failureReason ? { failureReason } : {}),
        ...(Number.isSafeInteger(exitCode) ? { exitCode: exitCode as number } : {}),
        ...(log ? { log } : {}),
        at,
      };
    }
    case "finished-reported":
      return { type: "finished-reported", jobId: id, url, state: field(obj, "state") ?? "", at };
    default:
      return null;
  }
}

/** Decodes a whole journal; blank lines are ignored, bad ones listed. */
export function decodeJournal(text: string): DecodedJournal {
  const records: JournalRecord[] = [];
  const badLines: number[] = [];
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const record = decodeRecord(line);
    if (record) records.push(record);
    else badLines.push(index + 1);
  });
  return { records, badLines };
}
