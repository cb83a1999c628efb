import picomatch from "picomatch";
import { CiConfigError, type CiWarning, type SourceLocation } from "./ci_config_error.ts";
import { type CiMap, type CiNode, deepMerge, describeNode } from "./ci_node.ts";
import type { ProjectFiles } from "./project_files.ts";
import { parseCiYaml } from "./yaml_loader.ts";

/** GitLab's limit on the number of included files in one pipeline. */
const MAX_INCLUDES = 150;

export interface IncludeOptions {
  /** Collects what exec skips or treats differently. */
  warnings: CiWarning[];
  /**
   * Decides an include's `rules:`; when absent, includes with rules are
   * always included and a warning says so.
   */
  evaluateIncludeRules?: (rules: CiNode) => Promise<boolean>;
}

/**
 * Reads `file` and everything it includes, and merges them as GitLab does:
 * the included files in order (a later one overrides an earlier one), then
 * the including file on top, hashes merged key by key, arrays replaced.
 * Only `local` includes can be read without GitLab; `project`, `remote`,
 * `template` and `component` includes are skipped with a warning.
 */
export async function loadWithIncludes(
  files: ProjectFiles,
  file: string,
  options: IncludeOptions,
): Promise<CiMap> {
  const text = await files.readText(file);
  if (text === null) {
    throw new CiConfigError({ file, line: 0 }, "", "file not found in the project");
  }
  const state = { seen: new Set<string>([file]), count: 0, allFiles: null as string[] | null };
  return await resolveFile(files, parseCiYaml(text, file, options.warnings), options, state);
}

interface State {
  seen: Set<string>;
  count: number;
  allFiles: string[] | null;
}

async function resolveFile(
  files: ProjectFiles,
  root: CiMap,
  options: IncludeOptions,
  state: State,
): Promise<CiMap> {
  const includeEntry = root.entries.get("include");
  if (!includeEntry) return root;
  const own = new Map(root.entries);
  own.delete("include");
  const items = includeEntry.value.kind === "seq" ? includeEntry.value.items : [includeEntry.value];
  let merged: CiNode = { kind: "map", loc: root.loc, entries: new Map() };
  for (const [i, item] of items.entries()) {
    const key = includeEntry.value.kind === "seq" ? `include[${i}]` : "include";
    for (const path of await localPaths(files, item, key, options, state)) {
      if (state.seen.has(path)) continue;
      state.seen.add(path);
      if (++state.count > MAX_INCLUDES) {
        throw new CiConfigError(item.loc, key, `more than ${MAX_INCLUDES} files included`);
      }
      const text = await files.readText(path);
      if (text === null) {
        throw new CiConfigError(item.loc, key, `local file "${path}" does not exist`);
      }
      const included = await resolveFile(
        files,
        parseCiYaml(text, path, options.warnings),
        options,
        state,
      );
      merged = deepMerge(merged, included);
    }
  }
  return deepMerge(merged, { kind: "map", loc: root.loc, entries: own }) as CiMap;
}

async function localPaths(
  files: ProjectFiles,
  item: CiNode,
  key: string,
  options: IncludeOptions,
  state: State,
): Promise<string[]> {
  let local: string;
  if (item.kind === "scalar" && typeof item.value === "string") {
    if (/^https?:\/\//.test(item.value)) {
      skipped(options, item.loc, key, `remote include "${item.value}"`);
      return [];
    }
    local = item.value;
  } else if (item.kind === "map") {
    const rules = item.entries.get("rules")?.value;
    if (rules) {
      if (options.evaluateIncludeRules) {
        if (!(await options.evaluateIncludeRules(rules))) return [];
      } else {
        options.warnings.push({
          location: item.entries.get("rules")!.keyLoc,
          key: `${key}.rules`,
          message: "include rules are not evaluated here; the file is included",
        });
      }
    }
    if (item.entries.has("inputs")) {
      options.warnings.push({
        location: item.entries.get("inputs")!.keyLoc,
        key: `${key}.inputs`,
        message: "CI/CD inputs are not supported by exec; ignored",
      });
    }
    for (const kind of ["project", "remote", "template", "component"]) {
      const entry = item.entries.get(kind);
      if (entry) {
        const what = entry.value.kind === "scalar" ? ` "${String(entry.value.value)}"` : "";
        skipped(options, entry.keyLoc, `${key}.${kind}`, `${kind} include${what}`);
        return [];
      }
    }
    const value = item.entries.get("local")?.value;
    if (!value) {
      throw new CiConfigError(
        item.loc,
        key,
        "expected one of local, project, remote, template or component",
      );
    }
    if (value.kind !== "scalar" || typeof value.value !== "string") {
      throw new CiConfigError(
        value.loc,
        `${key}.local`,
        `expected a string, got ${describeNode(value)}`,
      );
    }
    local = value.value;
  } else {
    throw new CiConfigError(
      item.loc,
      key,
      `expected a file path or a hash, got ${describeNode(item)}`,
    );
  }
  const path = local.replace(/^\/+/, "").replace(/^\.\//, "");
  if (!/\.ya?ml$/.test(path)) {
    throw new CiConfigError(
      item.loc,
      key,
      `included file "${local}" must have a .yml or .yaml extension`,
    );
  }
  if (!/[*?[{]/.test(path)) return [path];
  state.allFiles ??= await files.listFiles();
  const isMatch = picomatch(path, { dot: true });
  const found = state.allFiles.filter((f) => isMatch(f));
  if (found.length === 0) {
    options.warnings.push({ location: item.loc, key, message: `no file matches "${local}"` });
  }
  return found;
}

function skipped(
  options: IncludeOptions,
  location: SourceLocation,
  key: string,
  what: string,
): void {
  options.warnings.push({
    location,
    key,
    message:
      `${what} is not supported locally (it needs GitLab); skipped, so jobs it defines are missing`,
  });
}
