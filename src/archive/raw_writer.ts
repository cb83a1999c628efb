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
  const links: string[] = [];
  for (const path of paths) {
    const entry = await source.stat(path);
    if (entry?.kind === "file") files.push(path);
    if (entry?.kind === "symlink") links.push(path);
  }
  if (files.length !== 1) {
    // A link may lead out of the project: its target is never read.
    const link = links[0] === undefined
      ? ""
      : `: ${JSON.stringify(links[0])} is a symlink, which is not followed`;
    throw new ArchiveError(
      "",
      files.length === 0
        ? `The raw artifact format needs exactly one file, but none matched${link}`
        : `The raw artifact format needs exactly one file, but ${files.length} matched: ${
          files.slice(0, 5).join(", ")
        }`,
    );
  }
  return source.openFile(files[0] as string);
}
