/**
 * How GitLab reads a plain (unquoted, untagged) YAML scalar. GitLab parses
 * `.gitlab-ci.yml` with Ruby's Psych, which resolves plain scalars by YAML
 * 1.1's rules (`Psych::ScalarScanner#tokenize`), where npm:yaml follows YAML
 * 1.2: `yes`, `on` and `off` are booleans, `010` is octal 8, `08` and `0o10`
 * stay text, `1_000` and `1,000` are 1000, `1:20` is 4800 (Psych reads two
 * parts as hours and minutes, in seconds), `1e3` is text (a float needs a
 * dot), `:name` is a symbol, read as `name`, and a date is a Ruby Date,
 * which GitLab's loader refuses.
 */
export type PlainScalar =
  | { kind: "string"; value: string }
  | { kind: "null" }
  | { kind: "boolean"; value: boolean }
  | { kind: "integer"; value: bigint }
  | { kind: "float"; value: number }
  | { kind: "date" };

const EARLY_STRING = /^[^\d.:-]?[\p{L}_\s!@#$%^&*(){}<>|/\\~;=]+/u;
const TIME =
  /^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$/;
const DATE = /^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$/;
const FLOAT = /^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$/;
/** Psych's default ("legacy") integers, commas allowed. */
const INTEGER =
  /^[-+]?(?:0b[0-1_,]+|0[0-7_,]+|(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|0x[0-9a-fA-F_,]+)$/;
const BASE_60 = /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$/;
const BASE_60_FLOAT = /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}\.[0-9_]*$/;

export function readPlainScalar(text: string): PlainScalar {
  if (text === "") return { kind: "null" };
  if (EARLY_STRING.test(text) || text.includes("\n")) {
    if (text.length > 5 || /^[^ytonf~]/i.test(text)) return { kind: "string", value: text };
    if (text === "~" || /^null$/i.test(text)) return { kind: "null" };
    if (/^(yes|true|on)$/i.test(text)) return { kind: "boolean", value: true };
    if (/^(no|false|off)$/i.test(text)) return { kind: "boolean", value: false };
    return { kind: "string", value: text };
  }
  if (TIME.test(text) || DATE.test(text)) {
    // Psych leaves a date Ruby cannot make as text: Date.strptime wants a real
    // day, Time.utc any day up to 31.
    const [year, month, day] = /^-?(\d{4})-(\d{1,2})-(\d{1,2})/.exec(text)!.slice(1).map(Number);
    const lastDay = TIME.test(text) ? 31 : new Date(Date.UTC(year!, month!, 0)).getUTCDate();
    return month! >= 1 && month! <= 12 && day! >= 1 && day! <= lastDay
      ? { kind: "date" }
      : { kind: "string", value: text };
  }
  if (/^\+?\.inf$/i.test(text)) return { kind: "float", value: Infinity };
  if (/^-\.inf$/i.test(text)) return { kind: "float", value: -Infinity };
  if (/^\.nan$/i.test(text)) return { kind: "float", value: NaN };
  if (/^:./.test(text)) {
    const quoted = /^:(["'])(.*)\1/.exec(text);
    return { kind: "string", value: quoted ? quoted[2]!.replace(/^:/, "") : text.slice(1) };
  }
  if (BASE_60.test(text) || BASE_60_FLOAT.test(text)) {
    // Psych: each part times 60 ** |index - 2| (so `1:20` is 1 h 20 min in seconds).
    const total = text.split(":").reduce(
      (sum, part, i) => sum + Number(part.replace(/_/g, "")) * 60 ** Math.abs(i - 2),
      0,
    );
    return BASE_60.test(text)
      ? { kind: "integer", value: BigInt(total) }
      : { kind: "float", value: total };
  }
  if (FLOAT.test(text)) {
    if (/^[-+]?\.$/.test(text)) return { kind: "string", value: text };
    return { kind: "float", value: Number(text.replace(/[,_]/g, "").replace(/\.([Ee]|$)/, "$1")) };
  }
  if (INTEGER.test(text)) {
    const value = rubyInteger(text.replace(/[,_]/g, ""));
    if (value !== null) return { kind: "integer", value };
  }
  return { kind: "string", value: text };
}

/** Ruby's `Integer("…")`: 0b binary, 0x hex, a leading 0 octal, else decimal; null if none. */
function rubyInteger(digits: string): bigint | null {
  const sign = digits.startsWith("-") ? -1n : 1n;
  const unsigned = digits.replace(/^[-+]/, "");
  try {
    if (/^0[bx]/.test(unsigned)) return sign * BigInt(unsigned);
    if (/^0[0-7]+$/.test(unsigned)) return sign * BigInt(`0o${unsigned.slice(1)}`);
    return sign * BigInt(unsigned);
  } catch {
    return null; // "0b" alone: not a number
  }
}
