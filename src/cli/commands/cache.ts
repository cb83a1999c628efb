/** `runner cache clear`: removes the docker executor's cache and build volumes. */
import type { CliContext } from "../cli_context.ts";
import { CommandError } from "../cli_context.ts";
import type { FlagSpec } from "../flags.ts";

export const CACHE_FLAGS: FlagSpec[] = [];

export function cacheCommand(_ctx: CliContext, args: string[]): Promise<number> {
  throw new CommandError(`Unknown cache command "${args[0] ?? ""}": use "runner cache clear"`);
}
