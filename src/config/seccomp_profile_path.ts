/**
 * `security_opt = ["seccomp=/path/profile.json"]`: the file whose profile the
 * official runner (and the docker CLI) reads and inlines, as the daemon takes
 * only inline JSON. Pure; the poller grants the executor read access to it.
 */

/** The profile file an option names, or null (inline JSON, unconfined, builtin, no seccomp). */
export function seccompProfilePath(option: string): string | null {
  const eq = option.indexOf("=");
  if (eq < 0 || option.slice(0, eq) !== "seccomp") return null;
  const value = option.slice(eq + 1);
  if (value.startsWith("{") || value === "unconfined" || value === "builtin") return null;
  return value;
}
