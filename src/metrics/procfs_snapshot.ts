/**
 * The process's own /proc entries. Its own module, apart from the metrics:
 * the supervising thread of a scoped poller reads them for the worker, and
 * importing prom-client there would cost that thread several MB for nothing.
 */

/** The process's own /proc entries, read by a thread that may. */
export interface ProcfsSnapshot {
  /** /proc/self/limits */
  limits?: string;
  /** /proc/self/stat */
  stat?: string;
  /** Entries of /proc/self/fd. */
  openFds?: number;
}

/** Reads the snapshot here; entries this process may not read are left out. */
export function readProcfsSnapshot(): ProcfsSnapshot {
  const snapshot: ProcfsSnapshot = {};
  const limits = readProcFile("/proc/self/limits");
  if (limits !== undefined) snapshot.limits = limits;
  const stat = readProcFile("/proc/self/stat");
  if (stat !== undefined) snapshot.stat = stat;
  const fds = countOpenFds();
  if (fds !== undefined) snapshot.openFds = fds;
  return snapshot;
}

/** Entries of /proc/self/fd, or undefined (other OS, no read permission). */
export function countOpenFds(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const status = Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state;
  if (status !== "granted") return undefined;
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count - 1; // the directory handle we just opened
  } catch {
    return undefined;
  }
}

/** Linux procfs text, or undefined (other OS, no read permission, unreadable). */
export function readProcFile(path: string): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}
