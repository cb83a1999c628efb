/**
 * Streaming ZIP writer: entries are produced as the consumer reads, memory is
 * bounded by a small look-ahead window (not by archive size). Files are
 * compressed one after the other on the calling thread, through two reused
 * deflate states (see _deflate.ts for why not node:zlib's asynchronous calls:
 * in Deno they run on this thread too). Stores UNIX modes and symlinks the way the official
 * runner does (st_mode in the high external attributes, link target as the
 * stored content) plus the 0x5455 extended timestamp; switches to ZIP64 when
 * sizes, offsets or the entry count need it.
 */
import type { ArchiveSource, SourceEntry } from "./archive_source.ts";
import { ArchiveError, quoteEntry } from "./archive_error.ts";
import { type CompressionLevel, deflateLevel } from "./compression_level.ts";
import { crc32, RawDeflater } from "./_deflate.ts";
import { gitPathWarning, isGitPath } from "./entry_name.ts";
import {
  BLOCK as UNIT_BLOCK,
  DeflatePool,
  type DeflateUnit,
  FILES as UNIT_FILES,
  LAST_BLOCK as UNIT_LAST_BLOCK,
  UNIT_BYTES,
  UNIT_PIECES,
  UnitStock,
} from "./_deflate_pool.ts";
import { orderedWindow } from "./_ordered_window.ts";
import { EventLoopTurns } from "./_event_loop_turns.ts";
import { sinkStream } from "./sink_stream.ts";
import {
  CENTRAL_HEADER_SIZE,
  dosDateTime,
  EOCD_SIZE,
  EXTRA_EXT_TIME,
  EXTRA_ZIP64,
  FLAG_DATA_DESCRIPTOR,
  FLAG_UTF8,
  HOST_UNIX,
  LeWriter,
  LOCAL_HEADER_SIZE,
  MAX16,
  MAX32,
  METHOD_DEFLATE,
  METHOD_STORE,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SIG_CENTRAL,
  SIG_DATA_DESCRIPTOR,
  SIG_EOCD,
  SIG_LOCAL,
  SIG_ZIP64_EOCD,
  SIG_ZIP64_LOCATOR,
  unixSeconds,
  VERSION_DEFAULT,
  VERSION_ZIP64,
  ZIP64_EOCD_SIZE,
  ZIP64_LOCATOR_SIZE,
} from "./_zip_format.ts";

export interface ZipWriterOptions {
  level: CompressionLevel;
  /**
   * Entries prepared ahead of the output; default 32. A synchronous source
   * (one with `readFileInto`, the local disk) is read one entry at a time.
   */
  lookAhead?: number;
  /** Told about paths that vanished or cannot be archived; they are skipped. */
  warn?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * Threads that compress (FF_USE_FASTZIP's ARCHIVER_CONCURRENCY); default 1.
   * Above 1, a source that reads without waiting (the local disk) is
   * compressed by `concurrency - 1` Workers, helped by this thread while it
   * would otherwise wait, in units of up to 256 KiB (larger files in
   * independent blocks, the pigz way); each Worker costs ~17 MiB. Other
   * sources, and level 0, use this thread only.
   */
  concurrency?: number;
}

/**
 * Files up to this size are read whole and compressed in one call; a
 * synchronous source reads them into one reused buffer.
 */
const SMALL_FILE = 1 << 20;
/** Large files from a synchronous source are read in blocks of this size. */
const BLOCK = 256 << 10;
/** Output is coalesced into chunks of about this size. */
const OUTPUT_CHUNK = 128 << 10;
/** Streamed entries at least this large get ZIP64 sizes up front. */
const STREAM_ZIP64_FROM = 0xf0000000;

interface Prepared {
  path: string;
  entry: SourceEntry;
  /** Complete compressed (or stored) data, or null for a streamed large file. */
  data: Uint8Array | null;
  /** A large file's data, already in the making (compressed by several threads). */
  blocks?: AsyncIterable<Block>;
  method: number;
  crc: number;
  size: number;
}

interface CentralRecord {
  name: Uint8Array;
  flags: number;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
  externalAttrs: number;
  mtime: Date;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Where `writeZip` puts the archive, in order. Call order: `write` one at a
 * time (the writer awaits each before the next); nothing after `writeZip`
 * settles.
 */
export interface ZipSink {
  /**
   * Takes the next bytes of the archive. `bytes` is a view of a buffer the
   * writer fills again once the returned promise resolves: write or copy
   * them before resolving, and keep no reference after. A rejection stops
   * the writer, which rejects with it.
   */
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * Writes a ZIP of `paths` (relative to the source root, archived in the given
 * order; directories are archived as entries, not walked) into `sink`, and
 * resolves with its size. Output goes through two reused buffers, one being
 * written while the other fills: a fresh array per chunk (what a stream
 * hands its consumer) left ~55 MiB waiting for garbage collection over 20k
 * files. When it settles, no `write` is outstanding. The event loop gets a
 * turn at least every 50 ms of work, and an abort of `options.signal` seen
 * then stops the writer.
 */
export async function writeZip(
  source: ArchiveSource,
  paths: readonly string[],
  sink: ZipSink,
  options: ZipWriterOptions,
): Promise<number> {
  if (paths.some(isGitPath)) gitPathWarning("archive", options.warn);
  const out = new OutputBuffers(sink);
  const turns = new EventLoopTurns(options.signal);
  const threads = Math.floor(options.concurrency ?? 1);
  const pool = threads > 1 && deflateLevel(options.level) !== 0 && source.readFileInto &&
      source.readFileAt
    ? new DeflatePool(threads - 1)
    : null;
  try {
    await writeEntries(source, paths, out, options, turns, pool);
    await out.flush();
    if (pool?.failure) {
      options.warn?.(
        `FF_USE_FASTZIP: no compression thread could start (${pool.failure}): compressed on one thread`,
      );
    }
  } finally {
    pool?.close();
    turns.close();
    await out.settle();
  }
  return out.size;
}

/**
 * A ZIP as a stream, for consumers that take one (fetch bodies, stores).
 * Reading drives the work; cancelling stops the writer at its next write.
 * Each chunk is a copy, since a stream's consumer may keep it: prefer
 * `writeZip` where a sink will do.
 */
export function zipStream(
  source: ArchiveSource,
  paths: readonly string[],
  options: ZipWriterOptions,
): ReadableStream<Uint8Array> {
  return sinkStream((sink) => writeZip(source, paths, sink, options));
}

async function writeEntries(
  source: ArchiveSource,
  paths: readonly string[],
  out: OutputBuffers,
  options: ZipWriterOptions,
  turns: EventLoopTurns,
  pool: DeflatePool | null,
): Promise<void> {
  const level = deflateLevel(options.level);
  // The central directory, kept as columns of numbers (about 48 bytes an
  // entry) and encoded at the end with names taken again from `paths`: 20k
  // records kept as objects cost several MiB of heap, and encoding them as
  // each entry ended kept a 4 MiB doubling buffer.
  const central = new CentralColumns(paths.length);
  // Each entry's name and headers are encoded into these and copied into the
  // output before the next entry: no arrays per entry for the collector.
  const names = new NameEncoder();
  const headers = new Uint8Array(HEADER_SCRATCH);
  let entries = 0;
  let offset = 0;

  // One buffer for every small file a synchronous source can read into, and
  // one deflate state for all small files; each file is read, checksummed and
  // compressed without yielding, so neither is ever shared.
  const scratch = source.readFileInto ? new Uint8Array(SMALL_FILE) : null;
  const deflater = new RawDeflater(level);
  let large: LargeFileTools | null = null;
  // A synchronous source has nothing to wait for, so looking ahead overlaps
  // nothing: its entries are prepared one at a time, each only once the one
  // before is written, and a small file's data is handed on as a view of the
  // deflater's (or the scratch) buffer instead of a copy. The copies (one
  // array per file, freed only at the next collection) held 3+ MiB of
  // native memory over 20k files.
  const tools: PrepareTools = { level, scratch, deflater, copy: scratch === null };
  const prepared = pool !== null
    ? inParallel(source, paths, level, pool, options.signal)
    : scratch !== null
    ? oneAtATime(paths.length, (i) => prepare(source, paths[i] as string, tools))
    : orderedWindow(
      paths.length,
      options.lookAhead ?? 32,
      (i) => prepare(source, paths[i] as string, tools),
    );
  let index = -1;
  for await (const item of prepared) {
    index++;
    options.signal?.throwIfAborted();
    if (turns.isDue) await turns.take();
    if (item === null) continue;
    if ("skipped" in item) {
      options.warn?.(item.skipped);
      continue;
    }
    const isDir = item.entry.kind === "dir";
    const name = names.encode(isDir ? `${item.path}/` : item.path);
    const flagsBase = isAscii(item.path) ? 0 : FLAG_UTF8;
    const externalAttrs = modeBits(item.entry) * 0x10000 + (isDir ? 0x10 : 0);
    const record: CentralRecord = {
      name,
      flags: flagsBase,
      method: item.method,
      crc: item.crc,
      compressed: 0,
      size: item.size,
      offset,
      externalAttrs,
      mtime: item.entry.mtime,
    };

    if (item.data !== null) {
      record.compressed = item.data.length;
      const header = localHeader(record, false, headers);
      offset += header.length + item.data.length;
      await out.push(header);
      await out.push(item.data);
    } else {
      // Large file: stream it with a data descriptor after the data.
      const zip64 = item.entry.size >= STREAM_ZIP64_FROM;
      record.flags |= FLAG_DATA_DESCRIPTOR;
      record.method = level === 0 ? METHOD_STORE : METHOD_DEFLATE;
      const header = localHeader(record, zip64, headers);
      offset += header.length;
      await out.push(header);
      let crc = 0;
      let size = 0;
      let compressed = 0;
      const blocks = item.blocks ?? oneThreadBlocks(
        source,
        item.path,
        level,
        large ??= {
          deflater: new RawDeflater(level),
          buffer: source.readFileAt ? new Uint8Array(BLOCK) : EMPTY,
          deflated: new Uint8Array(OUTPUT_CHUNK),
        },
        options.signal,
      );
      for await (const block of blocks) {
        crc = crc32(block.raw, crc);
        size += block.raw.length;
        compressed += block.out.length;
        await out.push(block.out);
        if (turns.isDue) await turns.take();
      }
      if (!zip64 && (size >= MAX32 || compressed >= MAX32)) {
        throw new ArchiveError(
          item.path,
          `Cannot archive ${quoteEntry(item.path)}: it grew past 4 GiB while being archived`,
        );
      }
      record.crc = crc;
      record.size = size;
      record.compressed = compressed;
      const descriptor = new LeWriter(zip64 ? 24 : 16)
        .u32(SIG_DATA_DESCRIPTOR).u32(crc);
      if (zip64) descriptor.u64(compressed).u64(size);
      else descriptor.u32(compressed).u32(size);
      offset += compressed + descriptor.bytes.length;
      await out.push(descriptor.bytes);
    }
    central.add(index, record);
    entries++;
  }

  const cdStart = offset;
  for (let e = 0; e < entries; e++) {
    const header = centralHeader(central.record(e, paths, names), headers);
    offset += header.length;
    await out.push(header);
    if (turns.isDue) await turns.take();
  }
  const cdSize = offset - cdStart;
  const needsZip64 = entries >= MAX16 || cdStart >= MAX32 || cdSize >= MAX32;
  if (needsZip64) {
    const zip64EocdOffset = offset;
    const record = new LeWriter(ZIP64_EOCD_SIZE + ZIP64_LOCATOR_SIZE)
      .u32(SIG_ZIP64_EOCD).u64(ZIP64_EOCD_SIZE - 12)
      .u16((HOST_UNIX << 8) | VERSION_ZIP64).u16(VERSION_ZIP64)
      .u32(0).u32(0)
      .u64(entries).u64(entries)
      .u64(cdSize).u64(cdStart)
      .u32(SIG_ZIP64_LOCATOR).u32(0).u64(zip64EocdOffset).u32(1);
    offset += record.bytes.length;
    await out.push(record.bytes);
  }
  const count = Math.min(entries, MAX16);
  const eocd = new LeWriter(EOCD_SIZE)
    .u32(SIG_EOCD).u16(0).u16(0)
    .u16(count).u16(count)
    .u32(Math.min(cdSize, MAX32)).u32(Math.min(cdStart, MAX32))
    .u16(0);
  await out.push(eocd.bytes);
}

type PrepareResult = Prepared | { skipped: string } | null;

interface PrepareTools {
  level: number;
  scratch: Uint8Array | null;
  deflater: RawDeflater;
  /**
   * Whether data read into `scratch` or deflated by `deflater` must be
   * copied: it must when entries are prepared ahead (their buffers are reused
   * by the next entry); not when each is written before the next is prepared.
   */
  copy: boolean;
}

/** `start(i)` for each item in order, the next one started only when the consumer asks for it. */
async function* oneAtATime<T>(count: number, start: (index: number) => Promise<T>) {
  for (let i = 0; i < count; i++) yield await start(i);
}

async function prepare(
  source: ArchiveSource,
  path: string,
  tools: PrepareTools,
): Promise<PrepareResult> {
  const { level, scratch, deflater } = tools;
  let entry: SourceEntry | null;
  try {
    entry = await source.stat(path);
  } catch (err) {
    return { skipped: `${path}: ${describe(err)}` };
  }
  if (entry?.kind !== "file") return notAFile(source, path, entry);
  if (entry.size > SMALL_FILE) {
    return { path, entry, data: null, method: METHOD_DEFLATE, crc: 0, size: entry.size };
  }
  if (scratch !== null && entry.size <= scratch.length) {
    const done = compressInto(source, path, entry, { ...tools, scratch });
    if (done !== null) return done;
  }
  let raw: Uint8Array;
  try {
    raw = await source.readFile(path);
  } catch (err) {
    if (isNotFound(err)) return { skipped: `${path}: no such file or directory` };
    throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
      cause: err,
    });
  }
  if (raw.length > SMALL_FILE) {
    // It grew since stat: stream it instead.
    return {
      path,
      entry: { ...entry, size: raw.length },
      data: null,
      method: METHOD_DEFLATE,
      crc: 0,
      size: raw.length,
    };
  }
  const crc = crc32(raw);
  if (level === 0 || raw.length === 0) {
    return { path, entry, data: raw, method: METHOD_STORE, crc, size: raw.length };
  }
  const packed = deflater.deflate(raw);
  // Incompressible data is stored, as zip(1) does.
  if (packed.length >= raw.length) {
    return { path, entry, data: raw, method: METHOD_STORE, crc, size: raw.length };
  }
  // The deflater reuses its output buffer.
  const data = tools.copy ? packed.slice() : packed;
  return { path, entry, data, method: METHOD_DEFLATE, crc, size: raw.length };
}

/** An entry that is not a regular file: gone, a directory, a symlink or other. */
async function notAFile(
  source: ArchiveSource,
  path: string,
  entry: SourceEntry | null,
): Promise<PrepareResult> {
  switch (entry?.kind) {
    case undefined:
      return { skipped: `${path}: no such file or directory` };
    case "dir":
      return { path, entry, data: new Uint8Array(0), method: METHOD_STORE, crc: 0, size: 0 };
    case "symlink": {
      const target = encoder.encode(await source.readLink(path));
      return {
        path,
        entry,
        data: target,
        method: METHOD_STORE,
        crc: crc32(target),
        size: target.length,
      };
    }
    default:
      return { skipped: `${path}: not a regular file, directory or symlink` };
  }
}

/**
 * A small file read into `scratch` and compressed at once, all synchronously;
 * null when it grew past `scratch` since stat (the caller reads it normally).
 */
function compressInto(
  source: ArchiveSource,
  path: string,
  entry: SourceEntry,
  { level, scratch, deflater, copy }: PrepareTools & { scratch: Uint8Array },
): PrepareResult {
  let length: number;
  try {
    length = source.readFileInto!(path, scratch);
  } catch (err) {
    if (isNotFound(err)) return { skipped: `${path}: no such file or directory` };
    throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
      cause: err,
    });
  }
  if (length < 0) return null;
  const raw = scratch.subarray(0, length);
  const crc = crc32(raw);
  if (level !== 0 && length > 0) {
    const packed = deflater.deflate(raw);
    if (packed.length < length) {
      // The deflater reuses its output buffer.
      const data = copy ? packed.slice() : packed;
      return { path, entry, data, method: METHOD_DEFLATE, crc, size: length };
    }
  }
  // Stored (level 0, empty or incompressible, as zip(1) does); the scratch is reused.
  return { path, entry, data: copy ? raw.slice() : raw, method: METHOD_STORE, crc, size: length };
}

interface Block {
  raw: Uint8Array;
  out: Uint8Array;
}

/** Entries in path order: ready, or waiting for the unit that compresses them. */
interface Slot {
  items: PrepareResult[];
  /** The unit submitted to the pool; null for entries that need no compression. */
  sent: DeflateUnit | null;
}

/**
 * Entries of a source that reads without waiting, compressed by `pool`:
 * files that fit a unit (UNIT_BYTES) are read into units, one file after
 * the other, that the pool's Workers deflate, and a larger file is read in
 * blocks of a unit's size (see `parallelBlocks`). This thread reads and
 * writes; it deflates a unit itself only when it would otherwise wait
 * (`pool.helpHere`). At most `pool size + 3` units are filled or out at once,
 * their buffers reused: one fewer saved ~6 MiB but lost ~10% beside two
 * busy cores (scripts/bench/archive.ts's child, 6 alternated runs).
 * Entries come out in path order, as from the one-thread writer.
 */
async function* inParallel(
  source: ArchiveSource,
  paths: readonly string[],
  level: number,
  pool: DeflatePool,
  signal: AbortSignal | undefined,
): AsyncGenerator<PrepareResult> {
  const units = new UnitStock(level);
  const window = pool.size + 3;
  const slots: Slot[] = [];
  // Typed by a cast: the closures below assign it, which narrowing from `= null` would miss.
  let filling = null as { unit: DeflateUnit; items: PrepareResult[]; used: number } | null;
  const ready = (item: PrepareResult): Slot => ({ items: [item], sent: null });

  /** An entry with nothing to compress, after those before it. */
  const inOrder = (item: PrepareResult) => {
    if (filling !== null) filling.items.push(item);
    else slots.push(ready(item));
  };
  /** Queues the unit being filled for compression. */
  const send = () => {
    if (filling === null) return;
    const { unit, items } = filling;
    filling = null;
    unit.mode = UNIT_FILES;
    pool.submit(unit);
    slots.push({ items, sent: unit });
  };
  /** Yields the first slot's entries, helping to compress while they are not ready. */
  async function* next(): AsyncGenerator<PrepareResult> {
    const slot = slots.shift() as Slot;
    if (slot.sent === null) return yield* slot.items;
    const unit = await pool.result(slot.sent);
    let start = 0;
    let p = 0;
    for (const item of slot.items) {
      // Entries with data (directories, links) or none (skipped) ride along in order.
      if (item !== null && "data" in item && item.data === null) {
        const end = unit.outEnds[p] as number;
        item.data = unit.out.subarray(start, end);
        item.method = unit.stored[p] === 1 ? METHOD_STORE : METHOD_DEFLATE;
        item.crc = unit.crcs[p] as number;
        start = end;
        p++;
      }
      yield item;
    }
    units.give(unit);
  }
  async function* all(): AsyncGenerator<PrepareResult> {
    send();
    while (slots.length > 0) yield* next();
  }
  /**
   * Reads a small file into the unit being filled (a new one when it does
   * not fit): its length, -1 when it outgrew a unit, null when it is gone.
   */
  const readSmall = (path: string): number | null => {
    for (let attempt = 0;; attempt++) {
      filling ??= { unit: units.take(), items: [], used: 0 };
      let length: number;
      try {
        length = source.readFileInto!(path, filling.unit.raw.subarray(filling.used));
      } catch (err) {
        if (isNotFound(err)) return null;
        throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
          cause: err,
        });
      }
      if (length >= 0 || attempt === 1 || filling.unit.count === 0) return length;
      send();
    }
  };

  for (const path of paths) {
    signal?.throwIfAborted();
    let entry: SourceEntry | null;
    try {
      entry = await source.stat(path);
    } catch (err) {
      inOrder({ skipped: `${path}: ${describe(err)}` });
      continue;
    }
    if (entry?.kind !== "file") {
      // Gone, a directory, a symlink or other: nothing to compress, kept in order.
      inOrder(await notAFile(source, path, entry));
    } else {
      // One larger than a unit would be read (up to two units' worth) only
      // to find it does not fit.
      const length = entry.size <= UNIT_BYTES ? readSmall(path) : -1;
      if (length === null) {
        inOrder({ skipped: `${path}: no such file or directory` });
      } else if (length < 0) {
        // Large, or grown past a unit since stat.
        yield* all();
        yield {
          path,
          entry,
          data: null,
          blocks: parallelBlocks(source, path, units, pool, signal),
          method: METHOD_DEFLATE,
          crc: 0,
          size: entry.size,
        };
      } else {
        const f = filling!;
        f.items.push({ path, entry, data: null, method: METHOD_DEFLATE, crc: 0, size: length });
        f.used += length;
        f.unit.ends[f.unit.count++] = f.used;
        if (f.unit.count === UNIT_PIECES || f.used === f.unit.raw.length) send();
      }
    }
    while (slots.length > 0 && pool.isDone((slots[0] as Slot).sent)) yield* next();
    while (slots.length + (filling === null ? 0 : 1) >= window) yield* next();
  }
  yield* all();
}

/**
 * A large file from a source that reads without waiting, in independent
 * blocks of a unit's size that `pool` deflates, each ending with a sync
 * flush and the last with the stream's end: the blocks concatenate into one
 * deflate stream, which any inflater reads (pigz's technique, without its
 * primed dictionaries: a few percent larger). At most `pool size + 2`
 * blocks are out at once; this thread deflates one itself when it would
 * otherwise wait.
 */
async function* parallelBlocks(
  source: ArchiveSource,
  path: string,
  units: UnitStock,
  pool: DeflatePool,
  signal: AbortSignal | undefined,
): AsyncGenerator<Block> {
  const out: DeflateUnit[] = [];
  let offset = 0;
  let isRead = false;
  while (!isRead || out.length > 0) {
    while (!isRead && out.length < pool.size + 2) {
      signal?.throwIfAborted();
      const unit = units.take();
      let length: number;
      try {
        length = source.readFileAt!(path, offset, unit.raw);
      } catch (err) {
        units.give(unit);
        throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
          cause: err,
        });
      }
      offset += length;
      isRead = length < unit.raw.length;
      unit.mode = isRead ? UNIT_LAST_BLOCK : UNIT_BLOCK;
      unit.count = 1;
      unit.ends[0] = length;
      pool.submit(unit);
      out.push(unit);
    }
    const unit = await pool.result(out.shift() as DeflateUnit);
    yield { raw: unit.raw.subarray(0, unit.ends[0]), out: unit.out.subarray(0, unit.outEnds[0]) };
    units.give(unit);
  }
}

interface LargeFileTools {
  /** One deflate stream per large file, reset after each. */
  deflater: RawDeflater;
  /** What a synchronous source reads into, BLOCK bytes. */
  buffer: Uint8Array;
  /** What the file is deflated into, OUTPUT_CHUNK bytes. */
  deflated: Uint8Array;
}

/** A large file's blocks, compressed on this thread. */
function oneThreadBlocks(
  source: ArchiveSource,
  path: string,
  level: number,
  large: LargeFileTools,
  signal: AbortSignal | undefined,
): AsyncIterable<Block> | Iterable<Block> {
  return source.readFileAt
    ? readLargeFile(source, path, level, large, signal)
    : streamLargeFile(source, path, level, large, signal);
}

/**
 * A large file from a source that reads without waiting (the local disk):
 * read in blocks into one buffer and deflated as one stream by a reused
 * deflate state. Each block of 256 KiB as a promise of the thread pool left
 * ~50 MiB of garbage per 60 MB compressed, which put the writer at 120+ MiB;
 * this way the large files cost a megabyte or two. Both buffers are reused
 * for every large file: the consumer must be done with a block's `raw` and
 * `out` when it asks for the next.
 */
function* readLargeFile(
  source: ArchiveSource,
  path: string,
  level: number,
  { deflater, buffer, deflated }: LargeFileTools,
  signal: AbortSignal | undefined,
): Generator<Block> {
  try {
    for (let offset = 0;;) {
      signal?.throwIfAborted();
      let length: number;
      try {
        length = source.readFileAt!(path, offset, buffer);
      } catch (err) {
        throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
          cause: err,
        });
      }
      offset += length;
      const raw = buffer.subarray(0, length);
      const isLast = length < buffer.length;
      if (level === 0) {
        if (length > 0) yield { raw, out: raw };
      } else {
        yield* deflatePieces(deflater, raw, deflated, isLast);
      }
      if (isLast) return;
    }
  } finally {
    deflater.reset();
  }
}

/**
 * A large file from a source that streams it (a container, an SSH host):
 * each chunk deflated as it comes, as one stream by the same reused state.
 * The consumer must be done with a block when it asks for the next.
 */
async function* streamLargeFile(
  source: ArchiveSource,
  path: string,
  level: number,
  { deflater, deflated }: LargeFileTools,
  signal: AbortSignal | undefined,
): AsyncGenerator<Block> {
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = await source.openFile(path);
  } catch (err) {
    throw new ArchiveError(path, `Cannot read ${quoteEntry(path)}: ${describe(err)}`, {
      cause: err,
    });
  }
  const reader = stream.getReader();
  try {
    while (true) {
      signal?.throwIfAborted();
      const { value, done } = await reader.read();
      if (done) break;
      if (level === 0) yield { raw: value, out: value };
      else yield* deflatePieces(deflater, value, deflated, false);
    }
    if (level !== 0) yield* deflatePieces(deflater, EMPTY, deflated, true);
  } finally {
    deflater.reset();
    reader.releaseLock();
    await stream.cancel().catch(() => {});
  }
}

/**
 * `raw` through the deflate stream, as pieces of `deflated`: the first
 * carries `raw` (for the checksum and size), the rest nothing. With
 * `isLast`, the stream ends with it.
 */
function* deflatePieces(
  deflater: RawDeflater,
  raw: Uint8Array,
  deflated: Uint8Array,
  isLast: boolean,
): Generator<Block> {
  let at = 0;
  for (let piece = 0;; piece++) {
    const step = deflater.step(raw, at, deflated, isLast);
    at = step.next;
    yield { raw: piece === 0 ? raw : EMPTY, out: deflated.subarray(0, step.filled) };
    if (step.filled < deflated.length) return;
  }
}

/** Encodes names into one reused buffer; a name is valid until the next `encode`. */
class NameEncoder {
  #buffer = new Uint8Array(1024);

  encode(name: string): Uint8Array {
    // UTF-16 to UTF-8 takes at most 3 bytes per code unit.
    if (name.length * 3 > this.#buffer.length) return encoder.encode(name);
    const { written } = encoder.encodeInto(name, this.#buffer);
    return this.#buffer.subarray(0, written);
  }
}

/** Room for a header with a name of about 1 KiB; longer ones get their own array. */
const HEADER_SCRATCH = 1200;

/** The local header of `r`, in `reuse` when it fits (valid until `reuse` is written again). */
function localHeader(r: CentralRecord, zip64: boolean, reuse: Uint8Array): Uint8Array {
  const extraLength = 9 + (zip64 ? 20 : 0);
  const { time, date } = dosDateTime(r.mtime);
  const streamed = (r.flags & FLAG_DATA_DESCRIPTOR) !== 0;
  const w = new LeWriter(LOCAL_HEADER_SIZE + r.name.length + extraLength, reuse)
    .u32(SIG_LOCAL)
    .u16(zip64 ? VERSION_ZIP64 : VERSION_DEFAULT)
    .u16(r.flags)
    .u16(r.method)
    .u16(time).u16(date)
    .u32(streamed ? 0 : r.crc)
    .u32(zip64 ? MAX32 : streamed ? 0 : r.compressed)
    .u32(zip64 ? MAX32 : streamed ? 0 : r.size)
    .u16(r.name.length)
    .u16(extraLength)
    .raw(r.name)
    .u16(EXTRA_EXT_TIME).u16(5).u8(1).u32(unixSeconds(r.mtime));
  if (zip64) w.u16(EXTRA_ZIP64).u16(16).u64(0).u64(0);
  return w.bytes;
}

/** The central directory record of `r`, in `reuse` when it fits. */
function centralHeader(r: CentralRecord, reuse: Uint8Array): Uint8Array {
  const big = {
    size: r.size >= MAX32,
    compressed: r.compressed >= MAX32,
    offset: r.offset >= MAX32,
  };
  const zip64Length = (big.size ? 8 : 0) + (big.compressed ? 8 : 0) + (big.offset ? 8 : 0);
  const extraLength = 9 + (zip64Length > 0 ? 4 + zip64Length : 0);
  const version = zip64Length > 0 ? VERSION_ZIP64 : VERSION_DEFAULT;
  const { time, date } = dosDateTime(r.mtime);
  const w = new LeWriter(CENTRAL_HEADER_SIZE + r.name.length + extraLength, reuse)
    .u32(SIG_CENTRAL)
    .u16((HOST_UNIX << 8) | version)
    .u16(version)
    .u16(r.flags)
    .u16(r.method)
    .u16(time).u16(date)
    .u32(r.crc)
    .u32(big.compressed ? MAX32 : r.compressed)
    .u32(big.size ? MAX32 : r.size)
    .u16(r.name.length)
    .u16(extraLength)
    .u16(0).u16(0).u16(0)
    .u32(r.externalAttrs)
    .u32(big.offset ? MAX32 : r.offset)
    .raw(r.name)
    .u16(EXTRA_EXT_TIME).u16(5).u8(1).u32(unixSeconds(r.mtime));
  if (zip64Length > 0) {
    w.u16(EXTRA_ZIP64).u16(zip64Length);
    if (big.size) w.u64(r.size);
    if (big.compressed) w.u64(r.compressed);
    if (big.offset) w.u64(r.offset);
  }
  return w.bytes;
}

function modeBits(entry: SourceEntry): number {
  const perm = entry.mode & 0o7777;
  switch (entry.kind) {
    case "dir":
      return S_IFDIR | perm;
    case "symlink":
      return S_IFLNK | (perm || 0o777);
    default:
      return S_IFREG | perm;
  }
}

/**
 * What the central directory needs of each written entry, as columns of
 * numbers sized once for the most entries there can be (one per path); the
 * name is the entry's path, looked up again when the record is encoded.
 */
class CentralColumns {
  readonly #path: Uint32Array;
  readonly #crc: Uint32Array;
  readonly #attrs: Uint32Array;
  /** flags << 16 | method */
  readonly #flagsMethod: Uint32Array;
  /** size, compressed size, offset, mtime in ms */
  readonly #numbers: Float64Array;
  #count = 0;

  constructor(capacity: number) {
    this.#path = new Uint32Array(capacity);
    this.#crc = new Uint32Array(capacity);
    this.#attrs = new Uint32Array(capacity);
    this.#flagsMethod = new Uint32Array(capacity);
    this.#numbers = new Float64Array(capacity * 4);
  }

  add(pathIndex: number, r: CentralRecord): void {
    const i = this.#count++;
    this.#path[i] = pathIndex;
    this.#crc[i] = r.crc;
    this.#attrs[i] = r.externalAttrs;
    this.#flagsMethod[i] = (r.flags << 16) | r.method;
    const n = this.#numbers;
    n[i * 4] = r.size;
    n[i * 4 + 1] = r.compressed;
    n[i * 4 + 2] = r.offset;
    n[i * 4 + 3] = r.mtime.getTime();
  }

  /** The `i`th added entry's record; its name is `paths[pathIndex]` (plus `/` for a directory). */
  record(i: number, paths: readonly string[], names: NameEncoder): CentralRecord {
    const externalAttrs = this.#attrs[i] as number;
    const path = paths[this.#path[i] as number] as string;
    const n = this.#numbers;
    const flagsMethod = this.#flagsMethod[i] as number;
    return {
      name: names.encode((externalAttrs & 0x10) !== 0 ? `${path}/` : path),
      flags: flagsMethod >>> 16,
      method: flagsMethod & 0xffff,
      crc: this.#crc[i] as number,
      size: n[i * 4] as number,
      compressed: n[i * 4 + 1] as number,
      offset: n[i * 4 + 2] as number,
      externalAttrs,
      mtime: new Date(n[i * 4 + 3] as number),
    };
  }
}

/**
 * Gathers the archive into chunks of OUTPUT_CHUNK bytes in two buffers: one
 * is with the sink while the other fills, and a buffer is filled again only
 * after the sink's write of it resolved.
 */
class OutputBuffers {
  readonly #sink: ZipSink;
  readonly #buffers = [new Uint8Array(OUTPUT_CHUNK), new Uint8Array(OUTPUT_CHUNK)] as const;
  #current = 0;
  #filled = 0;
  #inFlight: Promise<void> | null = null;
  /** Bytes pushed so far. */
  size = 0;

  constructor(sink: ZipSink) {
    this.#sink = sink;
  }

  /** Copies `bytes` in; they may be reused as soon as this resolves. */
  async push(bytes: Uint8Array): Promise<void> {
    this.size += bytes.length;
    for (let at = 0; at < bytes.length;) {
      const buffer = this.#buffers[this.#current] as Uint8Array;
      const n = Math.min(bytes.length - at, buffer.length - this.#filled);
      buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === buffer.length) await this.#send();
    }
  }

  /** Hands the rest to the sink and waits for every write. */
  async flush(): Promise<void> {
    if (this.#filled > 0) await this.#send();
    const last = this.#inFlight;
    this.#inFlight = null;
    await last;
  }

  /** Waits for an outstanding write, whatever its outcome (after a failure elsewhere). */
  async settle(): Promise<void> {
    await this.#inFlight?.catch(() => {});
    this.#inFlight = null;
  }

  async #send(): Promise<void> {
    const full = (this.#buffers[this.#current] as Uint8Array).subarray(0, this.#filled);
    // The other buffer is free once its write resolved.
    const previous = this.#inFlight;
    this.#inFlight = null;
    await previous;
    const write = this.#sink.write(full);
    // Its failure surfaces at the next send or at flush.
    write.catch(() => {});
    this.#inFlight = write;
    this.#current ^= 1;
    this.#filled = 0;
  }
}

function isAscii(s: string): boolean {
  // deno-lint-ignore no-control-regex -- the ASCII range is the point
  return /^[\x00-\x7f]*$/.test(s);
}

function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    (typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT");
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
