import { CiConfigError } from "./ci_config_error.ts";
import type { CiMap, CiNode, CiReference } from "./ci_node.ts";

/**
 * How many values the references may add, as they are copied: ten
 * references to a list of ten references to … multiply (the same limit as
 * for YAML aliases, `yaml_loader.ts`).
 */
const MAX_VALUES = 1_000_000;

/** GitLab allows `!reference` chains up to this depth. */
const MAX_REFERENCE_DEPTH = 10;

/**
 * Replaces every `!reference [job, key, …]` with a copy of the value it
 * names, after includes and `extends` were applied (GitLab's order). A target
 * may itself contain references. A reference inside an array stays a nested
 * array; the keywords that take lists flatten them when read.
 */
export function resolveReferences(root: CiMap): CiMap {
  let values = 0;
  /** `outer`: the reference being expanded, named when it makes too much. */
  const walk = (node: CiNode, stack: string[], outer: CiReference | null): CiNode => {
    if (++values > MAX_VALUES && outer) {
      throw new CiConfigError(
        outer.loc,
        `!reference [${outer.path.join(", ")}]`,
        `expands the file to more than ${MAX_VALUES} values (GitLab refuses YAML this big)`,
      );
    }
    switch (node.kind) {
      case "scalar":
        return node;
      case "seq":
        return { ...node, items: node.items.map((item) => walk(item, stack, outer)) };
      case "map": {
        const entries = new Map();
        for (const [k, e] of node.entries) {
          entries.set(k, { keyLoc: e.keyLoc, value: walk(e.value, stack, outer) });
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
        return walk(target, [...stack, id], outer ?? node);
      }
    }
  };
  return walk(root, [], null) as CiMap;
}
