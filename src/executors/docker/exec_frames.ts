/**
 * The Engine multiplexes stdout and stderr of a non-TTY exec or attach into
 * frames: one stream byte (1 stdout, 2 stderr), three zero bytes, a 4-byte
 * big-endian length, then the payload. Pure.
 */
export class ExecFrameDecoder {
  #pending = new Uint8Array(0);

  /** Payloads of the complete frames in `chunk` plus what came before. */
  push(chunk: Uint8Array): Uint8Array[] {
    return this.frames(chunk).map((frame) => frame.payload);
  }

  /** The complete frames in `chunk` plus what came before, with the stream each is from. */
  frames(chunk: Uint8Array): { stream: "stdout" | "stderr"; payload: Uint8Array }[] {
    let buf = chunk;
    if (this.#pending.length > 0) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending);
      buf.set(chunk, this.#pending.length);
    }
    const out: { stream: "stdout" | "stderr"; payload: Uint8Array }[] = [];
    let at = 0;
    while (buf.length - at >= 8) {
      const size = new DataView(buf.buffer, buf.byteOffset + at + 4, 4).getUint32(0);
      if (buf.length - at - 8 < size) break;
      if (size > 0) {
        const stream = buf[at] === 2 ? "stderr" : "stdout";
        out.push({ stream, payload: buf.slice(at + 8, at + 8 + size) });
      }
      at += 8 + size;
    }
    this.#pending = buf.slice(at);
    return out;
  }

  /** Bytes of an unfinished frame left at end of stream. */
  get pending(): number {
    return this.#pending.length;
  }
}
