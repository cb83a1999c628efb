import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseAllDocuments,
} from "yaml";
import { CiConfigError, type SourceLocation } from "./ci_config_error.ts";
import { applyInputs } from "./ci_inputs.ts";
import { readPlainScalar } from "./psych_scalar.ts";
import type { CiEntry, CiMap, CiNode } from "./ci_node.ts";

/** GitLab's `!reference [job, key, …]` tag; known to the parser so it does not warn. */
const REFERENCE_TAG = {
  tag: "!reference",
  collection: "seq" as const,
  identify: () => false,
  resolve: (value: unknown) => value,
};

/**
 * What YAML does not allow in a file, as GitLab's parser (libyaml) refuses
 * it: C0 controls but tab, line feed and carriage return; DEL; C1 controls
 * but NEL; U+FFFE and U+FFFF. npm:yaml takes them (a NUL then reached the
 * job's script, which failed as a system failure).
 */
// deno-lint-ignore no-control-regex
const NOT_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]/;

/**
 * Parses one CI YAML file into located nodes. Anchors, aliases and `<<:` merge
 * keys are resolved here (GitLab's YAML parser does the same); `!reference`
 * stays a node until includes are merged. A file may start with a `spec:`
 * header document (CI/CD inputs) followed by `---`: `inputs` (the including
 * `include:inputs`, or null for defaults) are checked against its
 * `spec:inputs` and interpolated (`applyInputs`).
 */
export function parseCiYaml(
  text: string,
  file: string,
  inputs: CiEntry | null = null,
): CiMap {
  const lineCounter = new LineCounter();
  const control = NOT_PRINTABLE.exec(text);
  if (control) {
    const line = text.slice(0, control.index).split("\n").length;
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new CiConfigError(
      { file, line },
      "",
      `invalid YAML: control character U+${code} is not allowed`,
    );
  }
  const docs = parseAllDocuments(text, {
    lineCounter,
    merge: true,
    customTags: [REFERENCE_TAG],
    prettyErrors: false,
    uniqueKeys: false,
    // Integers as written, at any size (Ruby's, hence GitLab's, are exact);
    // floats stay numbers and are marked.
    intAsBigInt: true,
  });
  const at = (offset: number | undefined): SourceLocation => ({
    file,
    line: offset === undefined ? 0 : lineCounter.linePos(offset).line,
  });
  if (!Array.isArray(docs)) {
    throw new CiConfigError({ file, line: 0 }, "", "cannot be parsed as YAML");
  }
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      throw new CiConfigError(
        at(error.pos[0]),
        "",
        `invalid YAML: ${error.message.split("\n")[0]}`,
        { cause: error },
      );
    }
  }
  let doc: Document.Parsed | undefined = docs[0];
  let spec: CiEntry | null = null;
  if (docs.length > 1) {
    const header = docs[0] ? new Converter(docs[0], at).convert(docs[0].contents) : null;
    if (header?.kind === "map" && header.entries.has("spec")) {
      spec = header.entries.get("spec")!;
      doc = docs[1];
    }
    if (docs.length > 2 || doc === docs[0]) {
      throw new CiConfigError(at(docs[1]?.range[0]), "", "expected a single YAML document");
    }
  }
  if (!doc || doc.contents === null) {
    return { kind: "map", loc: { file, line: 1 }, entries: new Map() };
  }
  const root = new Converter(doc, at).convert(doc.contents);
  // A document with nothing in it (`---` alone, `~`) is an empty file.
  if (root.kind === "scalar" && root.value === null) {
    return { kind: "map", loc: { file, line: 1 }, entries: new Map() };
  }
  if (root.kind !== "map") {
    throw new CiConfigError(root.loc, "", "the top level must be a hash of keywords and jobs");
  }
  return applyInputs(root, { spec, given: inputs, file });
}

/**
 * How many values a file may hold once its aliases are expanded (each alias
 * is copied). A few aliases of aliases multiply (`a: &a [x, x]`, `b: &b [*a,
 * *a]`, …: ten levels of ten are 10^10 values), and GitLab refuses YAML whose
 * parse is too big ("The parsed YAML is too big"); a million is some ten
 * times a 20000-job file.
 */
const MAX_VALUES = 1_000_000;

class Converter {
  #resolving = new Set<YamlNode>();
  #values = 0;
  constructor(
    readonly doc: Document.Parsed,
    readonly at: (offset: number | undefined) => SourceLocation,
  ) {}

  convert(node: unknown): CiNode {
    if (++this.#values > MAX_VALUES) {
      throw new CiConfigError(
        this.at((node as YamlNode | null)?.range?.[0]),
        "",
        `invalid YAML: more than ${MAX_VALUES} values once its aliases are expanded (GitLab refuses YAML this big)`,
      );
    }
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) {
        throw new CiConfigError(this.at(node.range?.[0]), "", `unknown alias "*${node.source}"`);
      }
      if (this.#resolving.has(target)) {
        throw new CiConfigError(
          this.at(node.range?.[0]),
          "",
          `alias "*${node.source}" refers to itself`,
        );
      }
      this.#resolving.add(target);
      try {
        return this.convert(target);
      } finally {
        this.#resolving.delete(target);
      }
    }
    const yamlNode = node as YamlNode;
    const loc = this.at(yamlNode?.range?.[0]);
    if (isScalar(node)) {
      // Unquoted and untagged: as GitLab's parser reads it (YAML 1.1).
      if (node.type === "PLAIN" && node.tag === undefined && typeof node.source === "string") {
        return this.#plain(node.source, loc);
      }
      const v = node.value;
      if (v === null || v === undefined) return { kind: "scalar", loc, value: null };
      if (typeof v === "number") return { kind: "scalar", loc, value: v, isFloat: true };
      if (typeof v === "string" || typeof v === "boolean") return { kind: "scalar", loc, value: v };
      if (typeof v === "bigint") {
        // Beyond 2^53 a number would round: the exact digits, as GitLab passes them on.
        const isSafe = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER);
        return { kind: "scalar", loc, value: isSafe ? Number(v) : String(v) };
      }
      return { kind: "scalar", loc, value: String(v) };
    }
    if (isSeq(node)) {
      const items = node.items.map((item) => this.convert(item));
      if (node.tag === "!reference") {
        const path = items.map((item) => {
          if (item.kind !== "scalar" || item.value === null) {
            throw new CiConfigError(
              loc,
              "",
              "!reference expects an array of names, like !reference [.setup, script]",
            );
          }
          return String(item.value);
        });
        if (path.length === 0) {
          throw new CiConfigError(loc, "", "!reference needs at least one name");
        }
        return { kind: "reference", loc, path };
      }
      return { kind: "seq", loc, items };
    }
    if (isMap(node)) {
      const entries = new Map<string, CiEntry>();
      const merged: CiMap[] = [];
      for (const pair of node.items) {
        const key = pair.key;
        if (
          isScalar(key) &&
          (typeof key.value === "symbol" || (key.source === "<<" && key.type === "PLAIN"))
        ) {
          const value = this.convert(pair.value);
          const sources = value.kind === "seq" ? value.items : [value];
          for (const source of sources) {
            if (source.kind !== "map") {
              throw new CiConfigError(
                this.at(key.range?.[0]),
                "<<",
                "a merge key needs a hash or a list of hashes",
              );
            }
            merged.push(source);
          }
          continue;
        }
        const keyNode = this.convert(key);
        if (keyNode.kind !== "scalar" || keyNode.value === null) {
          throw new CiConfigError(keyNode.loc, "", "keys must be strings");
        }
        const name = String(keyNode.value);
        let value = this.convert(pair.value);
        // A block hash or list starts on the line after its key; errors about
        // the value as a whole point at the key, where the user looks.
        if (value.kind === "map" || value.kind === "seq") value = { ...value, loc: keyNode.loc };
        entries.set(name, { keyLoc: keyNode.loc, value });
      }
      // YAML merge keys never override keys written in the mapping itself; among
      // several merged hashes, the first one listed wins.
      if (merged.length > 0) {
        const out = new Map<string, CiEntry>();
        for (const source of merged) {
          for (const [k, e] of source.entries) if (!out.has(k) && !entries.has(k)) out.set(k, e);
        }
        for (const [k, e] of entries) out.set(k, e);
        return { kind: "map", loc, entries: out };
      }
      return { kind: "map", loc, entries };
    }
    return { kind: "scalar", loc, value: null };
  }

  #plain(text: string, loc: SourceLocation): CiNode {
    const plain = readPlainScalar(text);
    switch (plain.kind) {
      case "string":
      case "boolean":
        return { kind: "scalar", loc, value: plain.value };
      case "null":
        return { kind: "scalar", loc, value: null };
      case "float":
        return { kind: "scalar", loc, value: plain.value, isFloat: true };
      case "integer": {
        // Beyond 2^53 a number would round: the exact digits, as GitLab passes them on.
        const v = plain.value;
        const isSafe = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER);
        return { kind: "scalar", loc, value: isSafe ? Number(v) : String(v) };
      }
      case "date":
        throw new CiConfigError(
          loc,
          "",
          `invalid YAML: ${text} is a date, which GitLab's YAML parser refuses: quote it`,
        );
    }
  }
}
