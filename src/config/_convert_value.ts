/**
 * Converts between raw TOML values and the typed values in GlobalConfig /
 * RunnerConfig, one KeyType at a time.
 */
import { formatGoDuration, parseGoDuration } from "./go_duration.ts";
import type { KeySpec, KeyType } from "./schema.ts";

export type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

/** Go's zero time.Time, which the official runner writes for unknown dates. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** How a raw value is shown in messages: `"abc"`, `12`, `an array`. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (value instanceof Date) return `the date-time ${value.toISOString()}`;
  if (Array.isArray(value)) return "an array";
  if (isTable(value)) return "a table";
  return String(value);
}

/** RFC 3339 in UTC, without fractional seconds when they are zero. */
export function formatDateTime(date: Date): string {
  return Date.prototype.toISOString.call(date).replace(/\.000Z$/, "Z");
}

/**
 * A TOML integer beyond ±2^53 (smol-toml's bigint) as config data keeps it: a
 * bigint would not survive the JSON that carries the config between the
 * runner's processes (cli/config_reader_process.ts), a number would round it.
 * Saving writes it back as the integer it was (`toTomlRaw`).
 */
export interface ExactInteger {
  readonly $int64: string;
}

export function isExactInteger(value: unknown): value is ExactInteger {
  return isTable(value) && Object.keys(value).length === 1 && typeof value["$int64"] === "string" &&
    /^-?\d+$/.test(value["$int64"]);
}

/** The bigint `value` as config data (see {@link ExactInteger}). */
export function exactInteger(value: bigint): ExactInteger {
  return { $int64: String(value) };
}

/** Config data -> what smol-toml writes: ExactIntegers become the integers they hold. */
export function toTomlRaw(value: unknown): unknown {
  if (isExactInteger(value)) return BigInt(value.$int64);
  if (Array.isArray(value)) return value.map(toTomlRaw);
  if (isTable(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toTomlRaw(v);
    return out;
  }
  return value;
}

/** Go's int64, the integers the official runner's TOML decoder takes. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * A TOML integer beyond ±2^53 for an integer key, as a number: clamped to
 * ±Number.MAX_SAFE_INTEGER. For what such keys hold (sizes, counts, limits,
 * seconds) either is "no limit" in effect; `runners.id` warns (parse_config.ts).
 */
export function clampInteger(value: bigint): number {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(value > max ? max : value < -max ? -max : value);
}

/**
 * A deep copy with plain prototypes (smol-toml gives null-prototype tables),
 * integers beyond ±2^53 kept as {@link ExactInteger}.
 */
export function toPlain(value: unknown): unknown {
  if (typeof value === "bigint") return exactInteger(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Date) return value;
  if (isTable(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
    return out;
  }
  return value;
}

const fail = (reason: string): Converted => ({ ok: false, reason });
const ok = (value: unknown): Converted => ({ ok: true, value });

function stringList(value: unknown, what: string): Converted {
  if (!Array.isArray(value)) return fail(`must be ${what}, got ${describeValue(value)}`);
  const bad = value.find((v) => typeof v !== "string");
  if (bad !== undefined) return fail(`must be ${what}, but one entry is ${describeValue(bad)}`);
  return ok([...value]);
}

function map(value: unknown, entry: (v: unknown) => boolean, what: string): Converted {
  if (!isTable(value)) return fail(`must be a table of ${what}, got ${describeValue(value)}`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!entry(v)) return fail(`must be a table of ${what}, but "${k}" is ${describeValue(v)}`);
    out[k] = Array.isArray(v) ? [...v] : v;
  }
  return ok(out);
}

const isString = (v: unknown) => typeof v === "string";

/**
 * Why an integer-valued float such as `1e99` is refused: the official runner
 * refuses any float for an integer key; taken as is, such a value broke what
 * it sized (every job failed with `output_limit = 1e99`). Integers written as
 * integers are taken up to Go's int64 (`clampInteger`).
 */
const TOO_LARGE = `a float this large is not an exact integer: write the integer itself ` +
  `(at most ${INT64_MAX})`;

/**
 * Why an integer beyond ±2^53 is refused for a float key: the official
 * runner's TOML decoder refuses an integer a float64 cannot hold exactly.
 */
const NOT_EXACT_FLOAT = `out of range for a float (beyond ±${Number.MAX_SAFE_INTEGER})`;

/** Raw TOML value -> typed value for a key of `type`. */
export function convertValue(type: KeyType, value: unknown): Converted {
  switch (type) {
    case "int":
    case "int-seconds":
      if (typeof value === "bigint") return ok(clampInteger(value));
      if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
        return fail(`must be an integer, got ${describeValue(value)}: ${TOO_LARGE}`);
      }
      return typeof value === "number" && Number.isInteger(value)
        ? ok(value)
        : fail(`must be an integer, got ${describeValue(value)}`);
    case "float":
      if (typeof value === "bigint") {
        return fail(`must be a number, got ${describeValue(value)}: ${NOT_EXACT_FLOAT}`);
      }
      return typeof value === "number"
        ? ok(value)
        : fail(`must be a number, got ${describeValue(value)}`);
    case "float[]": {
      const big = Array.isArray(value) ? value.find((v) => typeof v === "bigint") : undefined;
      if (big !== undefined) {
        return fail(
          `must be an array of numbers, but one entry is ${describeValue(big)}: ${NOT_EXACT_FLOAT}`,
        );
      }
      return Array.isArray(value) && value.every((v) => typeof v === "number")
        ? ok([...value])
        : fail(`must be an array of numbers, got ${describeValue(value)}`);
    }
    case "duration":
      if (typeof value === "string") {
        try {
          return ok(parseGoDuration(value));
        } catch (error) {
          return fail(`must be a duration such as "90s" or "1h30m": ${(error as Error).message}`);
        }
      }
      // BurntSushi/toml decodes an integer into time.Duration as nanoseconds;
      // an int64 of them (292 years at most) is held to the microsecond.
      if (typeof value === "number" && Number.isSafeInteger(value)) return ok(value / 1e9);
      if (typeof value === "bigint") return ok(Number(value) / 1e9);
      if (typeof value === "number" && Number.isInteger(value)) {
        return fail(
          `must be a duration such as "90s" or "1h30m", got ${describeValue(value)}: ${TOO_LARGE}`,
        );
      }
      return fail(`must be a duration such as "90s" or "1h30m", got ${describeValue(value)}`);
    case "string":
      return typeof value === "string"
        ? ok(value)
        : fail(`must be a string, got ${describeValue(value)}`);
    case "bool":
      return typeof value === "boolean"
        ? ok(value)
        : fail(`must be true or false, got ${describeValue(value)}`);
    case "string[]":
      return stringList(value, "an array of strings");
    case "string-or-string[]":
      if (typeof value === "string") return ok(value === "" ? [] : [value]);
      return stringList(value, "a string or an array of strings");
    case "datetime": {
      const date = value instanceof Date
        ? value
        : typeof value === "string"
        ? new Date(value)
        : null;
      if (date === null || Number.isNaN(date.getTime())) {
        return fail(
          `must be a date-time such as 2024-05-01T12:00:00Z, got ${describeValue(value)}`,
        );
      }
      return ok(formatDateTime(date));
    }
    case "string-map":
      return map(value, isString, "strings");
    case "bool-map":
      return map(value, (v) => typeof v === "boolean", "true/false values");
    case "string-list-map":
      return map(
        value,
        (v) => Array.isArray(v) && v.every(isString),
        "string arrays",
      );
    case "table":
      return isTable(value)
        ? ok(toPlain(value))
        : fail(`must be a table, got ${describeValue(value)}`);
    case "table[]":
      return Array.isArray(value) && value.every(isTable)
        ? ok(toPlain(value))
        : fail(`must be an array of tables, got ${describeValue(value)}`);
  }
}

const ZERO_DATETIME = "0001-01-01T00:00:00Z";

/** A date that smol-toml writes as a TOML date-time without milliseconds. */
class RfcDate extends Date {
  override toISOString(): string {
    return formatDateTime(this);
  }
}

/** Typed value -> what saveConfig writes for `spec`. */
export function toTomlValue(spec: KeySpec, value: unknown): unknown {
  switch (spec.type) {
    case "duration":
      return formatGoDuration(value as number);
    case "datetime":
      // "": what the GitLab client gives for a token that does not expire (an
      // answer without token_expires_at); written as the zero time, as the
      // official runner does, instead of an invalid date that fails the save.
      return new RfcDate(value === "" ? ZERO_DATETIME : value as string);
    default:
      return toTomlRaw(value);
  }
}

/** The typed default of a key; never shared between configs. */
export function typedDefault(spec: KeySpec): unknown {
  if (spec.default === null) return null;
  const converted = convertValue(spec.type, spec.default);
  if (!converted.ok) {
    throw new RangeError(`Schema default of "${spec.key}" is invalid: ${converted.reason}`);
  }
  return converted.value;
}
