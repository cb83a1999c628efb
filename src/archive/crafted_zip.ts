/**
 * Builds ZIP bytes entry by entry with every field under the caller's
 * control, including wrong ones: the tool tests use to make hostile and
 * broken archives (path traversal, lying sizes, bad CRCs, overlaps).
 */
import zlib from "node:zlib";
import { crc32 } from "./_deflate.ts";
import {
  CENTRAL_HEADER_SIZE,
  EOCD_SIZE,
  HOST_UNIX,
  LeWriter,
  LOCAL_HEADER_SIZE,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SIG_CENTRAL,
  SIG_EOCD,
  SIG_LOCAL,
} from "./_zip_format.ts";

export interface CraftedEntry {
  name: string;
  content?: string | Uint8Array;
  kind?: "file" | "dir" | "symlink";
  mode?: number;
  /** 0 store, 8 deflate (default for files with content). */
  method?: number;
  /** Overrides of what the headers claim. */
  crc?: number;
  size?: number;
  compressedSize?: number;
  flags?: number;
  /** Bytes stored as the entry's data as they are (no compression applied). */
  rawData?: Uint8Array;
  /** Point this entry's central record at an earlier entry's local header. */
  sameDataAs?: number;
  /** The local header's extra field (the central record's stays empty). */
  localExtra?: Uint8Array;
}

export function craftZip(entries: CraftedEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const e of entries) {
    const raw = typeof e.content === "string"
      ? enc.encode(e.content)
      : e.content ?? new Uint8Array(0);
    const method = e.method ?? (raw.length > 0 && (e.kind ?? "file") === "file" ? 8 : 0);
    const data = e.rawData ??
      (method === 8 ? new Uint8Array(zlib.deflateRawSync(raw, { level: 9 })) : raw);
    const name = enc.encode(e.name);
    const crc = e.crc ?? crc32(raw);
    const size = e.size ?? raw.length;
    const compressed = e.compressedSize ?? data.length;
    const flags = e.flags ?? 0x0800;
    const kind = e.kind ?? "file";
    const type = kind === "dir" ? S_IFDIR : kind === "symlink" ? S_IFLNK : S_IFREG;
    const mode = e.mode ?? (kind === "dir" ? 0o755 : kind === "symlink" ? 0o777 : 0o644);
    let localOffset = offset;
    if (e.sameDataAs !== undefined) {
      localOffset = offsets[e.sameDataAs] as number;
    } else {
      const extra = e.localExtra ?? new Uint8Array(0);
      const local = new LeWriter(LOCAL_HEADER_SIZE + name.length + extra.length + data.length)
        .u32(SIG_LOCAL).u16(20).u16(flags).u16(method).u16(0).u16(0x5821)
        .u32(crc).u32(compressed).u32(size).u16(name.length).u16(extra.length)
        .raw(name).raw(extra).raw(data);
      locals.push(local.bytes);
      offset += local.bytes.length;
    }
    offsets.push(localOffset);
    centrals.push(
      new LeWriter(CENTRAL_HEADER_SIZE + name.length)
        .u32(SIG_CENTRAL).u16((HOST_UNIX << 8) | 20).u16(20).u16(flags).u16(method).u16(0).u16(
          0x5821,
        )
        .u32(crc).u32(compressed).u32(size).u16(name.length).u16(0).u16(0).u16(0).u16(0)
        .u32(((type | mode) * 0x10000 + (kind === "dir" ? 0x10 : 0)) >>> 0).u32(localOffset)
        .raw(name).bytes,
    );
  }
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const eocd = new LeWriter(EOCD_SIZE)
    .u32(SIG_EOCD).u16(0).u16(0).u16(entries.length).u16(entries.length)
    .u32(cdSize).u32(offset).u16(0).bytes;
  const all = [...locals, ...centrals, eocd];
  const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const part of all) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/**
 * How many bytes entry `name` of `zip` inflates to up to its first sync
 * flush (00 00 ff ff), or null when its data has none: 256 KiB for a large file
 * that FF_USE_FASTZIP's threads compressed in independent blocks, anything
 * else for one deflate stream.
 */
export function firstBlockSize(zip: Uint8Array, name: string): number | null {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The central directory's entry, found by name from the end record.
  const eocd = zip.byteLength - EOCD_SIZE;
  let at = view.getUint32(eocd + 16, true);
  const enc = new TextEncoder();
  const wanted = enc.encode(name);
  for (let i = 0; i < view.getUint16(eocd + 10, true); i++) {
    const nameLength = view.getUint16(at + 28, true);
    const found = zip.subarray(at + CENTRAL_HEADER_SIZE, at + CENTRAL_HEADER_SIZE + nameLength);
    if (found.length === wanted.length && found.every((b, j) => b === wanted[j])) {
      const local = view.getUint32(at + 42, true);
      const start = local + LOCAL_HEADER_SIZE + view.getUint16(local + 26, true) +
        view.getUint16(local + 28, true);
      const data = zip.subarray(start, start + view.getUint32(at + 20, true));
      for (let k = 0; k + 4 <= data.length; k++) {
        if (data[k] !== 0 || data[k + 1] !== 0 || data[k + 2] !== 0xff || data[k + 3] !== 0xff) {
          continue;
        }
        try {
          const sync = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
          return zlib.inflateRawSync(data.subarray(0, k + 4), sync).length;
        } catch {
          // 00 00 ff ff inside the data, not a flush: look on.
        }
      }
      return null;
    }
    at += CENTRAL_HEADER_SIZE + nameLength + view.getUint16(at + 30, true) +
      view.getUint16(at + 32, true);
  }
  throw new Error(`no entry "${name}" in the archive`);
}
