/**
 * ECDSA identity files in OpenSSH format, made usable under Deno.
 *
 * ssh2 turns such a key into a SEC1 PEM for node:crypto and copies the
 * private scalar as OpenSSH stores it: an mpint, with a leading zero byte
 * when its top bit is set (half of all keys), or shorter when it starts with
 * zeros. OpenSSL takes that; Deno's node:crypto refuses it ("invalid SEC1
 * private key"), so ssh2 could not sign and every login with the key failed.
 * The repaired key has the scalar at its curve's size, as SEC1 (RFC 5915)
 * asks.
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/ssh2"
import { type ParsedKey, utils } from "ssh2";

const SCALAR_BYTES: Record<string, number> = {
  "ecdsa-sha2-nistp256": 32,
  "ecdsa-sha2-nistp384": 48,
  "ecdsa-sha2-nistp521": 66,
};

/**
 * An unencrypted SEC1 PEM of `key` that signs, when `key` is an ECDSA key
 * ssh2 cannot sign with because of its scalar's length; else null (the key
 * is used as it is).
 */
export function repairedEcdsaKey(key: ParsedKey): string | null {
  const size = SCALAR_BYTES[key.type];
  if (size === undefined || !(key.sign(Buffer.from("probe")) instanceof Error)) return null;
  // ssh2 keeps the PEM it made under a symbol of the parsed key (lib/protocol/keyParser.js).
  const symbol = Object.getOwnPropertySymbols(key).find((s) => s.description === "Private key PEM");
  const pem = symbol ? (key as unknown as Record<symbol, unknown>)[symbol] : undefined;
  if (typeof pem !== "string") return null;
  const der = fixScalar(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"), size);
  if (der === null) return null;
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  const repaired = `-----BEGIN EC PRIVATE KEY-----\n${
    lines.join("\n")
  }\n-----END EC PRIVATE KEY-----\n`;
  const parsed = utils.parseKey(repaired);
  if (parsed instanceof Error || Array.isArray(parsed)) return null;
  return parsed.sign(Buffer.from("probe")) instanceof Error ? null : repaired;
}

/** ECPrivateKey ::= SEQUENCE { INTEGER 1, OCTET STRING d, ... } with d at `size` bytes. */
function fixScalar(der: Buffer, size: number): Buffer | null {
  const outer = readHeader(der, 0, 0x30);
  if (outer === null) return null;
  const version = readHeader(der, outer.body, 0x02);
  if (version === null) return null;
  const versionEnd = version.body + version.length;
  const scalar = readHeader(der, versionEnd, 0x04);
  if (scalar === null) return null;
  let d = der.subarray(scalar.body, scalar.body + scalar.length);
  while (d.length > size && d[0] === 0) d = d.subarray(1);
  if (d.length > size) return null;
  d = Buffer.concat([Buffer.alloc(size - d.length), d]);
  const body = Buffer.concat([
    der.subarray(outer.body, versionEnd),
    Buffer.from([0x04, ...encodeLength(d.length)]),
    d,
    der.subarray(scalar.body + scalar.length, outer.body + outer.length),
  ]);
  return Buffer.concat([Buffer.from([0x30, ...encodeLength(body.length)]), body]);
}

function readHeader(
  der: Buffer,
  at: number,
  tag: number,
): { body: number; length: number } | null {
  if (der[at] !== tag || at + 2 > der.length) return null;
  const first = der[at + 1]!;
  if (first < 0x80) return { body: at + 2, length: first };
  const count = first & 0x7f;
  if (count === 0 || count > 2 || at + 2 + count > der.length) return null;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[at + 2 + i]!;
  const body = at + 2 + count;
  return body + length <= der.length ? { body, length } : null;
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length < 0x100) return [0x81, length];
  return [0x82, length >> 8, length & 0xff];
}
