/**
 * Signals a whole process group, as the official runner does with
 * kill(-pid) for custom executor drivers.
 *
 * `Deno.kill` demands `--allow-run` for every program, which the executor
 * process does not have: it may run only its driver programs (and `kill`).
 * So when Deno refuses, the group is signalled through kill(1); when that is
 * not allowed either, only the group leader is signalled, which is the best
 * a process without the right can do.
 */
export async function signalProcessGroup(
  child: Deno.ChildProcess,
  signal: "SIGTERM" | "SIGKILL",
): Promise<void> {
  try {
    Deno.kill(-child.pid, signal);
    return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return; // ESRCH: the group is already gone.
    }
  }
  try {
    await new Deno.Command("kill", {
      args: ["-s", signal.slice(3), "--", `-${child.pid}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return;
  } catch {
    // kill(1) is absent or not allowed: fall back to the leader.
  }
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}
