/**
 * Signals a whole process group (kill(-pgid)), as the official runner does
 * for shell stages and custom executor drivers.
 *
 * `Deno.kill` demands `--allow-run` for every program, which neither the
 * poller nor a custom executor process has: they may run only their own
 * programs, and `kill`. So when Deno refuses, the group is signalled through
 * kill(1). Resolves false when the group could not be signalled that way
 * either (kill(1) absent or not allowed); a group that is already gone
 * counts as signalled.
 */
export async function signalProcessGroup(
  pgid: number,
  signal: "SIGTERM" | "SIGKILL",
): Promise<boolean> {
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return true; // ESRCH: the group is already gone.
    }
  }
  try {
    await new Deno.Command("kill", {
      args: ["-s", signal.slice(3), "--", `-${pgid}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch {
    return false; // kill(1) is absent or not allowed
  }
}

/** SIGKILL to each group in `pgids`, at once. */
export async function killProcessGroups(pgids: Iterable<number>): Promise<void> {
  await Promise.all([...pgids].map((pgid) => signalProcessGroup(pgid, "SIGKILL")));
}
