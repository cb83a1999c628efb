/**
 * An executor process's stdin and stdout without Deno's web streams: plain
 * `read` and `write` calls on the files. Setting up a web stream over stdin
 * (and stdout), and each chunk through it, costs an executor process ~2 ms of
 * CPU on the way to its first job (scripts/bench/exec_job.ts); it reads and
 * writes nothing else there. `runExecutorProcess` takes these or web streams.
 */
/** What control messages are read from: a web stream, or `directSource`. */
export interface ByteSource {
  getReader(): { read(): Promise<ReadableStreamReadResult<Uint8Array>> };
}

/** Where frames are written: a web stream, or `directSink`. */
export interface ByteSink {
  getWriter(): {
    write(chunk: Uint8Array): Promise<void>;
    readonly ready: Promise<unknown>;
    close(): Promise<void>;
  };
}

/** Bytes per read of `directSource`: a pipe's capacity. */
const DIRECT_READ_BYTES = 64 * 1024;

/** `file` (the process's stdin) read by plain `read` calls, a pipe's capacity at a time. */
export function directSource(file: { read(p: Uint8Array): Promise<number | null> }): ByteSource {
  return {
    getReader: () => ({
      async read(): Promise<ReadableStreamReadResult<Uint8Array>> {
        const buffer = new Uint8Array(DIRECT_READ_BYTES);
        const n = await file.read(buffer);
        return n === null ? { done: true } : { done: false, value: buffer.subarray(0, n) };
      },
    }),
  };
}

/** `file` (the process's stdout) written by plain `write` calls, each chunk whole; closing closes it. */
export function directSink(
  file: { write(p: Uint8Array): Promise<number>; close(): void },
): ByteSink {
  return {
    getWriter: () => ({
      ready: Promise.resolve(),
      async write(chunk: Uint8Array): Promise<void> {
        for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
      },
      close(): Promise<void> {
        try {
          file.close();
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error);
        }
      },
    }),
  };
}
