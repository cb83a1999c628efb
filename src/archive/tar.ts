/**
 * Just enough tar for the Engine archive API (`docker cp`'s wire format):
 * reading what dockerd writes (Go's archive/tar: USTAR, PAX extended headers
 * for long or non-ASCII names, GNU long names from older daemons) and writing
 * USTAR with PAX headers where a name does not fit.
 */

export type TarEntryKind = "file" | "dir" | "symlink" | "other";

export interface TarHeader {
  /** Entry name as stored, without a trailing `/`. */
  name: string;
  kind: TarEntryKind;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkTarget: string;
}

const BLOCK = 512;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Pull-based reads of exact byte counts from a stream. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  #offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#buffer.length) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      this.#buffer = value;
      this.#offset = 0;
    }
    return true;
  }

  /** Exactly `n` bytes, or null at a clean end of stream; a short read is an error. */
  async exact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.#fill())) {
        if (got === 0) return null;
        throw new Error(`Tar stream ended in the middle of a block (${got} of ${n} bytes)`);
      }
      const take = Math.min(n - got, this.#buffer.length - this.#offset);
      out.set(this.#buffer.subarray(this.#offset, this.#offset + take), got);
      this.#offset += take;
      got += take;
    }
    return out;
  }

  /** Hands `n` bytes to `sink` chunk by chunk (no copy of large data). */
  async pipe(n: number, sink: (chunk: Uint8Array) => Promise<void> | void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw new Error("Tar stream ended inside an entry's data");
      const take = Math.min(left, this.#buffer.length - this.#offset);
      await sink(this.#buffer.subarray(this.#offset, this.#offset + take));
      this.#offset += take;
      left -= take;
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(bytes: Uint8Array, what: string): number {
  // Base-256 (GNU) for values that do not fit in octal digits.
  if ((bytes[0] ?? 0) & 0x80) {
    let n = (bytes[0] ?? 0) & 0x7f;
    for (let i = 1; i < bytes.length; i++) n = n * 256 + (bytes[i] ?? 0);
    return n;
  }
  const text = cString(bytes).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`Tar header has a bad ${what} field "${text}"`);
  return Number.parseInt(text, 8);
}

function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

/**
 * Reads the entries of a tar stream in order. `onEntry` gets each header and
 * a `data` function that streams the entry's content to a sink; content not
 * consumed is skipped. Hard links and devices come as kind `other`.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (
    header: TarHeader,
    data: (sink: (chunk: Uint8Array) => Promise<void> | void) => Promise<void>,
  ) => Promise<void> | void,
): Promise<void> {
  const reader = new ByteReader(stream);
  let pax = new Map<string, string>();
  let longName: string | null = null;
  let longLink: string | null = null;
  try {
    for (;;) {
      const block = await reader.exact(BLOCK);
      if (block === null || block.every((b) => b === 0)) return;
      const type = String.fromCharCode(block[156] ?? 0);
      const size = octal(block.subarray(124, 136), "size");
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (type === "x" || type === "L" || type === "K" || type === "g") {
        const data = (await reader.exact(padded)) ?? new Uint8Array(0);
        const body = data.subarray(0, size);
        if (type === "x") pax = parsePax(body);
        else if (type === "L") longName = cString(body);
        else if (type === "K") longLink = cString(body);
        continue;
      }
      const magic = decoder.decode(block.subarray(257, 262));
      let name = cString(block.subarray(0, 100));
      const prefix = magic === "ustar" ? cString(block.subarray(345, 500)) : "";
      if (prefix !== "" && block[262] === 0) name = `${prefix}/${name}`;
      name = pax.get("path") ?? longName ?? name;
      const linkTarget = pax.get("linkpath") ?? longLink ?? cString(block.subarray(157, 257));
      const paxSize = pax.get("size");
      const realSize = paxSize !== undefined ? Number(paxSize) : size;
      const paxMtime = pax.get("mtime");
      const mtime = paxMtime !== undefined
        ? Number(paxMtime)
        : octal(block.subarray(136, 148), "mtime");
      const kind: TarEntryKind = type === "0" || type === "\0" || type === "7"
        ? (name.endsWith("/") ? "dir" : "file")
        : type === "5"
        ? "dir"
        : type === "2"
        ? "symlink"
        : "other";
      const header: TarHeader = {
        name: name.replace(/\/+$/, ""),
        kind,
        mode: octal(block.subarray(100, 108), "mode") & 0o7777,
        uid: octal(block.subarray(108, 116), "uid"),
        gid: octal(block.subarray(116, 124), "gid"),
        size: kind === "file" ? realSize : 0,
        mtime: new Date(mtime * 1000),
        linkTarget,
      };
      pax = new Map();
      longName = null;
      longLink = null;
      const dataSize = type === "1" || type === "2" || type === "5" ? 0 : realSize;
      let consumed = false;
      await onEntry(header, async (sink) => {
        if (consumed) throw new Error(`Tar entry "${header.name}" was read twice`);
        consumed = true;
        await reader.pipe(dataSize, sink);
      });
      if (!consumed) await reader.pipe(dataSize, () => {});
      const rest = Math.ceil(dataSize / BLOCK) * BLOCK - dataSize;
      if (rest > 0) await reader.exact(rest);
    }
  } finally {
    await reader.cancel();
  }
}

// ---- writing ---------------------------------------------------------------

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  block.set(encoder.encode(value).subarray(0, length), offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  putString(block, offset, length, value.toString(8).padStart(length - 1, "0"));
}

function fitsUstar(value: string, length: number): boolean {
  // ASCII only: PAX carries anything else as UTF-8.
  return value.length < length && /^[\x20-\x7e]*$/.test(value);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const n = encoder.encode(body).length;
  // The length counts its own digits; settle on a length whose digits fit.
  let length = n + String(n).length;
  while (n + String(length).length !== length) length = n + String(length).length;
  return `${length}${body}`;
}

function headerBlock(h: TarHeader, type: string, name: string, link: string, size: number) {
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, h.mode & 0o7777);
  putOctal(block, 108, 8, h.uid);
  putOctal(block, 116, 8, h.gid);
  putOctal(block, 124, 12, size);
  putOctal(block, 136, 12, Math.max(0, Math.floor(h.mtime.getTime() / 1000)));
  block.fill(0x20, 148, 156);
  block[156] = type.charCodeAt(0);
  putString(block, 157, 100, link);
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  let sum = 0;
  for (const b of block) sum += b;
  putString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** Header block(s) for `h`: a PAX header first when the name or link target needs one. */
export function tarHeader(h: TarHeader): Uint8Array {
  const type = h.kind === "dir" ? "5" : h.kind === "symlink" ? "2" : "0";
  const name = h.kind === "dir" ? `${h.name}/` : h.name;
  const size = h.kind === "file" ? h.size : 0;
  let records = "";
  if (!fitsUstar(name, 100)) records += paxRecord("path", name);
  if (!fitsUstar(h.linkTarget, 100)) records += paxRecord("linkpath", h.linkTarget);
  const main = headerBlock(
    h,
    type,
    fitsUstar(name, 100) ? name : name.slice(0, 99),
    fitsUstar(h.linkTarget, 100) ? h.linkTarget : "",
    size,
  );
  if (records === "") return main;
  const data = encoder.encode(records);
  const paxHeader = headerBlock(
    { ...h, mode: 0o644 },
    "x",
    "PaxHeader",
    "",
    data.length,
  );
  const out = new Uint8Array(BLOCK + Math.ceil(data.length / BLOCK) * BLOCK + BLOCK);
  out.set(paxHeader, 0);
  out.set(data, BLOCK);
  out.set(main, out.length - BLOCK);
  return out;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}
