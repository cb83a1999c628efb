/**
 * The `gzip` artifact format (§6.2): one gzip member per file, in the order
 * given (callers sort), each member naming its file in the FNAME field. Used
 * for reports such as junit, which are small, so files are read whole.
 */
import type { ArchiveSource } from "./archive_source.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";
import { type CompressionLevel, deflateLevel } from "./compression_level.ts";
import { crc32, deflateAllSync } from "./_deflate.ts";
import { LeWriter, unixSeconds } from "./_zip_format.ts";

export interface GzipWriterOptions {
  level: CompressionLevel;
  warn?: (message: string) => void;
}

const encoder = new TextEncoder();

export function gzipStream(
  source: ArchiveSource,
  paths: readonly string[],
  options: GzipWriterOptions,
): ReadableStream<Uint8Array> {
  return ReadableStream.from(gzipMembers(source, paths, options));
}

async function* gzipMembers(
  source: ArchiveSource,
  paths: readonly string[],
  options: GzipWriterOptions,
): AsyncGenerator<Uint8Array> {
  // Level 0 would make a stored deflate stream; gzip readers accept it, but
  // reports are small and text, so even "fastest" compresses them.
  const level = Math.max(1, deflateLevel(options.level));
  for (const path of paths) {
    const entry = await source.stat(path);
    if (entry === null || entry.kind !== "file") {
      if (entry?.kind !== "dir") {
        options.warn?.(`${path}: not a regular file, not added to the gzip archive`);
      }
      continue;
    }
    let data: Uint8Array;
    try {
      data = await source.readFile(path);
    } catch (err) {
      throw new ArchiveError(
        path,
        `Cannot read ${quoteEntry(path)}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
    const name = encoder.encode(path.replaceAll("\0", ""));
    const header = new LeWriter(10 + name.length + 1)
      .u8(0x1f).u8(0x8b).u8(8).u8(0x08)
      .u32(Math.max(0, unixSeconds(entry.mtime)))
      .u8(0).u8(3)
      .raw(name).u8(0);
    yield header.bytes;
    yield deflateAllSync(data, level);
    yield new LeWriter(8).u32(crc32(data)).u32(data.length % 0x100000000).bytes;
  }
}
