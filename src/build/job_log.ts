/**
 * The runner's own lines in the job log, byte for byte as the official
 * runner writes them (colours, `ERROR: ` prefixes, section markers), so
 * GitLab renders them the same way.
 */
import type { JobOutput } from "../executors/executor.ts";
import {
  ANSI_BOLD_CYAN,
  ANSI_BOLD_GREEN,
  ANSI_BOLD_RED,
  ANSI_CLEAR,
  ANSI_RESET,
  ANSI_YELLOW,
} from "../shells/script_writer.ts";

const encoder = new TextEncoder();

export class JobLog {
  readonly #output: JobOutput;
  readonly #now: () => number;
  readonly #sections: boolean;

  /** `now` gives milliseconds since the epoch; `sections` = features.trace_sections. */
  constructor(output: JobOutput, options: { now: () => number; sections: boolean }) {
    this.#output = output;
    this.#now = options.now;
    this.#sections = options.sections;
  }

  raw(text: string): void {
    this.#output.write(encoder.encode(text), "runner");
  }

  println(text: string): void {
    this.raw(`${ANSI_CLEAR}${text}${ANSI_RESET}\n`);
  }

  info(text: string): void {
    this.raw(`${ANSI_BOLD_GREEN}${text}${ANSI_RESET}\n`);
  }

  warning(text: string): void {
    this.raw(`${ANSI_YELLOW}WARNING: ${text}${ANSI_RESET}\n`);
  }

  error(text: string): void {
    this.raw(`${ANSI_BOLD_RED}ERROR: ${text}${ANSI_RESET}\n`);
  }

  /** The cyan stage headline, e.g. `Preparing environment`. */
  stageHeader(text: string): void {
    this.println(`${ANSI_BOLD_CYAN}${text}${ANSI_RESET}`);
  }

  sectionStart(name: string): void {
    if (this.#sections) this.raw(`section_start:${this.#unix()}:${name}\r${ANSI_CLEAR}`);
  }

  sectionEnd(name: string): void {
    if (this.#sections) this.raw(`section_end:${this.#unix()}:${name}\r${ANSI_CLEAR}`);
  }

  /** Runs `body` inside a section named `name` (markers only with trace_sections). */
  async section<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.sectionStart(name);
    try {
      return await body();
    } finally {
      this.sectionEnd(name);
    }
  }

  #unix(): number {
    return Math.floor(this.#now() / 1000);
  }
}

/** What the official runner prints for a stage (`Executing "step_script" stage of the job script`). */
export function stageDescription(stage: string): string {
  return STAGE_DESCRIPTIONS[stage] ?? `Executing "${stage}" stage of the job script`;
}

const STAGE_DESCRIPTIONS: Record<string, string> = {
  "prepare_script": "Preparing environment",
  "get_sources": "Getting source from Git repository",
  "clear_worktree": "Deleting all tracked and untracked files due to source fetch failure",
  "restore_cache": "Restoring cache",
  "download_artifacts": "Downloading artifacts",
  "after_script": "Running after_script",
  "archive_cache": "Saving cache for successful job",
  "archive_cache_on_failure": "Saving cache for failed job",
  "upload_artifacts_on_failure": "Uploading artifacts for failed job",
  "upload_artifacts_on_success": "Uploading artifacts for successful job",
  "cleanup_file_variables": "Cleaning up project directory and file based variables",
};
