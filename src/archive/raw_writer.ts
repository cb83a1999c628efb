/**
 * The `raw` artifact format (§6.2): exactly one file's bytes, unchanged. Used
 * for reports such as dotenv.
 */
import type { ArchiveSource } from "./archive_source.ts";
import { ArchiveError } from "./archive_error.ts";

/** Rejects (before any byte is produced) unless exactly one regular file is given. */
export async function rawStream(
  source: ArchiveSource,
  paths: readonly string[],
): Promise<ReadableStream<Uint8Array>> {
  const files: string[] = [];
  for (const path of paths) {
    const entry = await source.stat(path);
    if (entry?.kind === "file") files.push(path);
  }
  if (files.length !== 1) {
    throw new ArchiveError(
      "",
      files.length === 0
        ? "The raw artifact format needs exactly one file, but none matched"
        : `The raw artifact format needs exactly one file, but ${files.length} matched: ${
          files.slice(0, 5).join(", ")
        }`,
    );
  }
  return source.openFile(files[0] as string);
}
