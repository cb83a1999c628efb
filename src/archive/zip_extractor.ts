/**
 * Extracts a ZIP into an `ArchiveTarget` with every hostile-input defence:
 * the whole central directory is checked before the first byte is written
 * (names, duplicates, entries under symlinks or files, symlinks leading out,
 * size and ratio bounds, overlapping entries, unsupported methods), then each
 * entry is inflated with its declared size as a hard cap and its CRC-32
 * verified. The target refuses to write through symlinks on disk.
 */
import zlib from "node:zlib";
import type { ArchiveTarget, TargetFile } from "./archive_target.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";
import { isLinkInside, normalizeEntryName } from "./entry_name.ts";
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from "./extract_limits.ts";
import type { RandomAccessReader } from "./random_access_reader.ts";
import { readZipDirectory, type ZipEntry } from "./zip_reader.ts";
import { crc32 } from "./_deflate.ts";
import { LOCAL_HEADER_SIZE, METHOD_DEFLATE, METHOD_STORE, SIG_LOCAL } from "./_zip_format.ts";

export interface ExtractOptions {
  limits?: Partial<ExtractLimits>;
  /**
   * Create symlinks whose target leads outside the target directory (for
   * example a virtualenv's `bin/python -> /usr/bin/python3`). Off by default;
   * even when on, nothing is ever written through such a link.
   */
  allowSymlinksOutside?: boolean;
  /** Entries extracted at once; default 8. */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface ExtractResult {
  files: number;
  dirs: number;
  symlinks: number;
  /** Uncompressed bytes written. */
  bytes: number;
}

interface Planned {
  entry: ZipEntry;
  path: string;
}

const SMALL_ENTRY = 1 << 20;
const READ_CHUNK = 1 << 20;
const decoder = new TextDecoder();

export async function extractZip(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const limits = { ...DEFAULT_EXTRACT_LIMITS, ...options.limits };
  const entries = await readZipDirectory(reader);
  const plan = checkEntries(entries, reader.size, limits);
  const links = plan.filter((p) => p.entry.kind === "symlink");
  const linkTargets = new Map<string, string>();
  for (const item of links) {
    const linkTarget = decoder.decode(await readEntryData(reader, item));
    if (linkTarget === "" || linkTarget.includes("\0")) {
      throw new ArchiveError(
        item.entry.rawName,
        `Symlink ${quoteEntry(item.entry.rawName)} has an invalid target`,
      );
    }
    linkTargets.set(item.path, linkTarget);
  }
  // Checked once all targets are known: a link may lead through another one.
  for (const item of options.allowSymlinksOutside ? [] : links) {
    const linkTarget = linkTargets.get(item.path) as string;
    if (!isLinkInside(item.path, linkTarget, linkTargets)) {
      throw new ArchiveError(
        item.entry.rawName,
        `Symlink ${quoteEntry(item.entry.rawName)} points outside the target directory (to ${
          quoteEntry(linkTarget)
        })`,
      );
    }
  }

  const dirs = new Set<string>();
  for (const { entry, path } of plan) {
    if (entry.kind === "dir") dirs.add(path);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  for (const dir of [...dirs].sort()) {
    options.signal?.throwIfAborted();
    await target.mkdir(dir);
  }

  const files = plan.filter((p) => p.entry.kind === "file")
    .sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
  let bytes = 0;
  await runPool(files, options.concurrency ?? 8, async (item) => {
    options.signal?.throwIfAborted();
    const written = await extractFile(reader, target, item);
    bytes += written;
  });

  for (const item of links) {
    options.signal?.throwIfAborted();
    await target.symlink(item.path, linkTargets.get(item.path) as string);
  }

  const explicitDirs = plan.filter((p) => p.entry.kind === "dir")
    .sort((a, b) => b.path.length - a.path.length);
  for (const { entry, path } of explicitDirs) {
    await target.finishDir(path, { mode: entry.mode, mtime: entry.mtime });
  }
  return { files: files.length, dirs: explicitDirs.length, symlinks: links.length, bytes };
}

/** Everything that can be decided from the central directory alone. */
function checkEntries(
  entries: ZipEntry[],
  archiveSize: number,
  limits: ExtractLimits,
): Planned[] {
  if (entries.length > limits.maxEntries) {
    throw new ArchiveError(
      "",
      `Archive has ${entries.length} entries, more than the limit of ${limits.maxEntries}`,
    );
  }
  const byPath = new Map<string, Planned>();
  let total = 0;
  for (const entry of entries) {
    const path = normalizeEntryName(entry.rawName);
    const name = quoteEntry(entry.rawName);
    const seen = byPath.get(path);
    if (seen) {
      if (seen.entry.kind === "dir" && entry.kind === "dir") continue;
      throw new ArchiveError(entry.rawName, `Entry ${name} appears more than once in the archive`);
    }
    if (entry.method !== METHOD_STORE && entry.method !== METHOD_DEFLATE) {
      throw new ArchiveError(
        entry.rawName,
        `Entry ${name} uses compression method ${entry.method}, which is not supported`,
      );
    }
    if (entry.method === METHOD_STORE && entry.compressedSize !== entry.size) {
      throw new ArchiveError(entry.rawName, `Entry ${name} is stored but its sizes disagree`);
    }
    if (entry.localHeaderOffset + LOCAL_HEADER_SIZE + entry.compressedSize > archiveSize) {
      throw new ArchiveError(entry.rawName, `Entry ${name} extends past the end of the archive`);
    }
    total += entry.size;
    if (total > limits.maxTotalSize) {
      throw new ArchiveError(
        entry.rawName,
        `Archive expands to more than ${limits.maxTotalSize} bytes (limit reached at entry ${name})`,
      );
    }
    if (entry.size / Math.max(entry.compressedSize, 1) > limits.maxRatio) {
      throw new ArchiveError(
        entry.rawName,
        `Entry ${name} expands ${
          Math.round(entry.size / Math.max(entry.compressedSize, 1))
        } times, more than the limit of ${limits.maxRatio}: refusing a likely zip bomb`,
      );
    }
    if (entry.kind === "symlink" && entry.size > 4096) {
      throw new ArchiveError(entry.rawName, `Symlink ${name} has a target longer than 4096 bytes`);
    }
    byPath.set(path, { entry, path });
  }
  // Many entries each just under the per-entry ratio still multiply the
  // archive (twenty 16 MiB entries of zeros fit in 330 KB).
  if (total / Math.max(archiveSize, 1) > limits.maxArchiveRatio) {
    throw new ArchiveError(
      "",
      `Archive of ${archiveSize} bytes expands to ${total} bytes (${
        Math.round(total / Math.max(archiveSize, 1))
      } times), more than the limit of ${limits.maxArchiveRatio}: refusing a likely zip bomb`,
    );
  }

  // No entry may sit below a file or symlink of the same archive: writing
  // "link/x" after "link -> /etc" is the classic escape.
  for (const { entry, path } of byPath.values()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = byPath.get(parts.slice(0, i).join("/"));
      if (parent && parent.entry.kind !== "dir") {
        const what = parent.entry.kind === "symlink" ? "a symlink" : "a file";
        throw new ArchiveError(
          entry.rawName,
          `Entry ${quoteEntry(entry.rawName)} is inside ${
            quoteEntry(parent.entry.rawName)
          }, which the archive stores as ${what}`,
        );
      }
    }
  }

  // Overlapping entries share compressed data to multiply output (the
  // "better zip bomb"); honest archives never overlap.
  const ordered = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  let end = 0;
  for (const entry of ordered) {
    if (entry.localHeaderOffset < end) {
      throw new ArchiveError(
        entry.rawName,
        `Entry ${quoteEntry(entry.rawName)} overlaps another entry: refusing a likely zip bomb`,
      );
    }
    end = entry.localHeaderOffset + LOCAL_HEADER_SIZE + entry.compressedSize;
  }

  return [...byPath.values()];
}

/** Where an entry's data starts, from its local header. */
async function dataOffset(reader: RandomAccessReader, { entry }: Planned): Promise<number> {
  const head = await reader.read(entry.localHeaderOffset, LOCAL_HEADER_SIZE);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== SIG_LOCAL) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} is corrupt: local header not found`,
    );
  }
  const start = entry.localHeaderOffset + LOCAL_HEADER_SIZE + view.getUint16(26, true) +
    view.getUint16(28, true);
  if (start + entry.compressedSize > reader.size) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} extends past the end of the archive`,
    );
  }
  return start;
}

/** Whole data of a small entry, inflated and checked. */
async function readEntryData(reader: RandomAccessReader, item: Planned): Promise<Uint8Array> {
  const { entry } = item;
  const start = await dataOffset(reader, item);
  const packed = await reader.read(start, entry.compressedSize);
  const data = entry.method === METHOD_STORE ? packed : await inflateCapped(packed, item);
  checkCrc(item, crc32(data));
  return data;
}

async function extractFile(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  item: Planned,
): Promise<number> {
  const { entry, path } = item;
  const meta = { mode: entry.mode, mtime: entry.mtime };
  if (entry.size <= SMALL_ENTRY && entry.compressedSize <= SMALL_ENTRY) {
    const data = await readEntryData(reader, item);
    await target.writeFile(path, data, meta);
    return data.length;
  }
  const start = await dataOffset(reader, item);
  const file = await target.createFile(path, meta);
  try {
    const written = await streamEntry(reader, start, item, file);
    await file.close();
    return written;
  } catch (err) {
    await file.abort();
    throw err;
  }
}

async function streamEntry(
  reader: RandomAccessReader,
  start: number,
  item: Planned,
  file: TargetFile,
): Promise<number> {
  const { entry } = item;
  let crc = 0;
  let written = 0;
  const emit = async (chunk: Uint8Array) => {
    written += chunk.length;
    if (written > entry.size) throw tooLarge(item);
    crc = crc32(chunk, crc);
    await file.write(chunk);
  };
  if (entry.method === METHOD_STORE) {
    for (let o = 0; o < entry.compressedSize; o += READ_CHUNK) {
      await emit(await reader.read(start + o, Math.min(READ_CHUNK, entry.compressedSize - o)));
    }
  } else {
    // Web streams here, not node:zlib: backpressure and errors compose
    // cleanly, and large entries are few, so their lower speed hardly shows.
    const inflater = new DecompressionStream("deflate-raw");
    const writer = inflater.writable.getWriter();
    const feed = (async () => {
      for (let o = 0; o < entry.compressedSize; o += READ_CHUNK) {
        const chunk = await reader.read(start + o, Math.min(READ_CHUNK, entry.compressedSize - o));
        await writer.write(chunk as Uint8Array<ArrayBuffer>);
      }
      await writer.close();
    })();
    feed.catch(() => {});
    const output = inflater.readable.getReader();
    try {
      while (true) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await output.read();
        } catch (err) {
          throw corrupt(item, err instanceof Error ? err : new Error(String(err)));
        }
        if (next.done) break;
        await emit(next.value);
      }
    } finally {
      await output.cancel().catch(() => {});
    }
    await feed.catch((err) => {
      throw corrupt(item, err instanceof Error ? err : new Error(String(err)));
    });
  }
  if (written !== entry.size) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} is corrupt: ${written} bytes instead of ${entry.size}`,
    );
  }
  checkCrc(item, crc);
  return written;
}

/** Below this, inflating on the main thread beats a thread-pool round trip. */
const SYNC_INFLATE = 64 << 10;

function inflateCapped(packed: Uint8Array, item: Planned): Promise<Uint8Array> {
  const { entry } = item;
  if (packed.length <= SYNC_INFLATE && entry.size <= SMALL_ENTRY) {
    try {
      const out = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(entry.size, 1) });
      const data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      if (data.length !== entry.size) {
        return Promise.reject(
          new ArchiveError(
            entry.rawName,
            `Entry ${
              quoteEntry(entry.rawName)
            } is corrupt: ${data.length} bytes instead of ${entry.size}`,
          ),
        );
      }
      return Promise.resolve(data);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      return Promise.reject(
        /larger than|buffer/i.test(e.message) ? tooLarge(item) : corrupt(item, e),
      );
    }
  }
  return new Promise((resolve, reject) => {
    zlib.inflateRaw(packed, { maxOutputLength: Math.max(entry.size, 1) }, (err, out) => {
      if (err) {
        reject(/larger than|buffer/i.test(err.message) ? tooLarge(item) : corrupt(item, err));
        return;
      }
      const data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      if (data.length !== entry.size) {
        reject(
          new ArchiveError(
            entry.rawName,
            `Entry ${
              quoteEntry(entry.rawName)
            } is corrupt: ${data.length} bytes instead of ${entry.size}`,
          ),
        );
      } else {
        resolve(data);
      }
    });
  });
}

function checkCrc({ entry }: Planned, actual: number): void {
  if (actual !== entry.crc) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} is corrupt: CRC-32 is ${hex(actual)}, expected ${
        hex(entry.crc)
      }`,
    );
  }
}

function tooLarge({ entry }: Planned): ArchiveError {
  return new ArchiveError(
    entry.rawName,
    `Entry ${
      quoteEntry(entry.rawName)
    } expands past its declared size of ${entry.size} bytes: refusing a likely zip bomb`,
  );
}

function corrupt({ entry }: Planned, cause: Error): ArchiveError {
  return new ArchiveError(
    entry.rawName,
    `Entry ${quoteEntry(entry.rawName)} is corrupt: ${cause.message}`,
    { cause },
  );
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** Runs `work` over items, `width` at a time; the first failure wins after all settle. */
export async function runPool<T>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const lane = async () => {
    while (failure === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
