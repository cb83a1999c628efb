import type { SourceLocation } from "./ci_config_error.ts";

/**
 * A YAML value that remembers where it was written, so that errors found
 * after includes, `extends` and `!reference` were applied still name the file
 * and line the user has to edit.
 */
export type CiNode = CiScalar | CiSeq | CiMap | CiReference;

export interface CiScalar {
  kind: "scalar";
  loc: SourceLocation;
  value: string | number | boolean | null;
  /**
   * Written as a YAML float (`1.0`, `3.10`, `1e3`, `.inf`), which GitLab
   * refuses where it wants text or an integer (a variable's value): the
   * number would not read as written. Absent for integers and other values.
   */
  isFloat?: true;
}

export interface CiSeq {
  kind: "seq";
  loc: SourceLocation;
  items: CiNode[];
}

export interface CiEntry {
  keyLoc: SourceLocation;
  value: CiNode;
}

export interface CiMap {
  kind: "map";
  loc: SourceLocation;
  /** Insertion order is the order in the file (job order matters for the plan). */
  entries: Map<string, CiEntry>;
}

/** `!reference [job, key, ...]`, replaced by the target before the model is read. */
export interface CiReference {
  kind: "reference";
  loc: SourceLocation;
  path: string[];
}

export function describeNode(node: CiNode): string {
  switch (node.kind) {
    case "scalar":
      if (node.value === null) return "null";
      if (node.isFloat) return "a float";
      return `a ${typeof node.value}`;
    case "seq":
      return "an array";
    case "map":
      return "a hash";
    case "reference":
      return "an unresolved !reference";
  }
}

/** Plain JavaScript value of a node, for display and hashing. */
export function nodeToPlain(node: CiNode): unknown {
  switch (node.kind) {
    case "scalar":
      return node.value;
    case "seq":
      return node.items.map(nodeToPlain);
    case "map": {
      const out: Record<string, unknown> = {};
      for (const [k, e] of node.entries) out[k] = nodeToPlain(e.value);
      return out;
    }
    case "reference":
      return `!reference [${node.path.join(", ")}]`;
  }
}

export function mapGet(map: CiMap, key: string): CiNode | undefined {
  return map.entries.get(key)?.value;
}

/** Where a key of a map was written, falling back to the map itself. */
export function keyLocation(map: CiMap, key: string): SourceLocation {
  return map.entries.get(key)?.keyLoc ?? map.loc;
}

/**
 * GitLab's deep merge, used for `include` and `extends`: hashes are merged key
 * by key, anything else (arrays included) is replaced by `over`.
 */
export function deepMerge(base: CiNode, over: CiNode): CiNode {
  if (base.kind !== "map" || over.kind !== "map") return over;
  const entries = new Map(base.entries);
  for (const [key, entry] of over.entries) {
    const old = entries.get(key);
    entries.set(
      key,
      old ? { keyLoc: entry.keyLoc, value: deepMerge(old.value, entry.value) } : entry,
    );
  }
  return { kind: "map", loc: over.loc, entries };
}
