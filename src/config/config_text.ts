/**
 * config.toml's bytes as text. TOML files are UTF-8 (a UTF-8 byte order mark
 * is dropped); anything else is refused naming the file, line and column, as
 * the official runner's TOML decoder refuses it ("invalid UTF-8 byte", "files
 * cannot contain NULL bytes; probably using UTF-16"). A lenient decode would
 * turn each bad byte into U+FFFD: a name or token that silently changed, and
 * was written back changed by the next `register`.
 */
import { ConfigError } from "./config_error.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const LENIENT = new TextDecoder("utf-8");

/** Decodes `bytes` read from `file`; throws ConfigError naming where they are not UTF-8. */
export function decodeConfigText(bytes: Uint8Array, file: string): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw refusal(file, null, "Invalid UTF-8: the file starts with a UTF-16 byte order mark");
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    const at = firstInvalidByte(bytes);
    const { line, column } = position(bytes, at);
    throw refusal(
      file,
      line,
      `Invalid UTF-8 at column ${column}: byte 0x${hex(bytes[at] ?? 0)}`,
      { cause: error },
    );
  }
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    const { line, column } = position(bytes, nul);
    throw refusal(file, line, `Invalid TOML at column ${column}: a NUL byte (is the file UTF-16?)`);
  }
  return text;
}

function refusal(
  file: string,
  line: number | null,
  what: string,
  options?: ErrorOptions,
): ConfigError {
  return new ConfigError(
    [{ file, line, key: "", message: `${what} (TOML files must be UTF-8)` }],
    options,
  );
}

/** Index of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidByte(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const size = b < 0x80
      ? 1
      : b >= 0xc2 && b <= 0xdf
      ? 2
      : b >= 0xe0 && b <= 0xef
      ? 3
      : b >= 0xf0 && b <= 0xf4
      ? 4
      : 0;
    if (size === 0 || i + size > bytes.length) return i;
    try {
      UTF8.decode(bytes.subarray(i, i + size));
    } catch {
      return i;
    }
    i += size;
  }
  return Math.max(0, bytes.length - 1);
}

/** 1-based line and character column of the byte at `index`. */
function position(bytes: Uint8Array, index: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < index; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  const before = LENIENT.decode(bytes.subarray(start, index));
  return { line, column: [...before].length + 1 };
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
