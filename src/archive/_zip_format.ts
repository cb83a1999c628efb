/**
 * ZIP record layouts (APPNOTE 6.3.x) shared by the writer and the reader.
 * Private to src/archive/.
 */

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_ZIP64_EOCD = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_DATA_DESCRIPTOR = 0x08074b50;

export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const EOCD_SIZE = 22;
export const ZIP64_EOCD_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;

export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;

export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_UTF8 = 0x0800;

export const EXTRA_ZIP64 = 0x0001;
export const EXTRA_EXT_TIME = 0x5455;

/** "Version made by" high byte for UNIX: external attributes hold st_mode << 16. */
export const HOST_UNIX = 3;
export const VERSION_DEFAULT = 20;
export const VERSION_ZIP64 = 45;

export const MAX32 = 0xffffffff;
export const MAX16 = 0xffff;

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Little-endian writes into a DataView, tracking the position. */
export class LeWriter {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  pos = 0;
  /** Writes into `reuse` (its first `size` bytes) when it is large enough, else into new memory. */
  constructor(size: number, reuse?: Uint8Array) {
    this.bytes = reuse !== undefined && reuse.length >= size
      ? reuse.subarray(0, size)
      : new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer, this.bytes.byteOffset, size);
  }
  u8(v: number): this {
    this.#view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.#view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.#view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.#view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
    return this;
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
}

/** DOS date and time fields for `date` (UTC; readers prefer the 0x5455 extra). */
export function dosDateTime(date: Date): { time: number; date: number } {
  const year = date.getUTCFullYear();
  if (year < 1980) return { time: 0, date: (1 << 5) | 1 };
  if (year > 2107) return { time: 0xbf7d, date: 0xff9f };
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

export function fromDosDateTime(time: number, date: number): Date {
  return new Date(Date.UTC(
    ((date >> 9) & 0x7f) + 1980,
    ((date >> 5) & 0x0f) - 1,
    date & 0x1f,
    (time >> 11) & 0x1f,
    (time >> 5) & 0x3f,
    (time & 0x1f) * 2,
  ));
}

/** Unix seconds clamped to the signed 32-bit range of the 0x5455 field. */
export function unixSeconds(date: Date): number {
  const s = Math.floor(date.getTime() / 1000);
  return Math.max(-0x80000000, Math.min(0x7fffffff, s));
}

export function readU64(view: DataView, offset: number): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.POSITIVE_INFINITY;
  return Number(v);
}
