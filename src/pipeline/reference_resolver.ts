import { CiConfigError } from "./ci_config_error.ts";
import type { CiMap, CiNode } from "./ci_node.ts";

/** GitLab allows `!reference` chains up to this depth. */
const MAX_REFERENCE_DEPTH = 10;

/**
 * Replaces every `!reference [job, key, …]` with a copy of the value it
 * names, after includes and `extends` were applied (GitLab's order). A target
 * may itself contain references. A reference inside an array stays a nested
 * array; the keywords that take lists flatten them when read.
 */
export function resolveReferences(root: CiMap): CiMap {
  const walk = (node: CiNode, stack: string[]): CiNode => {
    switch (node.kind) {
      case "scalar":
        return node;
      case "seq":
        return { ...node, items: node.items.map((item) => walk(item, stack)) };
      case "map": {
        const entries = new Map();
        for (const [k, e] of node.entries) {
          entries.set(k, { keyLoc: e.keyLoc, value: walk(e.value, stack) });
        }
        return { ...node, entries };
      }
      case "reference": {
        const id = node.path.join(".");
        const shown = `!reference [${node.path.join(", ")}]`;
        if (stack.includes(id)) {
          throw new CiConfigError(
            node.loc,
            shown,
            `circular reference: ${[...stack, id].join(" → ")}`,
          );
        }
        if (stack.length >= MAX_REFERENCE_DEPTH) {
          throw new CiConfigError(
            node.loc,
            shown,
            `nested more than ${MAX_REFERENCE_DEPTH} levels deep`,
          );
        }
        let target: CiNode = root;
        for (const [i, part] of node.path.entries()) {
          const next: CiNode | undefined = target.kind === "map"
            ? target.entries.get(part)?.value
            : undefined;
          if (!next) {
            const missing = node.path.slice(0, i + 1).join(".");
            throw new CiConfigError(node.loc, shown, `"${missing}" is not defined`);
          }
          target = next;
        }
        return walk(target, [...stack, id]);
      }
    }
  };
  return walk(root, []) as CiMap;
}
