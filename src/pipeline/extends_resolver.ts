import { CiConfigError } from "./ci_config_error.ts";
import { type CiEntry, type CiMap, type CiNode, deepMerge, describeNode } from "./ci_node.ts";
import { isReservedKeyword } from "./pipeline_keywords.ts";

/** GitLab's limit on `extends` depth. */
const MAX_EXTENDS_DEPTH = 11;

/**
 * Applies `extends` to every job and hidden job: the bases are merged in the
 * order listed (each one resolved first), then the job itself on top; hashes
 * merge key by key, arrays are replaced. The result has no `extends` keys.
 */
export function resolveExtends(root: CiMap): CiMap {
  const done = new Map<string, CiNode>();
  const resolve = (name: string, chain: string[]): CiNode => {
    const cached = done.get(name);
    if (cached) return cached;
    const entry = root.entries.get(name)!;
    const job = entry.value;
    if (job.kind !== "map" || !job.entries.has("extends")) {
      done.set(name, job);
      return job;
    }
    const extendsEntry = job.entries.get("extends")!;
    const targets = namesOf(extendsEntry, `${name}.extends`);
    let merged: CiNode = { kind: "map", loc: job.loc, entries: new Map() };
    for (const target of targets) {
      if (chain.includes(target) || target === name) {
        throw new CiConfigError(
          extendsEntry.keyLoc,
          `jobs.${name}.extends`,
          `circular dependency detected: ${[...chain, name, target].join(" → ")}`,
        );
      }
      if (chain.length + 1 >= MAX_EXTENDS_DEPTH) {
        throw new CiConfigError(
          extendsEntry.keyLoc,
          `jobs.${name}.extends`,
          `nested more than ${MAX_EXTENDS_DEPTH} levels deep`,
        );
      }
      const base = root.entries.get(target);
      if (!base || isReservedKeyword(target)) {
        throw new CiConfigError(
          extendsEntry.keyLoc,
          `jobs.${name}.extends`,
          `unknown job or hidden job "${target}"`,
        );
      }
      if (base.value.kind !== "map") {
        throw new CiConfigError(
          base.keyLoc,
          `jobs.${target}`,
          `expected a hash, got ${describeNode(base.value)}`,
        );
      }
      merged = deepMerge(merged, resolve(target, [...chain, name]));
    }
    const own = new Map(job.entries);
    own.delete("extends");
    const result = deepMerge(merged, { kind: "map", loc: job.loc, entries: own });
    done.set(name, result);
    return result;
  };
  const entries = new Map<string, CiEntry>();
  for (const [name, entry] of root.entries) {
    entries.set(
      name,
      isReservedKeyword(name) ? entry : { keyLoc: entry.keyLoc, value: resolve(name, []) },
    );
  }
  return { kind: "map", loc: root.loc, entries };
}

function namesOf(entry: CiEntry, key: string): string[] {
  const node = entry.value;
  const items = node.kind === "seq" ? node.items : [node];
  return items.map((item) => {
    if (item.kind !== "scalar" || typeof item.value !== "string") {
      throw new CiConfigError(
        item.loc,
        `jobs.${key}`,
        "expected a job name or an array of job names",
      );
    }
    return item.value;
  });
}
