/**
 * OpenSSH known_hosts files: parsing, host matching and host key verdicts, as
 * `ssh` with `StrictHostKeyChecking yes` decides them (sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT"). Pure: the caller reads the file.
 *
 * Supported: plain host patterns with `*`/`?` wildcards and `!` negation,
 * `[host]:port` names for ports other than 22, hashed names
 * (`|1|<salt>|<hmac-sha1>`, as `ssh-keygen -H` writes them) and `@revoked`
 * lines. `@cert-authority` lines are parsed but never trust a key: we do not
 * verify host certificates.
 */
import { createHash, createHmac } from "node:crypto";
import { Buffer } from "node:buffer";

export interface KnownHostKey {
  /** Key type from the line, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The public key blob (base64-decoded third field). */
  key: Uint8Array;
  /** 1-based line number in the file. */
  line: number;
  marker: "" | "@revoked" | "@cert-authority";
}

export type HostKeyVerdict =
  | { kind: "trusted"; entry: KnownHostKey }
  /** No line names the host with a key of this type (`knownTypes`: types it does have). */
  | { kind: "unknown"; knownTypes: string[] }
  /** The host is known with a key of the same type, but another key. */
  | { kind: "changed"; expected: KnownHostKey[] }
  | { kind: "revoked"; entry: KnownHostKey };

interface Entry extends KnownHostKey {
  patterns: string[];
  /** Set for a hashed name: HMAC-SHA1(salt, name) must equal hash. */
  hashed: { salt: Uint8Array; hash: Uint8Array } | null;
}

/** The name a host is stored under: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:<base64 without padding>` of a public key blob, as `ssh-keygen -l` prints. */
export function hostKeyFingerprint(key: Uint8Array): string {
  const digest = createHash("sha256").update(key).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The key type a public key blob names (its first SSH string), or "" when malformed. */
export function keyTypeOf(key: Uint8Array): string {
  if (key.length < 4) return "";
  const length = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0);
  if (length > key.length - 4 || length > 64) return "";
  return new TextDecoder().decode(key.subarray(4, 4 + length));
}

/** Host key algorithms ssh2 negotiates for a key type (RSA keys sign with several). */
export function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];
}

/**
 * Whether a key blob is whole: a plain key (ed25519, ECDSA, RSA, DSA, sk-*) is a
 * list of SSH strings and mpints, all length-prefixed, that ends where the blob
 * does. A key pasted cut short still names its type but would read as a
 * "changed" host key. Certificates hold fixed-size fields too: not checked.
 */
function isWholeKey(key: Uint8Array, keyType: string): boolean {
  if (keyType.includes("-cert-")) return true;
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  let at = 0;
  let fields = 0;
  while (at < key.length) {
    if (key.length - at < 4) return false;
    at += 4 + view.getUint32(at);
    fields++;
  }
  return at === key.length && fields >= 2;
}

function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  return new Uint8Array(Buffer.from(text, "base64"));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** OpenSSH's wildcard match: `*` any run, `?` one character; hostnames compare case-insensitively. */
function wildcardMatch(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const s = name.toLowerCase();
  // Iterative glob with backtracking over the last `*`.
  let pi = 0, si = 0, star = -1, mark = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

export class KnownHosts {
  readonly #entries: Entry[];
  /** Lines that could not be parsed: `line N: why`. They never match. */
  readonly problems: readonly string[];

  private constructor(entries: Entry[], problems: string[]) {
    this.#entries = entries;
    this.problems = problems;
  }

  static parse(text: string): KnownHosts {
    const entries: Entry[] = [];
    const problems: string[] = [];
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = index + 1;
      const trimmed = raw.trim();
      if (trimmed === "" || trimmed.startsWith("#")) return;
      const fields = trimmed.split(/\s+/);
      let marker: Entry["marker"] = "";
      if (fields[0]?.startsWith("@")) {
        const m = fields.shift();
        if (m !== "@revoked" && m !== "@cert-authority") {
          problems.push(`line ${line}: unknown marker "${m}"`);
          return;
        }
        marker = m;
      }
      const [names, keyType, keyText] = fields;
      if (names === undefined || keyType === undefined || keyText === undefined) {
        problems.push(`line ${line}: expected "hosts key-type base64-key"`);
        return;
      }
      const key = decodeBase64(keyText);
      if (key === null || keyTypeOf(key) !== keyType || !isWholeKey(key, keyType)) {
        problems.push(`line ${line}: the key is not valid base64 of a "${keyType}" key`);
        return;
      }
      let hashed: Entry["hashed"] = null;
      let patterns: string[] = [];
      if (names.startsWith("|1|")) {
        const [salt, hash] = names.slice(3).split("|").map((part) => decodeBase64(part));
        if (!salt || !hash) {
          problems.push(`line ${line}: malformed hashed host name`);
          return;
        }
        hashed = { salt, hash };
      } else {
        patterns = names.split(",").filter((p) => p !== "");
      }
      entries.push({ keyType, key, line, marker, patterns, hashed });
    });
    return new KnownHosts(entries, problems);
  }

  #matches(entry: Entry, name: string): boolean {
    if (entry.hashed) {
      const mac = createHmac("sha1", entry.hashed.salt).update(name).digest();
      return sameBytes(new Uint8Array(mac), entry.hashed.hash);
    }
    let matched = false;
    for (const pattern of entry.patterns) {
      if (pattern.startsWith("!")) {
        // A negated match excludes the host from the line whatever else matches.
        if (wildcardMatch(pattern.slice(1), name)) return false;
      } else if (wildcardMatch(pattern, name)) {
        matched = true;
      }
    }
    return matched;
  }

  /** Lines naming `host:port` (revoked and CA lines included). */
  entriesFor(host: string, port: number): KnownHostKey[] {
    const name = knownHostsName(host, port);
    return this.#entries.filter((e) => this.#matches(e, name)).map(publicPart);
  }

  /** Key types the file trusts for the host, in file order: negotiate these first. */
  keyTypesFor(host: string, port: number): string[] {
    const types = this.entriesFor(host, port).filter((e) => e.marker === "").map((e) => e.keyType);
    return [...new Set(types)];
  }

  verify(host: string, port: number, key: Uint8Array): HostKeyVerdict {
    const entries = this.entriesFor(host, port);
    // A revoked key is refused even when another line trusts it.
    const revoked = entries.find((e) => e.marker === "@revoked" && sameBytes(e.key, key));
    if (revoked) return { kind: "revoked", entry: revoked };
    const plain = entries.filter((e) => e.marker === "");
    const trusted = plain.find((e) => sameBytes(e.key, key));
    if (trusted) return { kind: "trusted", entry: trusted };
    const keyType = keyTypeOf(key);
    const sameType = plain.filter((e) => e.keyType === keyType);
    if (sameType.length > 0) return { kind: "changed", expected: sameType };
    return { kind: "unknown", knownTypes: [...new Set(plain.map((e) => e.keyType))] };
  }
}

function publicPart(e: Entry): KnownHostKey {
  return { keyType: e.keyType, key: e.key, line: e.line, marker: e.marker };
}

/**
 * The job-log sentence for a refused host key, naming the host, the offered
 * key's fingerprint and what the file expected.
 */
export function describeRefusal(
  verdict: Exclude<HostKeyVerdict, { kind: "trusted" }>,
  options: {
    host: string;
    port: number;
    key: Uint8Array;
    knownHostsFile: string;
    /** KnownHosts.problems: the lines skipped, which may be the host's own. */
    problems?: readonly string[];
  },
): string {
  const name = knownHostsName(options.host, options.port);
  const offered = `${hostKeyFingerprint(options.key)} (${
    keyTypeOf(options.key) || "unknown type"
  })`;
  const file = `known_hosts file "${options.knownHostsFile}"`;
  const head = `Host key verification failed for "${name}"`;
  switch (verdict.kind) {
    case "revoked":
      return `${head}: host key ${offered} is marked @revoked in ${file} line ${verdict.entry.line}`;
    case "changed": {
      const expected = verdict.expected.map((e) =>
        `line ${e.line} has ${hostKeyFingerprint(e.key)} (${e.keyType})`
      ).join(", ");
      return `${head}: the host key changed: the server offered ${offered}, ${file} ${expected}`;
    }
    case "unknown": {
      const others = verdict.knownTypes.length > 0
        ? ` (it lists only ${verdict.knownTypes.join(", ")} keys for this host)`
        : "";
      const problems = options.problems ?? [];
      const skipped = problems.length > 0
        ? `; ${
          problems.length === 1 ? "a line" : `${problems.length} lines`
        } of it could not be read and ${problems.length === 1 ? "was" : "were"} skipped (${
          problems.slice(0, 3).join("; ")
        }${problems.length > 3 ? "; …" : ""})`
        : "";
      return `${head}: unknown host key ${offered}, not in ${file}${others}${skipped}; add it there or set disable_strict_host_key_checking = true`;
    }
  }
}
