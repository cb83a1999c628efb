import type { ZipSink } from "./zip_writer.ts";

/**
 * Whatever `produce` writes into its sink, as a stream: for consumers that
 * need a stream (fetch bodies, stores in a container). `produce` starts at
 * the first read and waits while the consumer does not read; cancelling the
 * stream makes its next write reject. Each chunk is a copy, since a stream's
 * consumer may keep it.
 */
export function sinkStream(
  produce: (sink: ZipSink) => Promise<unknown>,
): ReadableStream<Uint8Array> {
  let started = false;
  /** Set by cancel: the reason the next write rejects with. */
  const state: { cancelled: { reason: unknown } | null } = { cancelled: null };
  const throwIfCancelled = () => {
    if (state.cancelled) throw state.cancelled.reason;
  };
  /** Resumes a write that waits for the consumer to read. */
  let wake: (() => void) | null = null;
  const resume = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (started) return resume();
      started = true;
      const sink: ZipSink = {
        async write(bytes) {
          throwIfCancelled();
          controller.enqueue(bytes.slice());
          if ((controller.desiredSize ?? 0) > 0) return;
          await new Promise<void>((resolve) => wake = resolve);
          throwIfCancelled();
        },
      };
      produce(sink).then(
        () => {
          if (!state.cancelled) controller.close();
        },
        (err) => controller.error(err),
      );
    },
    cancel(reason) {
      state.cancelled = {
        reason: reason instanceof Error ? reason : new DOMException("Cancelled", "AbortError"),
      };
      resume();
    },
  });
}
