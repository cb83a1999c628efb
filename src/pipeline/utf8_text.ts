import { CiConfigError } from "./ci_config_error.ts";

/**
 * The text of a CI file (or the variables file) read as bytes. YAML files
 * are UTF-8 (a leading BOM is dropped); a file that is not is an error naming
 * its line and byte, as GitLab's parser refuses it ("invalid leading UTF-8
 * octet"), instead of replacement characters running in a job's script.
 */
export function decodeCiText(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const offset = invalidUtf8Offset(bytes);
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    const byte = (bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, "0");
    throw new CiConfigError(
      { file, line },
      "",
      `the file is not UTF-8 text (byte 0x${byte})`,
    );
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 character. */
function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // The byte count of the character and the range of its second byte (RFC 3629).
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) {
        return i;
      }
    }
    i += length;
  }
  return bytes.length;
}
