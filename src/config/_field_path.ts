/**
 * Where schema keys live in the typed config objects. Each [[array]] entry (a
 * runner, a docker service) is its own root; sections inside it are addressed
 * relative to that root.
 */
import {
  CONFIG_KEYS,
  CONFIG_SECTIONS,
  type KeySpec,
  type SectionSpec,
  sectionSpec,
} from "./schema.ts";

export type Obj = Record<string, unknown>;

export function parentPath(path: string): string {
  const cut = path.lastIndexOf(".");
  return cut < 0 ? "" : path.slice(0, cut);
}

export function lastName(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}

/** The array section (or "" for the document) whose entries contain `path`. */
export function rootOf(path: string): string {
  for (let p = path; p !== ""; p = parentPath(p)) {
    if (sectionSpec(p)?.kind === "array") return p;
  }
  return "";
}

/** `path` relative to its root, as a dotted TOML path ("docker.services"). */
export function relativeToRoot(path: string, root: string): string {
  if (root === "") return path;
  return path === root ? "" : path.slice(root.length + 1);
}

function section(path: string): SectionSpec {
  const spec = sectionSpec(path);
  if (spec === undefined) throw new RangeError(`Unknown config section "${path}"`);
  return spec;
}

/** Field path of `key` relative to its root object. */
export function keyFieldPath(key: KeySpec): string[] {
  const owner = section(key.section);
  return owner.kind === "array" ? [key.field] : [...owner.field, key.field];
}

/** Field path of array section `path` relative to its parent's root object. */
export function arrayFieldPath(path: string): string[] {
  return [...section(path).field];
}

export function getField(obj: Obj, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const name of path) cur = (cur as Obj | undefined)?.[name];
  return cur;
}

export function setField(obj: Obj, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const name of path.slice(0, -1)) {
    const next = cur[name];
    if (typeof next === "object" && next !== null) cur = next as Obj;
    else {
      const created: Obj = {};
      cur[name] = created;
      cur = created;
    }
  }
  cur[path[path.length - 1] ?? ""] = value;
}

/** Supported keys stored in the objects of root `root`. */
export function supportedKeysOfRoot(root: string): KeySpec[] {
  return CONFIG_KEYS.filter((k) =>
    k.supported && rootOf(k.section) === root && allSupported(k.section, root)
  );
}

/** Supported array sections directly stored in the objects of root `root`. */
export function supportedArraysOfRoot(root: string): SectionSpec[] {
  return CONFIG_SECTIONS.filter((s) =>
    s.kind === "array" && s.path !== "" && rootOf(parentPath(s.path)) === root &&
    allSupported(s.path, root)
  );
}

function allSupported(path: string, root: string): boolean {
  for (let p = path;; p = parentPath(p)) {
    if (!section(p).supported) return false;
    if (p === root || p === "") return true;
  }
}
