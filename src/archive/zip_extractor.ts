/**
 * Extracts a ZIP into an `ArchiveTarget` with every hostile-input defence:
 * the whole central directory is checked before the first byte is written
 * (names, duplicates, entries under symlinks or files, size and ratio bounds,
 * overlapping entries, unsupported methods), then each entry is inflated with
 * its declared size as a hard cap and its CRC-32 verified. The target refuses
 * to write through symlinks on disk.
 *
 * A symlink is created with the target the archive gives it, also one that
 * leads out of the directory (a virtualenv's `bin/python -> /usr/bin/python3`,
 * a monorepo's `../../shared`), as the official runner's extractors do (its
 * fastzip and legacy zip extractors, for caches and artifacts alike). What a
 * link must never do is take a write: no entry may sit below a symlink of the
 * archive (refused before anything is written), links are created after every
 * file (fastzip defers them for the same reason), and the target never
 * follows a link already on disk. The extraction itself then never follows
 * one; what the job does with the links is the job's, as it could make them
 * itself.
 */
import type { ArchiveTarget, TargetFile } from "./archive_target.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";
import { gitPathWarning, isGitPath, normalizeEntryName } from "./entry_name.ts";
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from "./extract_limits.ts";
import type { RandomAccessReader } from "./random_access_reader.ts";
import { readZipDirectory, type ZipEntry } from "./zip_reader.ts";
import { crc32, InflateError, RawInflater } from "./_deflate.ts";
import {
  DeflatePool,
  type DeflateUnit,
  INFLATE,
  PIECE_BAD_CRC,
  PIECE_CORRUPT,
  PIECE_SHORT,
  PIECE_TOO_LARGE,
  UNIT_PIECES,
  UnitStock,
} from "./_deflate_pool.ts";
import { EventLoopTurns } from "./_event_loop_turns.ts";
import { LOCAL_HEADER_SIZE, METHOD_DEFLATE, METHOD_STORE, SIG_LOCAL } from "./_zip_format.ts";

export interface ExtractOptions {
  limits?: Partial<ExtractLimits>;
  /** Entries extracted at once; default 8, and 1 for a synchronous target. */
  concurrency?: number;
  /**
   * Threads that inflate (FF_USE_FASTZIP's FASTZIP_EXTRACTOR_CONCURRENCY);
   * default 1. Above 1, with a synchronous target (the local disk), small
   * entries are inflated and checked in groups of up to 256 KiB by
   * `threads - 1` Workers (~17 MiB each) while this thread reads the archive,
   * writes files and inflates large entries, helping the Workers while it
   * would otherwise wait.
   */
  threads?: number;
  /** Told about what is extracted all the same but worth a job-log warning (`.git` paths). */
  warn?: (message: string) => void;
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

/** Entries up to this size are inflated whole into their lane's buffer. */
const SMALL_ENTRY = 128 << 10;
/** Larger ones are read in pieces of this size... */
const READ_CHUNK = 64 << 10;
/** ...and written in pieces of this size. */
const WRITE_CHUNK = 128 << 10;
const decoder = new TextDecoder();

/**
 * What one extraction lane reuses from entry to entry: an inflate state and
 * input and output buffers. Allocating them per entry (node:zlib's one-shot
 * calls, arrays per read and per file) left the process at 260 MiB after 20k
 * files, most of it garbage waiting for a collection.
 */
class Lane {
  readonly inflater = new RawInflater();
  #input = new Uint8Array(0);
  #output = new Uint8Array(0);

  /** `length` compressed bytes from `offset`, in a buffer the lane's next read reuses. */
  async read(reader: RandomAccessReader, offset: number, length: number): Promise<Uint8Array> {
    if (reader.readInto === undefined) return await reader.read(offset, length);
    if (this.#input.length < length) this.#input = new Uint8Array(Math.max(length, 64 << 10));
    const into = this.#input.subarray(0, length);
    await reader.readInto(offset, into);
    return into;
  }

  /** An output buffer of exactly `size` bytes, reused by the lane's next entry. */
  output(size: number): Uint8Array {
    if (this.#output.length < size) this.#output = new Uint8Array(Math.max(size, 64 << 10));
    return this.#output.subarray(0, size);
  }
}

/**
 * Extracts `reader`'s archive into `target`. The event loop gets a turn at
 * least every 50 ms of work, and an abort of `options.signal` seen then
 * stops the extraction.
 */
export async function extractZip(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const turns = new EventLoopTurns(options.signal);
  try {
    return await extractEntries(reader, target, options, turns);
  } finally {
    turns.close();
  }
}

async function extractEntries(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  options: ExtractOptions,
  turns: EventLoopTurns,
): Promise<ExtractResult> {
  const limits = { ...DEFAULT_EXTRACT_LIMITS, ...options.limits };
  const entries = await readZipDirectory(reader);
  const { plan, dirs } = checkEntries(entries, reader.size, limits);
  if (plan.some((p) => isGitPath(p.path)) || [...dirs].some(isGitPath)) {
    gitPathWarning("extract", options.warn);
  }
  const links = plan.filter((p) => p.entry.kind === "symlink");
  const linkTargets = new Map<string, string>();
  const linkLane = new Lane();
  for (const item of links) {
    if (turns.isDue) await turns.take();
    const linkTarget = decoder.decode(await readEntryData(reader, item, linkLane));
    if (linkTarget === "" || linkTarget.includes("\0")) {
      throw new ArchiveError(
        item.entry.rawName,
        `Symlink ${quoteEntry(item.entry.rawName)} has an invalid target`,
      );
    }
    linkTargets.set(item.path, linkTarget);
  }

  for (const { entry, path } of plan) {
    if (entry.kind === "dir") dirs.add(path);
  }
  for (const dir of [...dirs].sort()) {
    options.signal?.throwIfAborted();
    if (turns.isDue) await turns.take();
    await target.mkdir(dir);
  }

  const files = plan.filter((p) => p.entry.kind === "file")
    .sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
  let bytes = 0;
  const width = Math.max(
    1,
    Math.min(options.concurrency ?? (target.synchronous ? 1 : 8), files.length),
  );
  const lanes = Array.from({ length: width }, () => new Lane());
  const threads = Math.floor(options.threads ?? 1);
  if (threads > 1 && target.synchronous && reader.readInto !== undefined) {
    const pool = new DeflatePool(threads - 1);
    try {
      bytes = await extractInParallel(reader, target, files, pool, lanes[0] as Lane, {
        turns,
        signal: options.signal,
      });
    } finally {
      pool.close();
    }
  } else {
    await runPool(files, width, async (item, lane) => {
      options.signal?.throwIfAborted();
      if (turns.isDue) await turns.take();
      const written = await extractFile(reader, target, item, lanes[lane] as Lane, turns);
      bytes += written;
    });
  }

  if (target.symlinks !== undefined) {
    options.signal?.throwIfAborted();
    if (links.length > 0) {
      await target.symlinks(
        links.map(({ path }) => ({ path, linkTarget: linkTargets.get(path) as string })),
      );
    }
  } else {
    for (const item of links) {
      options.signal?.throwIfAborted();
      if (turns.isDue) await turns.take();
      await target.symlink(item.path, linkTargets.get(item.path) as string);
    }
  }

  const explicitDirs = plan.filter((p) => p.entry.kind === "dir")
    .sort((a, b) => b.path.length - a.path.length);
  for (const { entry, path } of explicitDirs) {
    if (turns.isDue) await turns.take();
    await target.finishDir(path, { mode: entry.mode, mtime: entry.mtime });
  }
  return { files: files.length, dirs: explicitDirs.length, symlinks: links.length, bytes };
}

/**
 * Everything that can be decided from the central directory alone. Returns
 * the entries to extract and every directory some entry sits in.
 */
function checkEntries(
  entries: ZipEntry[],
  archiveSize: number,
  limits: ExtractLimits,
): { plan: Planned[]; dirs: Set<string> } {
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
  // "link/x" after "link -> /etc" is the classic escape. Each entry's
  // ancestors are checked upwards until one already checked: one new string
  // per entry, not one per ancestor of every entry.
  const dirs = new Set<string>();
  for (const { entry, path } of byPath.values()) {
    for (let slash = path.lastIndexOf("/"); slash > 0; slash = path.lastIndexOf("/", slash - 1)) {
      const dir = path.slice(0, slash);
      if (dirs.has(dir)) break;
      const parent = byPath.get(dir);
      if (parent && parent.entry.kind !== "dir") {
        const what = parent.entry.kind === "symlink" ? "a symlink" : "a file";
        throw new ArchiveError(
          entry.rawName,
          `Entry ${quoteEntry(entry.rawName)} is inside ${
            quoteEntry(parent.entry.rawName)
          }, which the archive stores as ${what}`,
        );
      }
      dirs.add(dir);
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

  return { plan: [...byPath.values()], dirs };
}

/**
 * Room read past a small entry's local header for its name and extra field,
 * so that header and data come in one read (zip(1) writes 28 bytes of extra
 * field; names are shorter than this in practice).
 */
const LOCAL_SLACK = 512;

/**
 * Where an entry's data starts, from its local header in `head` (read at the
 * entry's header offset, at least LOCAL_HEADER_SIZE bytes).
 */
function dataOffset(head: Uint8Array, { entry }: Planned, archiveSize: number): number {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== SIG_LOCAL) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} is corrupt: local header not found`,
    );
  }
  const start = entry.localHeaderOffset + LOCAL_HEADER_SIZE + view.getUint16(26, true) +
    view.getUint16(28, true);
  if (start + entry.compressedSize > archiveSize) {
    throw new ArchiveError(
      entry.rawName,
      `Entry ${quoteEntry(entry.rawName)} extends past the end of the archive`,
    );
  }
  return start;
}

/**
 * Whole data of a small entry, inflated and checked: a view of the lane's
 * buffer, valid until the lane's next entry.
 */
async function readEntryData(
  reader: RandomAccessReader,
  item: Planned,
  lane: Lane,
): Promise<Uint8Array> {
  const { entry } = item;
  // Header, name, extra field and data in one read; a second one when the
  // name and extra field are longer than the slack.
  const at = entry.localHeaderOffset;
  const both = await lane.read(
    reader,
    at,
    Math.min(LOCAL_HEADER_SIZE + LOCAL_SLACK + entry.compressedSize, reader.size - at),
  );
  const start = dataOffset(both, item, reader.size);
  const packed = start - at + entry.compressedSize <= both.length
    ? both.subarray(start - at, start - at + entry.compressedSize)
    : await lane.read(reader, start, entry.compressedSize);
  // One byte more than declared: filling it means the entry lies about its size.
  const out = lane.output(entry.size + 1);
  let data: Uint8Array;
  if (entry.method === METHOD_STORE) {
    // Copied: the reader may reuse its buffer, the target may write later.
    out.set(packed);
    data = out.subarray(0, packed.length);
  } else {
    lane.inflater.begin();
    const { filled } = inflate(lane.inflater, packed, 0, out, true, item);
    if (filled > entry.size) throw tooLarge(item);
    data = out.subarray(0, filled);
  }
  if (data.length !== entry.size) throw wrongSize(item, data.length);
  checkCrc(item, crc32(data));
  return data;
}

async function extractFile(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  item: Planned,
  lane: Lane,
  turns: EventLoopTurns,
): Promise<number> {
  const { entry, path } = item;
  const meta = { mode: entry.mode, mtime: entry.mtime };
  if (isSmall(item)) {
    const data = await readEntryData(reader, item, lane);
    await target.writeFile(path, data, meta);
    return data.length;
  }
  const start = dataOffset(
    await lane.read(reader, entry.localHeaderOffset, LOCAL_HEADER_SIZE),
    item,
    reader.size,
  );
  const file = await target.createFile(path, meta);
  try {
    const written = await streamEntry(reader, start, item, file, { lane, turns });
    await file.close();
    return written;
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/**
 * The files of a synchronous target, in archive order: runs of small entries
 * are read in one read each into units that `pool` inflates and checks (up
 * to `pool size + 3` units ahead), and each unit's files are written once it
 * is back; a large entry (or one whose header does not fit the unit's read)
 * is extracted here as without threads, while the Workers go on with the
 * units queued after it. Checks and messages are `extractFile`'s.
 */
async function extractInParallel(
  reader: RandomAccessReader,
  target: ArchiveTarget,
  files: readonly Planned[],
  pool: DeflatePool,
  lane: Lane,
  { turns, signal }: { turns: EventLoopTurns; signal: AbortSignal | undefined },
): Promise<number> {
  const units = new UnitStock(0);
  const queue: { items: Planned[]; unit: DeflateUnit | null }[] = [];
  let next = 0;
  let bytes = 0;
  while (true) {
    while (queue.length < pool.size + 3 && next < files.length) {
      const unit = units.take();
      const items = await readUnit(reader, files, next, unit);
      if (items.length === 0) {
        units.give(unit);
        queue.push({ items: [files[next] as Planned], unit: null });
        next++;
        continue;
      }
      next += items.length;
      pool.submit(unit);
      queue.push({ items, unit });
    }
    const head = queue.shift();
    if (head === undefined) return bytes;
    signal?.throwIfAborted();
    if (turns.isDue) await turns.take();
    if (head.unit === null) {
      bytes += await extractFile(reader, target, head.items[0] as Planned, lane, turns);
      continue;
    }
    const unit = await pool.result(head.unit);
    let at = 0;
    for (const [p, item] of head.items.entries()) {
      checkPiece(unit, p, item);
      const end = unit.outEnds[p] as number;
      const { mode, mtime } = item.entry;
      await target.writeFile(item.path, unit.out.subarray(at, end), { mode, mtime });
      bytes += end - at;
      at = end;
    }
    units.give(unit);
  }
}

const isSmall = ({ entry }: Planned) =>
  entry.size <= SMALL_ENTRY && entry.compressedSize <= SMALL_ENTRY;

/**
 * Reads the run of small entries from `files[from]` that fits `unit` (their
 * headers and data in one read) and sets the unit up to inflate them.
 * Returns the entries it holds: none when `files[from]` is large or its
 * header does not fit.
 */
async function readUnit(
  reader: RandomAccessReader,
  files: readonly Planned[],
  from: number,
  unit: DeflateUnit,
): Promise<Planned[]> {
  const start = (files[from] as Planned).entry.localHeaderOffset;
  let end = start;
  let output = 1; // the spare byte that catches an entry longer than declared
  let count = 0;
  for (let i = from; i < files.length && count < UNIT_PIECES; i++, count++) {
    const item = files[i] as Planned;
    if (!isSmall(item)) break;
    const { entry } = item;
    const rangeEnd = Math.min(
      reader.size,
      entry.localHeaderOffset + LOCAL_HEADER_SIZE + LOCAL_SLACK + entry.compressedSize,
    );
    if (rangeEnd - start > unit.raw.length || output + entry.size > unit.out.length) break;
    end = Math.max(end, rangeEnd);
    output += entry.size;
  }
  if (count === 0) return [];
  const raw = unit.raw.subarray(0, end - start);
  await reader.readInto!(start, raw);
  const items: Planned[] = [];
  let at = 0;
  for (const item of files.slice(from, from + count)) {
    const { entry } = item;
    const header = entry.localHeaderOffset - start;
    const data = dataOffset(raw.subarray(header), item, reader.size) - start;
    // A name or extra field longer than the slack: read on its own later.
    if (data + entry.compressedSize > raw.length) break;
    const p = items.length;
    unit.starts[p] = data;
    unit.ends[p] = data + entry.compressedSize;
    at += entry.size;
    unit.outEnds[p] = at;
    unit.stored[p] = entry.method === METHOD_STORE ? 1 : 0;
    unit.crcs[p] = entry.crc;
    items.push(item);
  }
  unit.mode = INFLATE;
  unit.count = items.length;
  return items;
}

/** Throws the error `extractFile` gives for a piece that failed its checks. */
function checkPiece(unit: DeflateUnit, p: number, item: Planned): void {
  switch (unit.stored[p]) {
    case PIECE_CORRUPT:
      throw corrupt(item, new InflateError(unit.corruption ?? "invalid data"));
    case PIECE_TOO_LARGE:
      throw tooLarge(item);
    case PIECE_SHORT:
      throw wrongSize(item, unit.ends[p] as number);
    case PIECE_BAD_CRC:
      checkCrc(item, unit.crcs[p] as number);
  }
}

/**
 * A large entry, read and inflated piece by piece on this thread (inflate
 * runs at hundreds of MB/s; the disk is the slow part) with the declared size
 * as a hard cap, each piece written before the next is made.
 */
async function streamEntry(
  reader: RandomAccessReader,
  start: number,
  item: Planned,
  file: TargetFile,
  { lane, turns }: { lane: Lane; turns: EventLoopTurns },
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
  const isStored = entry.method === METHOD_STORE;
  const out = lane.output(WRITE_CHUNK);
  if (!isStored) lane.inflater.begin();
  for (let o = 0; o < entry.compressedSize; o += READ_CHUNK) {
    if (turns.isDue) await turns.take();
    const length = Math.min(READ_CHUNK, entry.compressedSize - o);
    const chunk = await lane.read(reader, start + o, length);
    if (isStored) {
      await emit(chunk);
      continue;
    }
    const isLast = o + length === entry.compressedSize;
    let at = 0;
    while (true) {
      const step = inflate(lane.inflater, chunk, at, out, isLast, item);
      at = step.next;
      if (step.filled > 0) await emit(out.subarray(0, step.filled));
      if (step.filled < out.length) break;
    }
  }
  if (written !== entry.size) throw wrongSize(item, written);
  checkCrc(item, crc);
  return written;
}

function inflate(
  inflater: RawInflater,
  input: Uint8Array,
  at: number,
  output: Uint8Array,
  isLast: boolean,
  item: Planned,
): { filled: number; next: number } {
  try {
    return inflater.step(input, at, output, isLast);
  } catch (err) {
    if (err instanceof InflateError) throw corrupt(item, err);
    throw err;
  }
}

function wrongSize({ entry }: Planned, actual: number): ArchiveError {
  return new ArchiveError(
    entry.rawName,
    `Entry ${quoteEntry(entry.rawName)} is corrupt: ${actual} bytes instead of ${entry.size}`,
  );
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

/**
 * Runs `work` over items, `width` at a time, telling each call its lane
 * (0 to width-1; one lane runs one item at a time); the first failure wins
 * after all settle.
 */
export async function runPool<T>(
  items: readonly T[],
  width: number,
  work: (item: T, lane: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const run = async (lane: number) => {
    while (failure === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item, lane);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, (_, i) => run(i)));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
