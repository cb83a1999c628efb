/**
 * A file size limit (`ulimit -f`, systemd's `LimitFSIZE=`) makes the kernel
 * send SIGXFSZ to a process whose write would pass it, and that signal's
 * default action ends the process: the runner died at once, without a line
 * in its log, when a job's log spilled to a temporary file or the journal
 * grew past the limit, and every job it had in hand was left running on
 * GitLab. With a handler the write fails with EFBIG ("File too large")
 * instead, which the trace store and the journal already handle (the log
 * stays in memory, the journal says it cannot be written). The Go runtime
 * of the official runner ignores SIGXFSZ for the same reason. A handler, not
 * SIG_IGN, so the processes the runner starts (job shells, their commands)
 * get the default action as they would anywhere else.
 */
export function surviveFileSizeLimit(): void {
  if (Deno.build.os === "windows") return;
  Deno.addSignalListener("SIGXFSZ", () => {});
}
