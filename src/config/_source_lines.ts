/**
 * Finds the line where a key is written in TOML text, so validation errors can
 * name it (smol-toml gives positions only for syntax errors). A line-based scan:
 * it tracks [table] and [[array]] headers (counting array entries), dotted keys
 * and inline tables, and skips multi-line strings. Good enough for config.toml.
 */

/** A key path: table keys and array indexes, e.g. ["runners", 0, "docker", "image"]. */
export type KeyPath = ReadonlyArray<string | number>;

const HEADER = /^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*(?:#.*)?$/;
const KEY_PART = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const ASSIGNMENT = new RegExp(String.raw`^\s*(${KEY_PART}(?:\s*\.\s*${KEY_PART})*)\s*=`);

function splitDottedKey(text: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(KEY_PART, "g");
  for (const m of text.matchAll(re)) {
    const raw = m[0];
    if (raw.startsWith('"')) parts.push(JSON.parse(raw) as string);
    else if (raw.startsWith("'")) parts.push(raw.slice(1, -1));
    else parts.push(raw);
  }
  return parts;
}

function isPrefix(candidate: KeyPath, target: KeyPath): boolean {
  if (candidate.length > target.length) return false;
  return candidate.every((seg, i) => seg === target[i]);
}

/** 1-based line of the most specific definition of `target`, or null. */
export function findKeyLine(text: string, target: KeyPath): number | null {
  const lines = text.split(/\r?\n/);
  const arrayIndex = new Map<string, number>();
  let table: Array<string | number> = [];
  let multiline: '"""' | "'''" | null = null;
  let best: { line: number; score: number } | null = null;

  const consider = (path: KeyPath, line: number) => {
    if (path.length > 0 && isPrefix(path, target) && (best === null || path.length > best.score)) {
      best = { line, score: path.length };
    }
  };
  // Resolve header parts to a path with the current index of each array table.
  const resolve = (parts: string[]): Array<string | number> => {
    const out: Array<string | number> = [];
    for (const part of parts) {
      out.push(part);
      const index = arrayIndex.get(JSON.stringify(out));
      if (index !== undefined) out.push(index);
    }
    return out;
  };

  lines.forEach((lineText, i) => {
    const lineNo = i + 1;
    if (multiline !== null) {
      if (lineText.includes(multiline)) multiline = null;
      return;
    }
    const header = HEADER.exec(lineText);
    if (header !== null && !ASSIGNMENT.test(lineText)) {
      const parts = splitDottedKey(header[2] ?? "");
      if (header[1] === "[[") {
        const parent = resolve(parts.slice(0, -1));
        const arrayPath = [...parent, parts[parts.length - 1] ?? ""];
        const id = JSON.stringify(arrayPath);
        const next = (arrayIndex.get(id) ?? -1) + 1;
        arrayIndex.set(id, next);
        table = [...arrayPath, next];
      } else {
        table = resolve(parts);
      }
      consider(table, lineNo);
      return;
    }
    const assignment = ASSIGNMENT.exec(lineText);
    if (assignment !== null) {
      consider([...table, ...splitDottedKey(assignment[1] ?? "")], lineNo);
      const rest = lineText.slice(assignment[0].length);
      for (const quote of ['"""', "'''"] as const) {
        if (rest.split(quote).length % 2 === 0) multiline = quote;
      }
    }
  });
  return best === null ? null : (best as { line: number }).line;
}

/** `runners[0].docker.tmpfs."/tmp"`: how key paths appear in messages. */
export function displayKeyPath(path: KeyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const part = /^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg);
      out += out === "" ? part : `.${part}`;
    }
  }
  return out;
}
