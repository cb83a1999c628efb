import { CiConfigError } from "./ci_config_error.ts";
import { type CiEntry, type CiMap, type CiNode, deepMerge, describeNode } from "./ci_node.ts";
import { isReservedKeyword } from "./pipeline_keywords.ts";

export interface ExtendsOptions {
  /**
   * Some includes were skipped (exec cannot fetch them): a job that extends
   * an unknown name is left out instead of failing the whole file.
   */
  isMissingAllowed?: boolean;
  /** Filled with the jobs left out, each with the missing name it extends. */
  unavailable?: Map<string, string>;
}

/** Thrown inside `resolveExtends` for a job left out; never escapes it. */
class Unavailable extends Error {}

/**
 * GitLab's limit on `extends` depth: a job whose chain has more than this
 * many entries with `extends` (itself, its base, its base's base…) is an
 * error, however the jobs are ordered in the file.
 */
const MAX_EXTENDS_DEPTH = 11;

/**
 * Applies `extends` to every job and hidden job: the bases are merged in the
 * order listed (each one resolved first), then the job itself on top; hashes
 * merge key by key, arrays are replaced. The result has no `extends` keys.
 */
export function resolveExtends(root: CiMap, options: ExtendsOptions = {}): CiMap {
  const done = new Map<string, CiNode>();
  /** Entries with `extends` on the longest chain from a resolved name (0 without `extends`). */
  const depths = new Map<string, number>();
  const unavailable = options.unavailable ?? new Map<string, string>();
  const resolve = (name: string, chain: string[]): CiNode => {
    const cached = done.get(name);
    if (cached) return cached;
    if (unavailable.has(name)) throw new Unavailable();
    const entry = root.entries.get(name)!;
    const job = entry.value;
    if (job.kind !== "map" || !job.entries.has("extends")) {
      done.set(name, job);
      depths.set(name, 0);
      return job;
    }
    const extendsEntry = job.entries.get("extends")!;
    const targets = namesOf(extendsEntry, `${name}.extends`);
    let merged: CiNode = { kind: "map", loc: job.loc, entries: new Map() };
    let depth = 1;
    for (const target of targets) {
      if (chain.includes(target) || target === name) {
        throw new CiConfigError(
          extendsEntry.keyLoc,
          `jobs.${name}.extends`,
          `circular dependency detected: ${[...chain, name, target].join(" → ")}`,
        );
      }
      const base = root.entries.get(target);
      if (!base && options.isMissingAllowed && !isReservedKeyword(target)) {
        // Most likely defined in an include exec skipped (project, remote, component).
        unavailable.set(name, target);
        throw new Unavailable();
      }
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
      let resolvedBase: CiNode;
      try {
        resolvedBase = resolve(target, [...chain, name]);
      } catch (error) {
        if (error instanceof Unavailable) unavailable.set(name, unavailable.get(target) ?? target);
        throw error;
      }
      merged = deepMerge(merged, resolvedBase);
      depth = Math.max(depth, 1 + depths.get(target)!);
    }
    // Counted from the resolved bases, not the chain that led here: a base
    // resolved earlier (written before this job) has a short chain.
    if (depth > MAX_EXTENDS_DEPTH) {
      throw new CiConfigError(
        extendsEntry.keyLoc,
        `jobs.${name}.extends`,
        `nested more than ${MAX_EXTENDS_DEPTH} levels deep`,
      );
    }
    const own = new Map(job.entries);
    own.delete("extends");
    const result = deepMerge(merged, { kind: "map", loc: job.loc, entries: own });
    done.set(name, result);
    depths.set(name, depth);
    return result;
  };
  const entries = new Map<string, CiEntry>();
  for (const [name, entry] of root.entries) {
    if (isReservedKeyword(name)) {
      entries.set(name, entry);
      continue;
    }
    try {
      entries.set(name, { keyLoc: entry.keyLoc, value: resolve(name, []) });
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
    }
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
