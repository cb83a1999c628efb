import { CiConfigError } from "./ci_config_error.ts";
import { type CiMap, type CiNode, describeNode } from "./ci_node.ts";

/**
 * GitLab flattens script and list arrays nested up to this depth, the outer
 * array counting as one (`Entry::Commands::MAX_NESTING_LEVEL`); nesting comes
 * from `!reference`.
 */
const MAX_NESTING = 10;

export function fail(node: CiNode, key: string, reason: string): never {
  throw new CiConfigError(node.loc, key, reason);
}

export function readString(node: CiNode, key: string): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  return fail(node, key, `expected a string, got ${describeNode(node)}`);
}

/** Strings and integers, as GitLab accepts for variable values and names; not floats. */
export function readText(node: CiNode, key: string): string {
  if (
    node.kind === "scalar" && !node.isFloat &&
    (typeof node.value === "string" || typeof node.value === "number")
  ) {
    return String(node.value);
  }
  return fail(node, key, `expected a string, got ${describeNode(node)}`);
}

export function readBool(node: CiNode, key: string): boolean {
  if (node.kind === "scalar" && typeof node.value === "boolean") return node.value;
  return fail(node, key, `expected true or false, got ${describeNode(node)}`);
}

export function readInt(node: CiNode, key: string, min: number, max: number): number {
  if (
    node.kind === "scalar" && !node.isFloat && typeof node.value === "number" &&
    Number.isInteger(node.value)
  ) {
    if (node.value < min || node.value > max) {
      fail(node, key, `expected an integer from ${min} to ${max}, got ${node.value}`);
    }
    return node.value;
  }
  return fail(node, key, `expected an integer, got ${describeNode(node)}`);
}

export function readMap(node: CiNode, key: string): CiMap {
  if (node.kind === "map") return node;
  return fail(node, key, `expected a hash, got ${describeNode(node)}`);
}

/** Items of an array, nested arrays (from `!reference`) flattened; a lone value is a one-item list. */
export function readItems(node: CiNode, key: string, isSingleAllowed = true): CiNode[] {
  if (node.kind !== "seq") {
    if (isSingleAllowed) return [node];
    return fail(node, key, `expected an array, got ${describeNode(node)}`);
  }
  const out: CiNode[] = [];
  // `depth`: how deep the array holding `n` is; the outer array is 1.
  const add = (n: CiNode, depth: number) => {
    if (n.kind !== "seq") return void out.push(n);
    if (depth + 1 > MAX_NESTING) {
      fail(n, key, `arrays nested more than ${MAX_NESTING} levels deep`);
    }
    for (const item of n.items) add(item, depth + 1);
  };
  for (const item of node.items) add(item, 1);
  return out;
}

/** A string or an array of strings (nested arrays flattened), as `script:` takes. */
export function readStrings(node: CiNode, key: string): string[] {
  const isOk = (n: CiNode) => n.kind === "scalar" && typeof n.value === "string";
  if (node.kind === "scalar" && typeof node.value === "string") return [node.value];
  if (node.kind === "seq") {
    const items = readItems(node, key);
    const bad = items.find((n) => !isOk(n));
    if (!bad) return items.map((n) => (n.kind === "scalar" ? String(n.value) : ""));
    return fail(bad, key, "expected a string or an array of strings");
  }
  return fail(node, key, "expected a string or an array of strings");
}

/** Warns about nothing; checks that `map` only has `allowed` keys. */
export function checkKeys(map: CiMap, key: string, allowed: readonly string[]): void {
  for (const [k, entry] of map.entries) {
    if (!allowed.includes(k)) {
      throw new CiConfigError(
        entry.keyLoc,
        `${key}.${k}`,
        `unknown key; expected one of ${allowed.join(", ")}`,
      );
    }
  }
}
