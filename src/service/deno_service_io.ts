import { dirname } from "node:path";
import type { CommandResult } from "./service_plan.ts";
import type { CommandRunner, ServiceFiles } from "./service_manager.ts";

/**
 * The real commands and files behind ServiceManager. Needs `--allow-run`
 * for the service tool and `--allow-read/--allow-write` for the unit and
 * config paths; only cli/ constructs these.
 */
export class DenoCommandRunner implements CommandRunner {
  async run(argv: readonly string[]): Promise<CommandResult> {
    const [program, ...args] = argv;
    if (program === undefined) throw new TypeError("Cannot run an empty command");
    const output = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }
}

export class DenoServiceFiles implements ServiceFiles {
  async exists(path: string): Promise<boolean> {
    try {
      await Deno.lstat(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await Deno.mkdir(path, { recursive: true, mode });
  }

  async writeFile(path: string, content: string, mode: number): Promise<void> {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, content, { mode });
    // `mode` applies only when the file is created; make it hold for an
    // existing file too (umask may also have narrowed it).
    if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
  }

  async remove(path: string): Promise<void> {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}
