/**
 * The session server's certificate: a self-signed X.509 v3 certificate made
 * at start for the advertised host, as the official runner makes one
 * (RSA 2048, organization "GitLab Runner", valid two years, server auth,
 * the host as an IP or DNS subject alternative name). GitLab gets its PEM as
 * the session's `certificate` and trusts exactly it.
 *
 * Node's crypto makes the key and the signature; the DER of the certificate
 * is assembled here (node:crypto has no certificate builder, and a small DER
 * writer is less to trust than a dependency).
 */
import { generateKeyPair, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

export interface SelfSignedCertificate {
  /** PEM `CERTIFICATE`: sent to GitLab. */
  certificate: string;
  /** PEM PKCS#8 private key: stays in the session server. */
  privateKey: string;
}

export interface CertificateOptions {
  /** When the certificate starts to be valid; default now. */
  now?: Date;
}

const ORGANIZATION = "GitLab Runner";
const VALID_YEARS = 2;

/** A certificate and key for `host` (an IP address or a DNS name, without port). */
export async function selfSignedCertificate(
  host: string,
  options: CertificateOptions = {},
): Promise<SelfSignedCertificate> {
  if (host === "") throw new TypeError("Cannot make a certificate for an empty host name");
  const { publicKey, privateKey } = await new Promise<
    { publicKey: import("node:crypto").KeyObject; privateKey: import("node:crypto").KeyObject }
  >((resolve, reject) =>
    generateKeyPair(
      "rsa",
      { modulusLength: 2048 },
      (err, publicKey, privateKey) => err ? reject(err) : resolve({ publicKey, privateKey }),
    )
  );
  const notBefore = options.now ?? new Date();
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALID_YEARS);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER
  const name = seq(set(seq(oid(OID.organization), utf8(ORGANIZATION))));
  const algorithm = seq(oid(OID.sha256WithRsa), der(0x05, new Uint8Array(0)));
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const tbs = seq(
    der(0xa0, integer(new Uint8Array([2]))), // version 3
    integer(serial),
    algorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    der(0xa3, seq(...extensions(host))),
  );
  const signature = new Uint8Array(sign("sha256", tbs, privateKey));
  const certificate = seq(tbs, algorithm, bitString(signature));
  return {
    certificate: pem("CERTIFICATE", certificate),
    privateKey: String(privateKey.export({ type: "pkcs8", format: "pem" })),
  };
}

const OID = {
  organization: "2.5.4.10",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

function extensions(host: string): Uint8Array[] {
  const ext = (id: string, critical: boolean, value: Uint8Array) =>
    seq(oid(id), ...(critical ? [der(0x01, new Uint8Array([0xff]))] : []), der(0x04, value));
  // digitalSignature, keyEncipherment, dataEncipherment: bits 0, 2 and 3 (4 unused bits).
  const keyUsage = der(0x03, new Uint8Array([4, 0xb0]));
  const altName = isIP(host) ? der(0x87, ipBytes(host)) : der(0x82, ascii(host));
  return [
    ext(OID.keyUsage, true, keyUsage),
    ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    ext(OID.basicConstraints, true, seq()),
    ext(OID.subjectAltName, false, seq(altName)),
  ];
}

function ipBytes(host: string): Uint8Array {
  if (isIP(host) === 4) return new Uint8Array(host.split(".").map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head = "", tail] = host.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  return bytes;
}

function length(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function der(tag: number, content: Uint8Array): Uint8Array {
  return concat([new Uint8Array([tag]), length(content.length), content]);
}

function seq(...items: Uint8Array[]): Uint8Array {
  return der(0x30, concat(items));
}

function set(...items: Uint8Array[]): Uint8Array {
  return der(0x31, concat(items));
}

function integer(bytes: Uint8Array): Uint8Array {
  return der(0x02, bytes);
}

function bitString(bytes: Uint8Array): Uint8Array {
  return der(0x03, concat([new Uint8Array([0]), bytes]));
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function utf8(text: string): Uint8Array {
  return der(0x0c, ascii(text));
}

function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | (v & 0x7f));
    }
    bytes.push(...chunk);
  }
  return der(0x06, new Uint8Array(bytes));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5). */
function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-12-02T08:13:57.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z"; // 20261202081357Z
  return date.getUTCFullYear() < 2050
    ? der(0x17, ascii(digits.slice(2)))
    : der(0x18, ascii(digits));
}

function pem(label: string, bytes: Uint8Array): string {
  const base64 = btoa(String.fromCharCode(...bytes));
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
