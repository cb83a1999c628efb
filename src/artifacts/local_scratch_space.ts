import { LocalFileReader } from "../archive/local_file_reader.ts";
import type { RandomAccessReader } from "../archive/random_access_reader.ts";
import type { ScratchFile, ScratchSpace } from "./scratch_space.ts";

/** `ScratchSpace` in a host directory (the system temp dir when `dir` is undefined). */
export class LocalScratchSpace implements ScratchSpace {
  constructor(readonly dir?: string) {}

  async create(): Promise<ScratchFile> {
    const path = await Deno.makeTempFile({
      prefix: "artifacts-",
      suffix: ".tmp",
      ...(this.dir === undefined ? {} : { dir: this.dir }),
    });
    return {
      write: async (body) => {
        const file = await Deno.open(path, { write: true, truncate: true });
        let size = 0;
        const counted = body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              size += chunk.length;
              controller.enqueue(chunk);
            },
          }),
        );
        await counted.pipeTo(file.writable);
        return size;
      },
      open: (): Promise<RandomAccessReader> => LocalFileReader.open(path),
      remove: () => Deno.remove(path).catch(() => {}),
    };
  }
}
