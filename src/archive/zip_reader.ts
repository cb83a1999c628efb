/**
 * Reads and checks a ZIP's central directory. Nothing here trusts the file:
 * counts, offsets and sizes are bounded by the file size before anything is
 * allocated, and each problem is an `ArchiveError` naming the entry.
 */
import { ArchiveError, quoteEntry } from "./archive_error.ts";
import type { RandomAccessReader } from "./random_access_reader.ts";
import {
  CENTRAL_HEADER_SIZE,
  EOCD_SIZE,
  EXTRA_EXT_TIME,
  EXTRA_ZIP64,
  FLAG_ENCRYPTED,
  FLAG_UTF8,
  fromDosDateTime,
  HOST_UNIX,
  MAX16,
  MAX32,
  readU64,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SIG_CENTRAL,
  SIG_EOCD,
  SIG_ZIP64_EOCD,
  SIG_ZIP64_LOCATOR,
  ZIP64_EOCD_SIZE,
  ZIP64_LOCATOR_SIZE,
} from "./_zip_format.ts";

export type ZipEntryKind = "file" | "dir" | "symlink";

export interface ZipEntry {
  /** Name as stored (not yet normalised). */
  rawName: string;
  kind: ZipEntryKind;
  /** Permission bits (at most 0o7777). */
  mode: number;
  mtime: Date;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/**
 * A `ZipEntry` that keeps its mtime as a number and makes the `Date` when
 * asked: a `Date` per entry, kept for the whole extraction, was ~1.7 MiB of
 * heap over 20k entries. The mtime (whole seconds, up to 2038) and the CRC
 * (as a signed 32-bit value) are kept as small integers: numbers past 2^31
 * in a field make V8 box that field in every entry (16 more bytes each).
 */
class CentralEntry implements ZipEntry {
  readonly #mtimeSeconds: number;
  readonly #crc: number;

  constructor(
    readonly rawName: string,
    readonly kind: ZipEntryKind,
    readonly mode: number,
    mtimeSeconds: number,
    readonly method: number,
    readonly flags: number,
    crc: number,
    readonly compressedSize: number,
    readonly size: number,
    readonly localHeaderOffset: number,
  ) {
    this.#mtimeSeconds = mtimeSeconds;
    this.#crc = crc | 0;
  }

  get mtime(): Date {
    return new Date(this.#mtimeSeconds * 1000);
  }

  get crc(): number {
    return this.#crc >>> 0;
  }
}

/** The central directory is read in pieces of this size. */
const CD_PIECE = 256 << 10;

const utf8 = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");

export async function readZipDirectory(reader: RandomAccessReader): Promise<ZipEntry[]> {
  const size = reader.size;
  if (size < EOCD_SIZE) throw new ArchiveError("", "Not a zip archive: file too short");
  const tailLength = Math.min(size, EOCD_SIZE + MAX16);
  const tail = await reader.read(size - tailLength, tailLength);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (view.getUint32(i, true) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ArchiveError("", "Not a zip archive: end of central directory not found");

  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  const eocdAbs = size - tailLength + eocd;

  if (count === MAX16 || cdSize === MAX32 || cdOffset === MAX32) {
    const locatorAt = eocdAbs - ZIP64_LOCATOR_SIZE;
    if (locatorAt >= 0) {
      const loc = await reader.read(locatorAt, ZIP64_LOCATOR_SIZE);
      const lv = new DataView(loc.buffer, loc.byteOffset, loc.byteLength);
      if (lv.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
        const recordAt = readU64(lv, 8);
        if (recordAt + ZIP64_EOCD_SIZE > locatorAt) {
          throw new ArchiveError("", "Corrupt zip archive: ZIP64 end record is out of range");
        }
        const rec = await reader.read(recordAt, ZIP64_EOCD_SIZE);
        const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
        if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) {
          throw new ArchiveError("", "Corrupt zip archive: ZIP64 end record signature missing");
        }
        count = readU64(rv, 32);
        cdSize = readU64(rv, 40);
        cdOffset = readU64(rv, 48);
      }
    }
  }
  if (cdOffset + cdSize > size || !Number.isFinite(cdOffset + cdSize)) {
    throw new ArchiveError("", "Corrupt zip archive: central directory is out of range");
  }
  if (count * CENTRAL_HEADER_SIZE > cdSize) {
    throw new ArchiveError(
      "",
      `Corrupt zip archive: ${count} entries cannot fit in ${cdSize} bytes`,
    );
  }

  // Read in pieces through one buffer: a record is at most 46 + 3 * 65535
  // bytes, so a piece always holds a whole one; the whole directory at once
  // (2 MiB for 20k entries) was the extraction's peak.
  const cdEnd = cdOffset + cdSize;
  const piece = new Uint8Array(Math.min(cdSize, CD_PIECE));
  let cd = piece.subarray(0, 0);
  let cv = new DataView(piece.buffer, 0, 0);
  /** Absolute offset of `cd[0]`. */
  let cdAt = cdOffset;
  const load = async (at: number) => {
    cd = piece.subarray(0, Math.min(piece.length, cdEnd - at));
    if (reader.readInto) await reader.readInto(at, cd);
    else cd.set(await reader.read(at, cd.length));
    cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    cdAt = at;
  };
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cd.length && cdAt + cd.length < cdEnd) {
      await load(cdAt + p);
      p = 0;
    }
    if (p + CENTRAL_HEADER_SIZE > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) {
      throw new ArchiveError("", `Corrupt zip archive: central directory entry ${i} is damaged`);
    }
    const recordLength = CENTRAL_HEADER_SIZE + cv.getUint16(p + 28, true) +
      cv.getUint16(p + 30, true) + cv.getUint16(p + 32, true);
    if (p + recordLength > cd.length && cdAt + cd.length < cdEnd) {
      await load(cdAt + p);
      p = 0;
    }
    const madeBy = cv.getUint16(p + 4, true);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const time = cv.getUint16(p + 12, true);
    const date = cv.getUint16(p + 14, true);
    const crc = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    const externalAttrs = cv.getUint32(p + 38, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const nameStart = p + CENTRAL_HEADER_SIZE;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > cd.length) {
      throw new ArchiveError("", `Corrupt zip archive: central directory entry ${i} is truncated`);
    }
    const nameBytes = cd.subarray(nameStart, extraStart);
    const rawName = (flags & FLAG_UTF8) !== 0 ? utf8.decode(nameBytes) : decodeLegacy(nameBytes);
    let mtimeSeconds = NaN;

    // Extra fields: ZIP64 sizes/offset, extended timestamp.
    let e = extraStart;
    const extraEnd = extraStart + extraLength;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      const body = e + 4;
      if (body + len > extraEnd) break;
      if (id === EXTRA_ZIP64) {
        let q = body;
        const take = () => {
          if (q + 8 > body + len) {
            throw new ArchiveError(
              rawName,
              `Corrupt zip archive: ZIP64 field of ${quoteEntry(rawName)} is short`,
            );
          }
          const v = readU64(cv, q);
          q += 8;
          return v;
        };
        if (uncompressed === MAX32) uncompressed = take();
        if (compressedSize === MAX32) compressedSize = take();
        if (localHeaderOffset === MAX32) localHeaderOffset = take();
      } else if (id === EXTRA_EXT_TIME && len >= 5 && (cv.getUint8(body) & 1) !== 0) {
        mtimeSeconds = cv.getInt32(body + 1, true);
      }
      e = body + len;
    }

    const hostUnix = (madeBy >> 8) === HOST_UNIX;
    const unixMode = hostUnix ? externalAttrs >>> 16 : 0;
    const looksLikeDir = rawName.endsWith("/") || rawName.endsWith("\\") ||
      (externalAttrs & 0x10) !== 0;
    let kind: ZipEntryKind;
    const type = unixMode & S_IFMT;
    if (type === S_IFLNK) kind = "symlink";
    else if (type === S_IFDIR || (type !== S_IFREG && looksLikeDir)) kind = "dir";
    else kind = "file";
    const mode = unixMode & 0o7777 || (kind === "dir" ? 0o755 : 0o644);

    // DOS times count whole seconds (two at a time).
    if (Number.isNaN(mtimeSeconds)) mtimeSeconds = fromDosDateTime(time, date).getTime() / 1000;
    entries.push(
      new CentralEntry(
        rawName,
        kind,
        mode,
        mtimeSeconds,
        method,
        flags,
        crc,
        compressedSize,
        uncompressed,
        localHeaderOffset,
      ),
    );
    p = next;
  }
  for (const entry of entries) {
    if ((entry.flags & FLAG_ENCRYPTED) !== 0) {
      throw new ArchiveError(
        entry.rawName,
        `Entry ${quoteEntry(entry.rawName)} is encrypted, which is not supported`,
      );
    }
  }
  return entries;
}

/** Names without the UTF-8 flag: valid UTF-8 is kept (most tools write it), else CP437-ish latin1. */
function decodeLegacy(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}
