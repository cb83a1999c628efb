/**
 * Switching to the `user` of config.toml (or `runner run --user`) for shell
 * jobs, as the official runner does: `su -s /bin/<shell> <user> -c "<shell>
 * -l"`. Only root can switch without a password, so the runner checks at start
 * that it is root and that `su` reaches the user, rather than failing every job.
 */

/** The user's numeric ids, as `id` prints them inside `su`. */
export interface SwitchedUser {
  name: string;
  uid: number;
  gid: number;
}

/** argv of `su` running `command` as `user` with `shell` (the official form). */
export function suArgs(user: string, shell: string, command: string): string[] {
  return ["-s", `/bin/${shell}`, user, "-c", command];
}

export interface UserSwitchOptions {
  /** Environment for `su` (PATH at least). */
  env: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  /** The runner's uid; Deno.uid() by default (null on Windows). */
  uid?: number | null;
}

/**
 * Resolves the ids of `user` by running `id` through `su`; rejects with an
 * Error that names the user and the reason when the runner cannot switch.
 */
export async function checkUserSwitch(
  user: string,
  options: UserSwitchOptions,
): Promise<SwitchedUser> {
  const uid = options.uid !== undefined ? options.uid : Deno.uid();
  if (uid !== 0) {
    throw new Error(
      `Cannot run jobs as user "${user}": switching user needs root, and the runner runs as ` +
        (uid === null ? "a user without a uid" : `uid ${uid}`),
    );
  }
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("su", {
      args: suArgs(user, "sh", "id -u; id -g"),
      env: options.env,
      clearEnv: true,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.signal ? { signal: options.signal } : {}),
    }).output();
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? '"su" not found in PATH' : String(err);
    throw new Error(`Cannot run jobs as user "${user}": ${why}`, { cause: err });
  }
  const stderr = new TextDecoder().decode(result.stderr).trim();
  const [uidText, gidText] = new TextDecoder().decode(result.stdout).trim().split("\n");
  if (!result.success || !/^\d+$/.test(uidText ?? "") || !/^\d+$/.test(gidText ?? "")) {
    throw new Error(
      `Cannot run jobs as user "${user}": su exited with code ${result.code}` +
        (stderr ? `: ${stderr}` : ""),
    );
  }
  return { name: user, uid: Number(uidText), gid: Number(gidText) };
}
