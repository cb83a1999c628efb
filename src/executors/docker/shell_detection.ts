/**
 * Which shell runs a job's stage scripts in a container: bash if present,
 * else sh, looked up where the official detection script looks, in its
 * order. Pure: the caller says whether a path exists.
 */
import type { ShellName } from "../executor.ts";

/** Where the official shell detection looks, in order. */
export const SHELL_CANDIDATES: readonly { path: string; shell: ShellName }[] = [
  { path: "/usr/local/bin/bash", shell: "bash" },
  { path: "/usr/bin/bash", shell: "bash" },
  { path: "/bin/bash", shell: "bash" },
  { path: "/usr/local/bin/sh", shell: "sh" },
  { path: "/usr/bin/sh", shell: "sh" },
  { path: "/bin/sh", shell: "sh" },
  { path: "/busybox/sh", shell: "sh" },
];

/**
 * The first candidate that exists, or null. Every path is asked at once
 * (each a round trip to the daemon), and the answer comes as soon as the
 * paths before the found one answered: a busybox image's /bin/sh does not
 * wait for /busybox/sh, the daemon's slowest answer under load. An error
 * for a path before the found one rejects; one after it is ignored.
 */
export async function detectShell(
  exists: (path: string) => Promise<boolean>,
): Promise<{ shell: ShellName; shellPath: string } | null> {
  const lookups = SHELL_CANDIDATES.map((c) =>
    exists(c.path).then((isFound) => ({ isFound }), (error: unknown) => ({ error }))
  );
  for (const [i, lookup] of lookups.entries()) {
    const answer = await lookup;
    if ("error" in answer) throw answer.error;
    const candidate = SHELL_CANDIDATES[i]!;
    if (answer.isFound) return { shell: candidate.shell, shellPath: candidate.path };
  }
  return null;
}
