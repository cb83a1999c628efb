/** The shell executor: stages run on this host with bash or sh. */
export { ShellExecutor, type ShellExecutorOptions } from "./shell_executor.ts";
