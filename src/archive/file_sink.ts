import type { ZipSink } from "./zip_writer.ts";

/**
 * A `ZipSink` writing to an open file. Deno's `write` may write fewer bytes
 * than asked: this writes them all before resolving, so the writer may reuse
 * the buffer then. The caller closes the file.
 */
export function fileSink(file: Deno.FsFile): ZipSink {
  return {
    async write(bytes) {
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    },
  };
}
