import { dirname, posix } from "node:path";
import type { LinuxInit } from "./service_definition.ts";
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

  async chown(path: string, user: string): Promise<void> {
    const uid = idOf(user, "-u");
    const gid = idOf(user, "-g");
    if (uid === undefined || gid === undefined) {
      throw new Error(`No user "${user}" on this host: cannot give it "${path}"`);
    }
    await Deno.chown(path, uid, gid);
  }

  async remove(path: string): Promise<void> {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

const USER_NAME = /^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/;

/** stdout of a program that succeeded; null when it failed or is not installed. */
function outputOf(program: string, args: string[]): string | null {
  try {
    const out = new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** `id -u` / `id -g` of a user: the account database as the system resolves it (Linux, macOS). */
function idOf(name: string, flag: "-u" | "-g"): number | undefined {
  if (!USER_NAME.test(name)) return undefined;
  const out = outputOf("id", [flag, name])?.trim();
  return out !== undefined && /^\d+$/.test(out) ? Number(out) : undefined;
}

/**
 * The first of `path` and its directories that the mode bits close to `user`
 * (ACLs aside), as the kernel checks them for a process of that user: search
 * on each directory, then read (`"read"`) or search (`"enter"`) on `path`.
 * Undefined when open, for root, or for an unknown user; a part that does not
 * exist yet is not checked (install creates it for the user).
 */
export function pathClosedTo(
  user: string,
  path: string,
  need: "read" | "enter",
): string | undefined {
  const uid = idOf(user, "-u");
  if (uid === undefined || uid === 0) return undefined;
  const gids = (outputOf("id", ["-G", user]) ?? "").trim().split(/\s+/).map(Number);
  const allows = (info: Deno.FileInfo, bit: number): boolean => {
    const mode = info.mode ?? 0o777;
    const shift = info.uid === uid ? 6 : gids.includes(info.gid ?? -1) ? 3 : 0;
    return ((mode >> shift) & bit) !== 0;
  };
  const dirs: string[] = [];
  for (let dir = posix.dirname(path);; dir = posix.dirname(dir)) {
    dirs.unshift(dir);
    if (posix.dirname(dir) === dir) break;
  }
  for (const [index, target] of [...dirs, path].entries()) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(target);
    } catch {
      return undefined;
    }
    const bit = index < dirs.length || need === "enter" ? 0o1 : 0o4;
    if (!allows(info, bit)) return target;
  }
  return undefined;
}

/**
 * The home directory of user `name` (`--init-user`), as upstream's
 * user.Lookup finds it: the account database through getent (which also
 * asks LDAP or sssd), else /etc/passwd; on macOS, whose /etc/passwd lists
 * only system accounts, dscl. undefined when there is no such user.
 */
export function homeOfUser(name: string): string | undefined {
  if (!USER_NAME.test(name)) return undefined;
  if (Deno.build.os === "darwin") {
    const out = outputOf("dscl", [".", "-read", `/Users/${name}`, "NFSHomeDirectory"]);
    return out?.match(/^NFSHomeDirectory:\s*(\S.*?)\s*$/m)?.[1];
  }
  let entry = outputOf("getent", ["passwd", name])?.split("\n")[0];
  if (entry === undefined) {
    try {
      entry = Deno.readTextFileSync("/etc/passwd").split("\n").find((line) =>
        line.startsWith(`${name}:`)
      );
    } catch {
      return undefined;
    }
  }
  const home = entry?.split(":")[5];
  return home === undefined || home === "" ? undefined : home;
}

/**
 * The init system of this Linux host, by the directories each makes at boot:
 * systemd's /run/systemd/system (sd_booted(3)), OpenRC's /run/openrc;
 * otherwise SysV init, or one that runs its /etc/init.d scripts (upstart).
 */
export function linuxInitSystem(exists: (path: string) => boolean = pathExists): LinuxInit {
  if (exists("/run/systemd/system")) return "systemd";
  if (exists("/run/openrc")) return "openrc";
  return "sysv";
}

function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
