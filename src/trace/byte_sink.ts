/**
 * Where one stage of the trace pipeline hands its bytes. Structurally the same
 * as `JobOutput` in executors/executor.ts, so an executor can write straight
 * into a `JobTrace`.
 *
 * A sink may keep a reference to `chunk` only until `write` returns: callers
 * are free to reuse the buffer afterwards, so a stage that holds bytes back
 * copies them.
 */
export interface ByteSink {
  write(chunk: Uint8Array): void;
}
