/**
 * Seeded random inputs for the property tests in this folder. CI runs a fixed
 * seed and a few hundred iterations; `FUZZ_ITERATIONS=20000` (and
 * `FUZZ_SEED=<n>`) run longer or elsewhere. A failure names the seed and the
 * iteration so it can be replayed.
 */

function envNumber(name: string): number | undefined {
  try {
    const value = Deno.env.get(name);
    return value && /^\d+$/.test(value) ? Number(value) : undefined;
  } catch {
    return undefined; // no --allow-env: defaults
  }
}

/** Iterations for one target: FUZZ_ITERATIONS when set, else `ciDefault`. */
export function fuzzIterations(ciDefault: number): number {
  return envNumber("FUZZ_ITERATIONS") ?? ciDefault;
}

export function fuzzSeed(): number {
  return envNumber("FUZZ_SEED") ?? 20260101;
}

/** mulberry32 with helpers; deterministic for a seed. */
export class Prng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(length: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** Short strings that tend to break parsers. */
  nastyString(): string {
    return this.pick([
      "",
      " ",
      "\u0000",
      "\n",
      "\r\n",
      "\uFFFD",
      "\uD800",
      "😀",
      "../../etc/passwd",
      "%s%n",
      "${HOME}",
      "$(reboot)",
      "a".repeat(this.int(100, 70_000)),
      "[[",
      "]]",
      '"',
      "'''",
      "{",
      "}",
      "=",
      "#",
      "0x",
      "-0",
      "1e309",
      "NaN",
      "inf",
      "9007199254740993",
      "-9223372036854775809",
      "true",
      "null",
      "__proto__",
      "constructor",
      String.fromCharCode(...this.bytes(this.int(1, 40))),
    ]);
  }

  /** A random JSON-ish value, nested up to `depth`. */
  jsonValue(depth = 3): unknown {
    const kind = this.int(0, depth > 0 ? 9 : 6);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([
          0,
          -1,
          1,
          2 ** 31,
          -(2 ** 31) - 1,
          2 ** 53 + 2,
          1.5,
          -0,
          1e308,
          Number.MIN_VALUE,
        ]);
      case 3:
        return this.int(-1000, 1_000_000);
      case 4:
      case 5:
        return this.nastyString();
      case 6:
        return this.pick(["", "x", "always", "on_success", "zip", "pull-push", "2h 30m", "1 week"]);
      case 7:
        return Array.from({ length: this.int(0, 4) }, () => this.jsonValue(depth - 1));
      default: {
        const obj: Record<string, unknown> = {};
        for (let i = this.int(0, 4); i > 0; i--) {
          obj[this.pick(["key", "name", "value", "__proto__", this.nastyString()])] = this
            .jsonValue(depth - 1);
        }
        return obj;
      }
    }
  }

  /** Byte-level mutation: flips, overwrites, inserts, deletes, truncation. */
  mutateBytes(input: Uint8Array, edits = this.int(1, 8)): Uint8Array {
    let out: Uint8Array<ArrayBuffer> = input.slice();
    for (let e = 0; e < edits; e++) {
      const at = out.length === 0 ? 0 : this.int(0, out.length - 1);
      switch (this.int(0, 5)) {
        case 0:
          if (out.length) out[at] = out[at]! ^ (1 << this.int(0, 7));
          break;
        case 1:
          if (out.length) out[at] = this.pick([0, 0xff, 0x7f, 0x80, this.int(0, 255)]);
          break;
        case 2: {
          const ins = this.bytes(this.int(1, 16));
          out = concat(out.subarray(0, at), ins, out.subarray(at));
          break;
        }
        case 3:
          out = concat(
            out.subarray(0, at),
            out.subarray(Math.min(out.length, at + this.int(1, 32))),
          );
          break;
        case 4:
          out = out.subarray(0, at).slice();
          break;
        default: {
          // 32-bit little-endian field smash: sizes and offsets in binary formats.
          if (at + 4 <= out.length) {
            const v = this.pick([0, 0xffffffff, 0x7fffffff, 0x80000000, this.int(0, 1 << 20)]);
            new DataView(out.buffer, out.byteOffset).setUint32(at, v >>> 0, true);
          }
        }
      }
    }
    return out;
  }

  /** Line-level mutation of a text format. */
  mutateText(input: string): string {
    const lines = input.split("\n");
    for (let e = this.int(1, 4); e > 0; e--) {
      const at = this.int(0, Math.max(0, lines.length - 1));
      switch (this.int(0, 4)) {
        case 0:
          lines.splice(at, 1);
          break;
        case 1:
          lines.splice(at, 0, lines[this.int(0, lines.length - 1)] ?? "");
          break;
        case 2: {
          const line = lines[at] ?? "";
          const cut = this.int(0, line.length);
          lines[at] = line.slice(0, cut) + this.nastyString() + line.slice(cut);
          break;
        }
        case 3:
          lines[at] = (lines[at] ?? "").replace(/(=|:)\s*.*$/, `$1 ${this.nastyString()}`);
          break;
        default:
          return new TextDecoder().decode(
            this.mutateBytes(new TextEncoder().encode(lines.join("\n"))),
          );
      }
    }
    return lines.join("\n");
  }
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Printable excerpt of an input for a failure message. */
export function excerpt(input: unknown): string {
  const text = input instanceof Uint8Array
    ? Array.from(input.subarray(0, 200), (b) => b.toString(16).padStart(2, "0")).join("")
    : typeof input === "string"
    ? input
    : JSON.stringify(input);
  return JSON.stringify((text ?? String(input)).slice(0, 600));
}

/**
 * Runs `check` on every input; each must finish within `deadlineMs` (a hang
 * fails). `check` throws an AssertionError for an unacceptable outcome.
 */
export async function forEachInput<T>(
  name: string,
  options: { iterations: number; seed: number; deadlineMs?: number },
  generate: (rng: Prng, i: number) => T,
  check: (input: T) => void | Promise<void>,
): Promise<void> {
  const rng = new Prng(options.seed);
  for (let i = 0; i < options.iterations; i++) {
    const input = generate(rng, i);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `${name}: hung for ${options.deadlineMs ?? 10_000} ms on input ${excerpt(input)}`,
            ),
          ),
        options.deadlineMs ?? 10_000,
      );
    });
    try {
      await Promise.race([Promise.resolve().then(() => check(input)), deadline]);
    } catch (err) {
      throw new Error(
        `${name} (FUZZ_SEED=${options.seed}, iteration ${i}): ${(err as Error).message}\ninput: ${
          excerpt(input)
        }`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The rule for every target: an Error subclass of the expected kind with a message. */
export function assertClearError(err: unknown, expected: new (...args: never[]) => Error): void {
  if (!(err instanceof expected)) {
    const kind = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
    throw new Error(`expected a ${expected.name}, got ${kind}`);
  }
  if (err.message.trim() === "") throw new Error(`${expected.name} without a message`);
}
