import type { CommandResult, CommandRunner } from "../artifacts/command_runner.ts";
import { quoteShell } from "../shells/shell_quote.ts";
import type { ScriptRunner } from "./job_files.ts";

export interface ScriptCommandRunnerOptions {
  /** A directory of the job's side for the output files (RUNNER_TEMP_PROJECT_DIR). */
  tmpDir: string;
  runScript: ScriptRunner;
  /** Reads a file of the job's side; empty when absent. */
  readFile(path: string): Promise<Uint8Array>;
}

/**
 * `CommandRunner` for jobs that do not run on this host (docker, ssh): the
 * command runs as a stage script where the job runs (so `git ls-files` uses
 * the job's git), its output redirected to files in the job's temp dir, which
 * are then read back and removed.
 */
export class ScriptCommandRunner implements CommandRunner {
  readonly #o: ScriptCommandRunnerOptions;

  constructor(options: ScriptCommandRunnerOptions) {
    this.#o = options;
  }

  async run(args: readonly string[]): Promise<CommandResult> {
    if (args.length === 0) throw new TypeError("Cannot run an empty command");
    const id = crypto.randomUUID().slice(0, 8);
    const out = `${this.#o.tmpDir}/command-${id}.out`;
    const err = `${this.#o.tmpDir}/command-${id}.err`;
    const code = await this.#o.runScript([
      `mkdir -p ${quoteShell(this.#o.tmpDir)}`,
      `${args.map(quoteShell).join(" ")} >${quoteShell(out)} 2>${quoteShell(err)}`,
    ]);
    const stdout = await this.#o.readFile(out);
    const stderr = new TextDecoder().decode(await this.#o.readFile(err));
    await this.#o.runScript([`rm -f ${quoteShell(out)} ${quoteShell(err)}`]).catch(() => 0);
    return { success: code === 0, stdout, stderr };
  }
}
