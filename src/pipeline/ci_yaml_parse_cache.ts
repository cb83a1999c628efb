import type { SourceLocation } from "./ci_config_error.ts";
import type { CiEntry, CiMap, CiNode } from "./ci_node.ts";
import { type CiYamlParse, parseCiYamlLazily } from "./ci_yaml_parse.ts";

/**
 * Bump when what a parse returns changes for the same text (yaml_loader.ts,
 * ci_inputs.ts, the node shapes of ci_node.ts): entries written before are
 * then ignored. The runner's version and revision are part of every key too.
 */
const FORMAT = 4;

/** Where the cache is kept between runs (one small JSON document). */
export interface ParseCacheStore {
  /** The document written last, or null when there is none. */
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

export interface CiYamlParseCacheOptions {
  store: ParseCacheStore;
  /**
   * What made the entries: the runner's version and revision (and anything
   * else that may change a parse); entries of another build are not used.
   */
  build: string;
  /** The parser behind the cache; default `parseCiYamlLazily`. */
  parse?: CiYamlParse;
}

/** A cached parse: the files its locations name, and the encoded root. */
interface Entry {
  files: string[];
  root: Encoded;
}

/**
 * Encoded nodes, as JSON arrays: `[kind, loc, …]`, `loc` a line in the
 * entry's first file or `[file index, line]`.
 * - `["s", loc, value]`: a scalar (string, integer, boolean or null);
 * - `["f", loc, number | "NaN" | "Infinity" | "-Infinity" | "-0"]`: a YAML
 *   float (`isFloat`), as a string when JSON cannot hold it;
 * - `["q", loc, [items]]`: a sequence;
 * - `["m", loc, [[key, keyLoc, value], …]]`: a hash, in file order;
 * - `["r", loc, [path]]`: a `!reference`.
 */
type Encoded = [string, EncodedLoc, unknown];
type EncodedLoc = number | [number, number];

/**
 * Parses CI YAML through `parse`, answering repeats of a parse done by an
 * earlier run from `store`. The key is a SHA-256 of the build, the file
 * name, its text and the `inputs:` (with their locations), so any change to
 * one of them parses again; errors are never cached (a file that fails
 * fails the same way each time). Loaded nodes are equal to what `parse`
 * returns (tested); they share no objects, which nothing here relies on
 * (the pipeline model never changes a node in place).
 *
 * Call order: `parse` any number of times, then `save` once: it writes the
 * entries this run used when any of them was new (so edits do not pile up),
 * and does nothing when every file came from the cache.
 */
export class CiYamlParseCache {
  readonly #o: CiYamlParseCacheOptions;
  readonly #parse: CiYamlParse;
  #loaded: Promise<Map<string, Entry>> | null = null;
  readonly #used = new Map<string, Entry>();
  #isChanged = false;

  constructor(options: CiYamlParseCacheOptions) {
    this.#o = options;
    this.#parse = options.parse ?? parseCiYamlLazily;
  }

  /** Starts reading the store now (the first `parse` waits for it anyway). */
  preload(): void {
    this.#entries().catch(() => {});
  }

  readonly parse: CiYamlParse = async (text, file, inputs) => {
    const [entries, key] = await Promise.all([this.#entries(), this.#key(text, file, inputs)]);
    const cached = this.#used.get(key) ?? entries.get(key);
    if (cached !== undefined) {
      try {
        const root = decode(cached.root, cached.files);
        if (root.kind === "map") {
          this.#used.set(key, cached);
          return root;
        }
      } catch {
        // A damaged entry: parse again below, and replace it.
      }
    }
    const root = await this.#parse(text, file, inputs);
    const files: string[] = [file];
    this.#used.set(key, { files, root: encode(root, files) });
    this.#isChanged = true;
    return root;
  };

  /** Writes the entries this run used, if any was new; a failure to write is the caller's to ignore. */
  async save(): Promise<void> {
    if (!this.#isChanged) return;
    this.#isChanged = false;
    await this.#o.store.write(JSON.stringify({ format: FORMAT, entries: [...this.#used] }));
  }

  #entries(): Promise<Map<string, Entry>> {
    this.#loaded ??= this.#o.store.read().then((text) => {
      if (text === null) return new Map();
      const doc = JSON.parse(text) as { format?: unknown; entries?: unknown };
      if (doc.format !== FORMAT || !Array.isArray(doc.entries)) return new Map();
      return new Map(doc.entries as [string, Entry][]);
    }).catch(() => new Map());
    return this.#loaded;
  }

  async #key(text: string, file: string, inputs: CiEntry | null): Promise<string> {
    const files: string[] = [file];
    const given = inputs === null
      ? null
      : [encodeLoc(inputs.keyLoc, files), encode(inputs.value, files), files];
    const material = JSON.stringify([FORMAT, this.#o.build, file, text, given]);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(material));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }
}

function encodeLoc(loc: SourceLocation, files: string[]): EncodedLoc {
  if (loc.file === files[0]) return loc.line;
  let at = files.indexOf(loc.file);
  if (at < 0) at = files.push(loc.file) - 1;
  return [at, loc.line];
}

function decodeLoc(loc: EncodedLoc, files: string[]): SourceLocation {
  const [at, line] = typeof loc === "number" ? [0, loc] : loc;
  const file = files[at];
  if (file === undefined || typeof line !== "number") throw new TypeError("Bad location");
  return { file, line };
}

const SPECIAL_NUMBERS: Record<string, number> = {
  "NaN": NaN,
  "Infinity": Infinity,
  "-Infinity": -Infinity,
  "-0": -0,
};

function encode(node: CiNode, files: string[]): Encoded {
  const loc = encodeLoc(node.loc, files);
  switch (node.kind) {
    case "scalar": {
      const v = node.value;
      if (!node.isFloat) return ["s", loc, v];
      const isSpecial = typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0));
      return ["f", loc, isSpecial ? (Object.is(v, -0) ? "-0" : String(v)) : v];
    }
    case "seq":
      return ["q", loc, node.items.map((item) => encode(item, files))];
    case "map":
      return [
        "m",
        loc,
        [...node.entries].map(([k, e]) => [k, encodeLoc(e.keyLoc, files), encode(e.value, files)]),
      ];
    case "reference":
      return ["r", loc, node.path];
  }
}

function decode(encoded: Encoded, files: string[]): CiNode {
  const [kind, at, body] = encoded;
  const loc = decodeLoc(at, files);
  switch (kind) {
    case "s":
      if (body !== null && !["string", "number", "boolean"].includes(typeof body)) break;
      return { kind: "scalar", loc, value: body as string | number | boolean | null };
    case "f": {
      const value = typeof body === "string" ? SPECIAL_NUMBERS[body] : body;
      if (typeof value !== "number") break;
      return { kind: "scalar", loc, value, isFloat: true };
    }
    case "q":
      return { kind: "seq", loc, items: (body as Encoded[]).map((item) => decode(item, files)) };
    case "m": {
      const entries = new Map<string, CiEntry>();
      for (const [key, keyLoc, value] of body as [string, EncodedLoc, Encoded][]) {
        entries.set(key, { keyLoc: decodeLoc(keyLoc, files), value: decode(value, files) });
      }
      return { kind: "map", loc, entries } satisfies CiMap;
    }
    case "r":
      if (!Array.isArray(body) || !body.every((p) => typeof p === "string")) break;
      return { kind: "reference", loc, path: body as string[] };
  }
  throw new TypeError(`Bad cache entry: ${JSON.stringify(encoded).slice(0, 80)}`);
}
