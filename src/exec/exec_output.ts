/**
 * What `runner exec` prints: each job's (already masked) log turned into
 * terminal lines, and the summary table at the end.
 *
 * A job log is written for GitLab's web view: `section_start:<ts>:<name>\r\x1b[0K`
 * and `section_end:…` markers, `\r` for progress lines, ANSI colours. Here
 * the markers are removed (the stage header that follows a `section_start`
 * is already a readable line), a line keeps only what a terminal would show
 * after its last `\r`, and colours are kept or stripped. Output is line
 * buffered per job so that lines of jobs running in parallel never mix; with
 * `isPrefixed` every line starts with `[job name] `.
 */

/** Where rendered lines go (stdout in the CLI). */
export interface LineWriter {
  /** One line of text, without its newline. */
  line(text: string): void;
}

export interface ExecOutputOptions {
  /** Keep ANSI colours (a terminal), or strip them (a file or pipe). */
  isColored: boolean;
  /** Prefix each line with `[job name] ` (jobs may run in parallel). */
  isPrefixed: boolean;
}

// deno-lint-ignore no-control-regex -- matching terminal escape sequences is the point
const SECTION_MARKER = /section_(?:start|end):\d+:[^\r\n]*?\r(?:\x1b\[0K)?/g;
// deno-lint-ignore no-control-regex -- matching terminal escape sequences is the point
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;
const PREFIX_COLORS = ["36", "35", "34", "33", "32", "96", "95", "94"];

/** Removes ANSI escape sequences (colours, erase-line, OSC titles and links). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * One line of a GitLab job log as a terminal shows it, or null when the line
 * held only section markers.
 */
export function renderLogLine(raw: string, isColored: boolean): string | null {
  const hadMarker = raw.includes("section_");
  let text = raw.replace(SECTION_MARKER, "");
  if (text.endsWith("\r")) text = text.slice(0, -1);
  // A progress bar rewrites its line with `\r`; keep what is finally shown.
  const cr = text.lastIndexOf("\r");
  if (cr >= 0) text = text.slice(cr + 1);
  if (!isColored) text = stripAnsi(text);
  if (hadMarker && stripAnsi(text).trim() === "") return null;
  return text;
}

/** The terminal rendering of every job's log. */
export class ExecOutput {
  readonly #writer: LineWriter;
  readonly #options: ExecOutputOptions;
  readonly #pending = new Map<string, string>();
  readonly #decoders = new Map<string, TextDecoder>();
  readonly #colors = new Map<string, string>();

  constructor(writer: LineWriter, options: ExecOutputOptions) {
    this.#writer = writer;
    this.#options = options;
  }

  /** A line of exec's own (job start, retry notes), under the job's prefix. */
  note(job: string, text: string): void {
    this.#emit(job, text);
  }

  /** Masked log bytes of `job`, any split. */
  write(job: string, chunk: Uint8Array): void {
    let decoder = this.#decoders.get(job);
    if (!decoder) {
      decoder = new TextDecoder();
      this.#decoders.set(job, decoder);
    }
    const text = (this.#pending.get(job) ?? "") + decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.#pending.set(job, lines.pop() ?? "");
    for (const line of lines) this.#render(job, line);
  }

  /** Prints what is left of `job`'s last line; call when its log ended. */
  flush(job: string): void {
    const decoder = this.#decoders.get(job);
    const rest = (this.#pending.get(job) ?? "") + (decoder ? decoder.decode() : "");
    this.#pending.delete(job);
    this.#decoders.delete(job);
    if (rest !== "") this.#render(job, rest);
  }

  #render(job: string, raw: string): void {
    const text = renderLogLine(raw, this.#options.isColored);
    if (text !== null) this.#emit(job, text);
  }

  #emit(job: string, text: string): void {
    if (!this.#options.isPrefixed) {
      this.#writer.line(text);
      return;
    }
    let prefix = `[${job}]`;
    if (this.#options.isColored) {
      let color = this.#colors.get(job);
      if (color === undefined) {
        color = PREFIX_COLORS[this.#colors.size % PREFIX_COLORS.length]!;
        this.#colors.set(job, color);
      }
      prefix = `\x1b[${color}m${prefix}\x1b[0m`;
    }
    this.#writer.line(`${prefix} ${text}`);
  }
}

/** A finished (or never started) job as the summary shows it. */
export interface SummaryRow {
  name: string;
  stage: string;
  status: JobStatus;
  /** Seconds; null when the job did not run. */
  durationSeconds: number | null;
  /** Why a job was skipped or failed, shown after the status. */
  detail: string;
  /** Percentage from the job's `coverage:` regex; the column shows only when a job has one. */
  coverage?: string;
}

export type JobStatus = "passed" | "failed" | "failed (allowed)" | "skipped" | "canceled";

/** `1.2s`, `2m 03s`, `1h 02m`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const STATUS_COLORS: Record<JobStatus, string> = {
  "passed": "32",
  "failed": "31;1",
  "failed (allowed)": "33",
  "skipped": "90",
  "canceled": "90",
};

/** The table printed at the end: job, stage, status, duration (and coverage, if any). */
export function renderSummary(rows: SummaryRow[], options: { isColored: boolean }): string[] {
  const hasCoverage = rows.some((r) => r.coverage !== undefined);
  const cells = rows.map((r) => [
    r.name,
    r.stage,
    r.detail ? `${r.status}: ${r.detail}` : r.status,
    r.durationSeconds === null ? "-" : formatDuration(r.durationSeconds),
    ...(hasCoverage ? [r.coverage !== undefined ? `${r.coverage}%` : "-"] : []),
  ]);
  const header = ["JOB", "STAGE", "STATUS", "DURATION", ...(hasCoverage ? ["COVERAGE"] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join("  ").trimEnd();
  const out = [line(header)];
  for (const [i, c] of cells.entries()) {
    let text = line(c);
    if (options.isColored) {
      const status = c[2]!;
      const at = widths[0]! + widths[1]! + 4;
      const color = STATUS_COLORS[rows[i]!.status];
      text = `${text.slice(0, at)}\x1b[${color}m${status}\x1b[0m${text.slice(at + status.length)}`;
    }
    out.push(text);
  }
  return out;
}
