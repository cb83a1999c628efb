/**
 * Command-line flags as the official runner (urfave/cli) reads them:
 * `--name value`, `--name=value`, short aliases (`-c file`), booleans that
 * take `--flag`, `--flag=true` or `--flag=false`, repeatable list flags, and
 * an environment variable per flag used when the flag is absent.
 *
 * node:util parseArgs cannot take `--locked=false` for a boolean, which
 * existing registration scripts pass, hence this small parser.
 */

/**
 * `map`: repeatable `key:value` items, kept as given (the command splits them).
 * `int64`: an integer of Go's int64 range (the flags of config.toml's integer
 * keys), kept as its digits: one beyond ±2^53 is no exact number.
 */
export type FlagType = "string" | "bool" | "int" | "int64" | "list" | "map";

export interface FlagSpec {
  name: string;
  type: FlagType;
  aliases?: string[];
  env?: string;
  help?: string;
  hidden?: boolean;
  /**
   * For list and map flags. true: the environment variable is one item, and
   * items on the command line come after it (urfave's GenericFlag over a Go
   * struct field, how the official runner makes its config flags). Otherwise
   * the variable is split at commas and used only when the flag is absent
   * (urfave's StringSliceFlag).
   */
  envIsOneItem?: boolean;
}

export type FlagValue = string | boolean | number | string[];

export interface ParsedFlags {
  values: Map<string, FlagValue>;
  /** Flags given on the command line (not from the environment). */
  explicit: Set<string>;
  /** Flags whose value (or some of whose items) came from their variable: name -> variable. */
  fromEnv: Map<string, string>;
  positionals: string[];
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A flag the command does not define; main says when it is a global option given too late. */
export class UnknownFlagError extends UsageError {
  /** The flag's name without dashes or value: `debug` of `--debug=true`. */
  readonly flag: string;
  constructor(arg: string) {
    super(`Unknown flag: ${arg}`);
    this.flag = arg.replace(/^--?/, "").split("=")[0]!;
  }
}

/** How errors name where a value came from: `Flag --limit`, or `RUNNER_LIMIT (--limit)`. */
function sourceLabel(spec: FlagSpec, isFromEnv: boolean): string {
  return isFromEnv && spec.env ? `${spec.env} (--${spec.name})` : `Flag --${spec.name}`;
}

function parseBool(label: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (["true", "1", "t", "yes"].includes(v)) return true;
  if (["false", "0", "f", "no", ""].includes(v)) return false;
  throw new UsageError(`${label} takes true or false, got "${raw}"`);
}

function parseInt10(label: string, raw: string): number {
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new UsageError(`${label} takes an integer, got "${raw}"`);
  }
  const value = Number(raw);
  // A larger one is not exact, and register wrote it as a float (1e20 -> 100000000000000000000.0),
  // which no config.toml loader takes for an integer key.
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(
      `${label} takes an integer, got "${raw}": out of range (beyond ±${Number.MAX_SAFE_INTEGER})`,
    );
  }
  return value;
}

const INT64_MAX = 2n ** 63n - 1n;

function parseInt64(label: string, raw: string): string {
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new UsageError(`${label} takes an integer, got "${raw}"`);
  }
  const value = BigInt(raw.trim());
  if (value < -INT64_MAX - 1n || value > INT64_MAX) {
    throw new UsageError(
      `${label} takes an integer, got "${raw}": out of range (-${INT64_MAX + 1n} to ${INT64_MAX})`,
    );
  }
  return String(value);
}

function convert(spec: FlagSpec, raw: string, isFromEnv = false): FlagValue {
  switch (spec.type) {
    case "bool":
      return parseBool(sourceLabel(spec, isFromEnv), raw);
    case "int":
      return parseInt10(sourceLabel(spec, isFromEnv), raw);
    case "int64":
      return parseInt64(sourceLabel(spec, isFromEnv), raw);
    case "list":
    case "map":
      return [raw];
    default:
      return raw;
  }
}

function isRepeatable(spec: FlagSpec): boolean {
  return spec.type === "list" || spec.type === "map";
}

export interface ParseOptions {
  /**
   * Whether the command takes arguments besides its flags (`exec` its job
   * names). Otherwise an argument is refused rather than ignored: most often
   * it is the value of a boolean flag given without "=" (`--locked false`),
   * which would leave the flag true.
   */
  takesArguments?: boolean;
}

function refuseArgument(arg: string, afterBool: string | null): never {
  if (afterBool !== null) {
    throw new UsageError(
      `Unexpected argument "${arg}" after ${afterBool}: a boolean flag takes its value after "=" (${afterBool}=${arg})`,
    );
  }
  throw new UsageError(`Unexpected argument "${arg}": this command takes flags only`);
}

export function parseFlags(
  args: string[],
  specs: FlagSpec[],
  env: (name: string) => string | undefined,
  options: ParseOptions = {},
): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(spec.name, spec);
    for (const alias of spec.aliases ?? []) byName.set(alias, spec);
  }
  const values = new Map<string, FlagValue>();
  const explicit = new Set<string>();
  const fromEnv = new Map<string, string>();
  const positionals: string[] = [];
  /** The boolean flag just before, when given without "=": `--locked` of `--locked false`. */
  let afterBool: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      const rest = args.slice(i + 1);
      if (!options.takesArguments && rest.length > 0) refuseArgument(rest[0]!, null);
      positionals.push(...rest);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!options.takesArguments) refuseArgument(arg, afterBool);
      positionals.push(arg);
      afterBool = null;
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new UnknownFlagError(arg);
    let raw: string;
    afterBool = eq < 0 && spec.type === "bool" ? arg : null;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === "bool") raw = "true";
    else {
      const next = args[i + 1];
      if (next === undefined) throw new UsageError(`Flag --${spec.name} needs a value`);
      raw = next;
      i++;
    }
    const value = convert(spec, raw);
    const previous = values.get(spec.name);
    values.set(
      spec.name,
      isRepeatable(spec) && Array.isArray(previous) && explicit.has(spec.name)
        ? [...previous, raw]
        : value,
    );
    explicit.add(spec.name);
  }
  for (const spec of specs) {
    if (!spec.env) continue;
    const raw = env(spec.env);
    if (raw === undefined || raw === "") continue;
    if (isRepeatable(spec) && spec.envIsOneItem) {
      fromEnv.set(spec.name, spec.env);
      const given = values.get(spec.name);
      values.set(spec.name, [raw, ...(Array.isArray(given) ? given : [])]);
      continue;
    }
    if (values.has(spec.name)) continue;
    fromEnv.set(spec.name, spec.env);
    values.set(
      spec.name,
      isRepeatable(spec)
        ? raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)
        : convert(spec, raw, true),
    );
  }
  return { values, explicit, fromEnv, positionals };
}

/** Typed access to parsed flags. */
export class Flags {
  constructor(readonly parsed: ParsedFlags) {}

  string(name: string, fallback = ""): string {
    const v = this.parsed.values.get(name);
    return typeof v === "string" ? v : fallback;
  }

  bool(name: string, fallback = false): boolean {
    const v = this.parsed.values.get(name);
    return typeof v === "boolean" ? v : fallback;
  }

  int(name: string, fallback = 0): number {
    const v = this.parsed.values.get(name);
    return typeof v === "number" ? v : fallback;
  }

  /** An `int64` flag: a number, or a bigint beyond ±2^53 (smol-toml writes it exactly). */
  int64(name: string): number | bigint {
    const v = this.parsed.values.get(name);
    if (typeof v !== "string") return 0;
    const value = BigInt(v);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }

  list(name: string): string[] {
    const v = this.parsed.values.get(name);
    return Array.isArray(v) ? v : [];
  }

  has(name: string): boolean {
    return this.parsed.values.has(name);
  }

  isExplicit(name: string): boolean {
    return this.parsed.explicit.has(name);
  }

  /**
   * How an error names where `name`'s value came from: `Flag --limit`,
   * `RUNNER_LIMIT (--limit)`, or `Flag --env (or RUNNER_ENV)` for a list
   * given both ways.
   */
  label(name: string): string {
    const env = this.parsed.fromEnv.get(name);
    if (env === undefined) return `Flag --${name}`;
    return this.isExplicit(name) ? `Flag --${name} (or ${env})` : `${env} (--${name})`;
  }

  get positionals(): string[] {
    return this.parsed.positionals;
  }
}

export function renderHelp(command: string, summary: string, specs: FlagSpec[]): string {
  const lines = [`Usage: runner ${command} [options]`, "", summary, "", "Options:"];
  for (const spec of specs) {
    if (spec.hidden) continue;
    const names = [
      `--${spec.name}`,
      ...(spec.aliases ?? []).map((a) => a.length === 1 ? `-${a}` : `--${a}`),
    ];
    const value = spec.type === "bool" ? "" : spec.type === "int" ? " value" : " value";
    const env = spec.env ? ` [$${spec.env}]` : "";
    lines.push(`   ${names.join(", ")}${value}\t${spec.help ?? ""}${env}`);
  }
  return lines.join("\n");
}
