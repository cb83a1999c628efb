/** Script generation for bash and sh; pure, no I/O. */
export { isShellVariableName, quoteShell, unquotableField } from "./shell_quote.ts";
export {
  ANSI_BOLD_CYAN,
  ANSI_BOLD_GREEN,
  ANSI_BOLD_RED,
  ANSI_CLEAR,
  ANSI_RESET,
  ANSI_YELLOW,
  GITLAB_ENV_FILE,
  joinPath,
  type ScriptVariable,
  ScriptWriter,
  type ScriptWriterOptions,
  SHELL_NAMES,
  type ShellName,
} from "./script_writer.ts";
export {
  afterScript,
  cleanupScript,
  clearWorktreeScript,
  commandScript,
  EXTERNAL_GIT_CONFIG_FILE,
  getSourcesScript,
  type GitSources,
  type GitStrategy,
  prepareScript,
  type ScriptInfo,
  stepScript,
  type SubmoduleStrategy,
} from "./stage_scripts.ts";
