/**
 * Builds one stage script for bash or sh, the way the official runner's bash
 * writer does: the stage body is collected line by line, then `finish()` wraps
 * it so that
 *
 * - a SIGTERM makes the shell `exit 1` instead of dying mid-command (bash
 *   would otherwise print the running script into the job log),
 * - `errexit` (and `pipefail` where the shell has it) stop at the first
 *   failing command, `noclobber` is off,
 * - housekeeping (`mkdir -p`, `rm -f`, the GITLAB_ENV file) starts a process
 *   only when there is something to do: each process start is a fork and
 *   exec per stage, which on a busy host costs more than the stage's work,
 * - the body runs through `eval` in a subshell whose stdin is `/dev/null`:
 *   the script itself arrives on the shell's stdin, and a user command that
 *   reads stdin must not swallow the rest of it.
 *
 * Pure: produces text, does no I/O.
 */
import { isShellVariableName, quoteShell } from "./shell_quote.ts";

export type ShellName = "bash" | "sh";

export const SHELL_NAMES: readonly ShellName[] = ["bash", "sh"];

export const ANSI_BOLD_GREEN = "\x1b[32;1m";
export const ANSI_BOLD_RED = "\x1b[31;1m";
export const ANSI_BOLD_CYAN = "\x1b[36;1m";
export const ANSI_YELLOW = "\x1b[0;33m";
export const ANSI_RESET = "\x1b[0;m";
export const ANSI_CLEAR = "\x1b[0K";

/** A variable as the script exports it: value already expanded by the build. */
export interface ScriptVariable {
  key: string;
  value: string;
  /** Written to `<tmpDir>/<key>`; the exported value is that path. */
  file: boolean;
}

export interface ScriptWriterOptions {
  /** `RUNNER_TEMP_PROJECT_DIR`: file variables and the GITLAB_ENV file live here. */
  tmpDir: string;
  /** FF_ENABLE_BASH_EXIT_CODE_CHECK: test `$?` after every command as well. */
  exitCodeCheck?: boolean;
  /** CI_DEBUG_TRACE: `set -o xtrace`. */
  debugTrace?: boolean;
  /** FF_USE_LEGACY_BASH_EVAL: the older `: | eval '…'` wrapper. */
  legacyEval?: boolean;
}

/** Name of the dotenv file behind GITLAB_ENV, inside the temp dir. */
export const GITLAB_ENV_FILE = "gitlab_runner_env";

const EXIT_CODE_CHECK =
  "_runner_exit_code=$?; if [ $_runner_exit_code -ne 0 ]; then exit $_runner_exit_code; fi";
const TERM_TRAP = "trap 'exit 1' TERM";
const XTRACE = "set -o xtrace\n";

/** Whether `script`, as `finish()` wrote it, turns on xtrace (CI_DEBUG_TRACE). */
export function isXtraceScript(script: string): boolean {
  return script.startsWith(`${TERM_TRAP}\n\n${XTRACE}`);
}

export class ScriptWriter {
  readonly #lines: string[] = [];
  readonly #options: ScriptWriterOptions;
  #indent = 0;

  constructor(options: ScriptWriterOptions) {
    this.#options = options;
  }

  get tmpDir(): string {
    return this.#options.tmpDir;
  }

  /** Path of `name` inside the temp dir. */
  tmpFile(name: string): string {
    return joinPath(this.#options.tmpDir, name);
  }

  /** Appends a line of shell code as is. */
  line(code: string): void {
    this.#lines.push("  ".repeat(this.#indent) + code);
  }

  checkForErrors(): void {
    if (this.#options.exitCodeCheck) this.line(EXIT_CODE_CHECK);
  }

  /** A command whose every argument is passed literally. */
  command(...argv: string[]): void {
    this.line(argv.map(quoteShell).join(" "));
    this.checkForErrors();
  }

  /** Prints `text` as one line, as is (`printf` because dash's `echo` eats backslashes). */
  print(text: string): void {
    this.line(`printf '%s\\n' ${quoteShell(text)}`);
  }

  emptyLine(): void {
    this.line("echo");
  }

  notice(text: string): void {
    this.print(ANSI_BOLD_GREEN + text + ANSI_RESET);
  }

  warning(text: string): void {
    this.print(ANSI_YELLOW + text + ANSI_RESET);
  }

  /** `export KEY=value`; a file variable first writes its value to its file. */
  variable(variable: ScriptVariable): void {
    if (!isShellVariableName(variable.key)) return;
    if (variable.file) {
      const path = this.tmpFile(variable.key);
      this.line(ensureDir(this.#options.tmpDir));
      this.line(`printf '%s' ${quoteShell(variable.value)} > ${quoteShell(path)}`);
      this.line(`export ${variable.key}=${quoteShell(path)}`);
      return;
    }
    this.line(`export ${variable.key}=${quoteShell(variable.value)}`);
  }

  /**
   * Exports the job's variables, then GITLAB_ENV, then whatever earlier stages
   * appended to the GITLAB_ENV file (`KEY=value` lines), so those win.
   */
  exportVariables(variables: readonly ScriptVariable[]): void {
    for (const variable of variables) this.variable(variable);
    const envFile = this.tmpFile(GITLAB_ENV_FILE);
    this.variable({ key: "GITLAB_ENV", value: envFile, file: false });
    this.line(ensureDir(this.#options.tmpDir));
    // `touch` without a process: creates the file, keeps what earlier stages appended.
    this.line(`: >> ${quoteShell(envFile)}`);
    this.line(`while read -r line; do export "$line"; done < ${quoteShell(envFile)}`);
  }

  cd(dir: string): void {
    this.command("cd", dir);
  }

  /** One `mkdir -p` of `dirs`, run only when one of them is not a directory yet. */
  mkdir(...dirs: string[]): void {
    this.line(ensureDir(...dirs));
    this.checkForErrors();
  }

  rmFile(path: string): void {
    this.rmFiles(path);
  }

  /** One `rm -f` for all of `paths`, run only when one of them exists (or is a dangling link). */
  rmFiles(...paths: string[]): void {
    const tests = paths.map((p) => `[ -e ${quoteShell(p)} ] || [ -L ${quoteShell(p)} ]`);
    this.line(`if ${tests.join(" || ")}; then`);
    this.#indent++;
    this.command("rm", "-f", ...paths);
    this.endIf();
  }

  rmDir(path: string): void {
    this.ifDirectory(path);
    this.command("chmod", "-R", "u+rwX", path);
    this.endIf();
    this.command("rm", "-r", "-f", path);
  }

  ifDirectory(path: string): void {
    this.line(`if [ -d ${quoteShell(path)} ]; then`);
    this.#indent++;
  }

  ifFile(path: string): void {
    this.line(`if [ -e ${quoteShell(path)} ]; then`);
    this.#indent++;
  }

  /** `if <command> (silenced); then` */
  ifCommand(...argv: string[]): void {
    this.line(`if ${argv.map(quoteShell).join(" ")} >/dev/null 2>&1; then`);
    this.#indent++;
  }

  /** `if <command>; then`, the command's output in the job log. */
  ifCommandWithOutput(...argv: string[]): void {
    this.line(`if ${argv.map(quoteShell).join(" ")}; then`);
    this.#indent++;
  }

  else(): void {
    this.#indent--;
    this.line("else");
    this.#indent++;
  }

  endIf(): void {
    this.#indent--;
    this.line("fi");
  }

  /**
   * User commands: each is echoed as `$ command` in green, then run as typed.
   * A multi-line command shows its first line with a marker, or, with
   * `sectionPrefix` set (FF_SCRIPT_SECTIONS), a collapsed section holding it.
   */
  userCommands(commands: readonly string[], options: { sectionPrefix?: string } = {}): void {
    commands.forEach((raw, i) => {
      const command = raw.trim();
      if (command === "") {
        this.emptyLine();
      } else {
        const newline = command.indexOf("\n");
        if (newline < 0) {
          this.notice(`$ ${command}`);
        } else if (options.sectionPrefix !== undefined) {
          this.#scriptSection(`${options.sectionPrefix}_${i}`, `$ ${command}`);
        } else {
          this.notice(`$ ${command.slice(0, newline)} # collapsed multi-line command`);
        }
      }
      this.line(command);
      this.checkForErrors();
    });
  }

  #scriptSection(id: string, header: string): void {
    // The timestamp comes from the job's host at run time, as in the official runner.
    const stamp = "$(date +%s)";
    this.line(
      `printf '%s\\n' "section_start:${stamp}:section_${id}[hide_duration=true,collapsed=true]"` +
        `${quoteShell("\r" + ANSI_CLEAR + ANSI_BOLD_GREEN + header + ANSI_RESET)}`,
    );
    // Ends with a newline, as upstream's: the command's output starts a line of its own.
    this.line(
      `printf '%s\\n' "section_end:${stamp}:section_${id}"${quoteShell("\r" + ANSI_CLEAR)}`,
    );
  }

  /** The body written so far, without the wrapper. */
  body(): string {
    return this.#lines.map((l) => l + "\n").join("");
  }

  /** The complete script, to be fed to the shell on stdin. */
  finish(): string {
    let out = `${TERM_TRAP}\n\n`;
    if (this.#options.debugTrace) out += XTRACE;
    // pipefail where the shell has it (dash has not). `command` keeps a special
    // builtin's error from ending the shell, so no `$(set -o)` subshell is needed.
    out += "command set -o pipefail 2>/dev/null || true; set -o errexit\n";
    out += "set +o noclobber\n";
    const body = quoteShell(this.body());
    if (this.#options.legacyEval) {
      out += `: | eval ${body}\n`;
    } else {
      out += `(${TERM_TRAP}; eval ${body}) < /dev/null\n`;
    }
    out += "exit 0\n";
    return out;
  }
}

/** `mkdir -p dirs` behind a test: no process start when the directories are there. */
function ensureDir(...dirs: string[]): string {
  const quoted = dirs.map(quoteShell);
  return `${quoted.map((q) => `[ -d ${q} ]`).join(" && ")} || mkdir -p ${quoted.join(" ")}`;
}

/** Joins POSIX path parts (the job's paths are always POSIX here). */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  const absolute = joined.startsWith("/");
  const out: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (part !== ".." || !absolute) out.push(part);
  }
  const path = out.join("/");
  return absolute ? `/${path}` : path || ".";
}
