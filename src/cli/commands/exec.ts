/** `runner exec`: runs the pipeline of a project's .gitlab-ci.yml locally. */
import type { CliContext } from "../cli_context.ts";
import { CommandError } from "../cli_context.ts";
import type { FlagSpec } from "../flags.ts";

export const EXEC_FLAGS: FlagSpec[] = [];

export function execCommand(_ctx: CliContext, _args: string[]): Promise<number> {
  throw new CommandError("runner exec is not available yet");
}
