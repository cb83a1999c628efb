import { CiConfigError, type SourceLocation } from "./ci_config_error.ts";
import { type CiEntry, type CiMap, type CiNode, describeNode } from "./ci_node.ts";

/** A value an input may take once resolved: GitLab's string, number, boolean and array types. */
type InputValue = string | number | boolean | unknown[];

/** `$[[ inputs.name ]]` or `$[[ inputs.name | truncate(0, 3) | posix_escape ]]`. */
const BLOCK = /\$\[\[\s*(.*?)\s*\]\]/g;

/**
 * CI/CD inputs as GitLab applies them to one file: the `spec:inputs` of its
 * header document declare name, type, default, options and regex; the
 * including `inputs:` (or the defaults, for the main file) give the values;
 * every `$[[ inputs.X ]]` in the file's keys and values is replaced. A value
 * that is one whole block keeps the input's type (a number, a boolean, an array).
 */
export function applyInputs(
  content: CiMap,
  options: { spec: CiEntry | null; given: CiEntry | null; file: string },
): CiMap {
  const { spec, given, file } = options;
  if (!spec) {
    if (given) {
      throw new CiConfigError(
        given.keyLoc,
        "inputs",
        `"${file}" declares no spec:inputs, so it takes no inputs`,
      );
    }
    return content;
  }
  const values = resolveInputs(spec, given, file);
  return interpolate(content, values, file) as CiMap;
}

function resolveInputs(
  spec: CiEntry,
  given: CiEntry | null,
  file: string,
): Map<string, InputValue> {
  if (spec.value.kind !== "map") {
    throw new CiConfigError(
      spec.keyLoc,
      "spec",
      `expected a hash, got ${describeNode(spec.value)}`,
    );
  }
  const inputsEntry = spec.value.entries.get("inputs");
  const declared = inputsEntry?.value.kind === "map" ? inputsEntry.value.entries : new Map();
  const provided = given?.value.kind === "map" ? given.value.entries : new Map<string, CiEntry>();
  if (given && given.value.kind !== "map") {
    throw new CiConfigError(given.keyLoc, "inputs", "expected a hash of input names and values");
  }
  for (const [name, entry] of provided) {
    if (!declared.has(name)) {
      throw new CiConfigError(
        entry.keyLoc,
        `inputs.${name}`,
        `unknown input: "${file}" declares ${[...declared.keys()].join(", ") || "none"}`,
      );
    }
  }
  const values = new Map<string, InputValue>();
  for (const [name, entry] of declared as Map<string, CiEntry>) {
    const key = `spec.inputs.${name}`;
    const def = entry.value.kind === "map" ? entry.value.entries : new Map<string, CiEntry>();
    const type = plainOf(def.get("type")?.value) ?? "string";
    const value = provided.get(name)?.value ?? def.get("default")?.value;
    if (value === undefined) {
      throw new CiConfigError(
        given?.keyLoc ?? entry.keyLoc,
        key,
        "required value has not been provided",
      );
    }
    const plain = plainOf(value);
    const at = value.loc;
    if (!isOfType(plain, String(type))) {
      throw new CiConfigError(at, key, `provided value is not a ${String(type)}`);
    }
    const options = def.get("options")?.value;
    if (options?.kind === "seq") {
      const allowed = options.items.map(plainOf);
      if (!allowed.some((o) => o === plain)) {
        throw new CiConfigError(
          at,
          key,
          `\`${String(plain)}\` cannot be used because it is not in the list of allowed options`,
        );
      }
    }
    const regex = plainOf(def.get("regex")?.value);
    if (typeof regex === "string" && typeof plain === "string") {
      const source = regex.replace(/^\/(.*)\/$/s, "$1");
      if (!new RegExp(source).test(plain)) {
        throw new CiConfigError(at, key, `provided value does not match required RegEx pattern`);
      }
    }
    values.set(name, plain as InputValue);
  }
  return values;
}

function isOfType(value: unknown, type: string): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    default:
      return false;
  }
}

function plainOf(node: CiNode | undefined): unknown {
  if (!node) return undefined;
  switch (node.kind) {
    case "scalar":
      return node.value;
    case "seq":
      return node.items.map(plainOf);
    case "map":
      return Object.fromEntries([...node.entries].map(([k, e]) => [k, plainOf(e.value)]));
    case "reference":
      return undefined;
  }
}

function interpolate(node: CiNode, values: Map<string, InputValue>, file: string): CiNode {
  switch (node.kind) {
    case "scalar": {
      if (typeof node.value !== "string" || !node.value.includes("$[[")) return node;
      const whole = /^\$\[\[\s*(.*?)\s*\]\]$/.exec(node.value);
      if (whole) return toNode(evaluate(whole[1]!, values, node.loc, file), node.loc);
      const text = node.value.replace(BLOCK, (_, expr: string) => {
        const v = evaluate(expr, values, node.loc, file);
        return Array.isArray(v) ? JSON.stringify(v) : String(v);
      });
      return { ...node, value: text };
    }
    case "seq":
      return { ...node, items: node.items.map((n) => interpolate(n, values, file)) };
    case "map": {
      const entries = new Map<string, CiEntry>();
      for (const [k, e] of node.entries) {
        const key = k.includes("$[[")
          ? k.replace(BLOCK, (_, expr: string) => String(evaluate(expr, values, e.keyLoc, file)))
          : k;
        entries.set(key, { keyLoc: e.keyLoc, value: interpolate(e.value, values, file) });
      }
      return { ...node, entries };
    }
    case "reference":
      return node;
  }
}

function evaluate(
  expr: string,
  values: Map<string, InputValue>,
  loc: SourceLocation,
  file: string,
): InputValue {
  const [access = "", ...functions] = expr.split("|").map((s) => s.trim());
  const m = /^inputs\.([A-Za-z0-9_-]+)$/.exec(access);
  if (!m) {
    throw new CiConfigError(loc, "", `unknown interpolation "$[[ ${expr} ]]" in "${file}"`);
  }
  if (!values.has(m[1]!)) {
    throw new CiConfigError(loc, "", `unknown input "${m[1]}" in "$[[ ${expr} ]]"`);
  }
  let value = values.get(m[1]!)!;
  for (const fn of functions) {
    const truncate = /^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(fn);
    if (truncate) {
      const start = Number(truncate[1]);
      value = String(value).slice(start, start + Number(truncate[2]));
    } else if (fn === "posix_escape") {
      value = String(value).replace(/([^A-Za-z0-9_\-.,:/@\n])/g, "\\$1");
    } else if (fn === "expand_vars") {
      // Variables are expanded later, when the job runs; leaving them in place gives the same text.
      value = String(value);
    } else {
      throw new CiConfigError(loc, "", `unknown interpolation function "${fn}"`);
    }
  }
  return value;
}

function toNode(value: unknown, loc: SourceLocation): CiNode {
  if (Array.isArray(value)) return { kind: "seq", loc, items: value.map((v) => toNode(v, loc)) };
  if (value !== null && typeof value === "object") {
    const entries = new Map<string, CiEntry>();
    for (const [k, v] of Object.entries(value)) {
      entries.set(k, { keyLoc: loc, value: toNode(v, loc) });
    }
    return { kind: "map", loc, entries };
  }
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return { kind: "scalar", loc, value };
  }
  return { kind: "scalar", loc, value: null };
}
