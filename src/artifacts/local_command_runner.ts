import type { CommandResult, CommandRunner } from "./command_runner.ts";

/** `CommandRunner` on this host, in directory `cwd`. */
export class LocalCommandRunner implements CommandRunner {
  constructor(readonly cwd: string) {}

  async run(args: readonly string[]): Promise<CommandResult> {
    const [cmd, ...rest] = args;
    if (cmd === undefined) throw new TypeError("Cannot run an empty command");
    const out = await new Deno.Command(cmd, {
      args: rest,
      cwd: this.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      success: out.success,
      stdout: out.stdout,
      stderr: new TextDecoder().decode(out.stderr),
    };
  }
}
