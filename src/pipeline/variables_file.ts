import { CiConfigError } from "./ci_config_error.ts";
import type { ExecVariable } from "./exec_variable.ts";

/**
 * Reads a local variables file (`--variables-file`), which stands in for the
 * project's CI/CD settings. Two formats:
 *
 * - dotenv: `KEY=VALUE` lines; `#` comments, blank lines and an `export `
 *   prefix are allowed; `"double"` quotes understand `\n`, `\"` and `\\`,
 *   `'single'` quotes are literal.
 * - YAML or JSON (chosen by a `.yml`, `.yaml` or `.json` name, or a first
 *   character `{`): a map of `KEY: value` or
 *   `KEY: { value, masked, file, raw }`.
 *
 * Only a map file loads npm:yaml (CommonJS, 100 ms and more of start-up in Deno).
 */
export async function parseVariablesFile(text: string, file: string): Promise<ExecVariable[]> {
  const isMapFile = /\.(ya?ml|json)$/i.test(file) || text.trimStart().startsWith("{");
  if (!isMapFile) return parseDotenv(text, file);
  const { isMap, isScalar, LineCounter, parseDocument } = await import("yaml");
  // Values as written, as a project's CI/CD settings hold them: the failsafe
  // schema reads every scalar as text (3.10 stays "3.10", not 3.1).
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { schema: "failsafe", lineCounter });
  const error = doc.errors[0];
  if (error) {
    throw new CiConfigError(
      { file, line: lineCounter.linePos(error.pos[0]).line },
      "",
      `cannot be parsed: ${error.message.split("\n")[0]}`,
      { cause: error },
    );
  }
  // Each variable's line, for errors.
  const lines = new Map<string, number>();
  if (isMap(doc.contents)) {
    for (const { key } of doc.contents.items) {
      if (isScalar(key) && key.range) {
        lines.set(String(key.value), lineCounter.linePos(key.range[0]).line);
      }
    }
  }
  return parseMapFile(doc.toJS(), file, lines);
}

/** `KEY=VALUE` lines, as in a dotenv file or a `reports: dotenv` artifact. */
export function parseDotenv(text: string, file: string): ExecVariable[] {
  const out: ExecVariable[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      throw new CiConfigError(
        { file, line: i + 1 },
        "",
        `expected KEY=VALUE, got "${line.slice(0, 40)}"`,
      );
    }
    let value = m[2]!;
    if (/^"(.*)"$/.test(value)) {
      value = value.slice(1, -1).replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    } else if (/^'(.*)'$/.test(value)) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    out.push({ key: m[1]!, value, isMasked: false, isFile: false, isRaw: false });
  }
  return out;
}

function parseMapFile(data: unknown, file: string, lines: Map<string, number>): ExecVariable[] {
  if (data === null || data === undefined || data === "") return [];
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new CiConfigError({ file, line: 0 }, "", "expected a map of variable names to values");
  }
  return Object.entries(data as Record<string, unknown>).map(([key, v]) => {
    const loc = { file, line: lines.get(key) ?? 0 };
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new CiConfigError(loc, key, "variable names may only contain letters, digits and _");
    }
    const scalar = (x: unknown): string | null =>
      typeof x === "string" || typeof x === "number" || typeof x === "boolean" ? String(x) : null;
    if (scalar(v) !== null) {
      return { key, value: scalar(v)!, isMasked: false, isFile: false, isRaw: false };
    }
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const unknownKey = Object.keys(o).find((k) =>
        !["value", "masked", "file", "raw"].includes(k)
      );
      if (unknownKey) {
        throw new CiConfigError(
          loc,
          `${key}.${unknownKey}`,
          "unknown key; expected value, masked, file or raw",
        );
      }
      const flag = (k: string) => {
        if (o[k] === undefined) return false;
        if (o[k] === true || o[k] === "true") return true;
        if (o[k] === false || o[k] === "false") return false;
        throw new CiConfigError(loc, `${key}.${k}`, "expected true or false");
      };
      const value = o["value"] === undefined ? "" : scalar(o["value"]);
      if (value === null) throw new CiConfigError(loc, `${key}.value`, "expected a string");
      return { key, value, isMasked: flag("masked"), isFile: flag("file"), isRaw: flag("raw") };
    }
    throw new CiConfigError(loc, key, "expected a string or a hash with value:");
  });
}
