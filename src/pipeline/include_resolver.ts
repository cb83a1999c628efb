import { CiConfigError, type CiWarning, type SourceLocation } from "./ci_config_error.ts";
import { type CiEntry, type CiMap, type CiNode, deepMerge, describeNode } from "./ci_node.ts";
import type { ProjectFiles } from "./project_files.ts";
import { expandVariables } from "./variable_expansion.ts";
import type { CiYamlParse } from "./ci_yaml_parse.ts";

/**
 * GitLab's default limit on includes in one pipeline (`ci_max_includes`);
 * nested includes and repeats of the same file count too.
 */
const MAX_INCLUDES = 150;

export interface IncludeOptions {
  /** Collects what exec skips or treats differently. */
  warnings: CiWarning[];
  /** Parses each file (`parseCiYamlLazily`, or a cache in front of it). */
  parse: CiYamlParse;
  /**
   * Decides an include's `rules:`; when absent, includes with rules are
   * always included and a warning says so.
   */
  evaluateIncludeRules?: (rules: CiNode, key: string) => Promise<boolean>;
  /**
   * Variables an include path may use (`include:local: ci/$ENV.yml`):
   * predefined and user-given ones. Called only when a path has a `$`.
   */
  lookupVariables?: () => Promise<(name: string) => string | undefined>;
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
  return await resolveFile(files, await options.parse(text, file, null), options, state);
}

interface State {
  seen: Set<string>;
  count: number;
  allFiles: string[] | null;
}

/** One file an include names, with the include's `inputs:`. */
interface IncludedFile {
  path: string;
  inputs: CiEntry | null;
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
    for (const { path, inputs } of await localPaths(files, item, key, options, state)) {
      if (++state.count > MAX_INCLUDES) {
        // GitLab: "Maximum of 150 nested includes are allowed!"
        throw new CiConfigError(item.loc, key, `more than ${MAX_INCLUDES} includes`);
      }
      const text = await readIncluded(files, path, { loc: item.loc, key });
      if (text === null) {
        throw new CiConfigError(item.loc, key, `local file "${path}" does not exist`);
      }
      const parsed = await options.parse(text, path, inputs);
      const isRepeat = state.seen.has(path);
      state.seen.add(path);
      // A repeated file is merged once, but its includes still count (a file
      // that includes itself ends at the limit, as in GitLab).
      const included = await resolveFile(files, parsed, options, state);
      if (!isRepeat) merged = deepMerge(merged, included);
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
): Promise<IncludedFile[]> {
  let local: string;
  let inputs: CiEntry | null = null;
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
        if (!(await options.evaluateIncludeRules(rules, `${key}.rules`))) return [];
      } else {
        options.warnings.push({
          location: item.entries.get("rules")!.keyLoc,
          key: `${key}.rules`,
          message: "include rules are not evaluated here; the file is included",
        });
      }
    }
    inputs = item.entries.get("inputs") ?? null;
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
  if (local.includes("$") && options.lookupVariables) {
    local = expandVariables(local, await options.lookupVariables());
  }
  const path = local.replace(/^\/+/, "").replace(/^\.\//, "");
  if (!/\.ya?ml$/.test(path)) {
    throw new CiConfigError(
      item.loc,
      key,
      `included file "${local}" must have a .yml or .yaml extension`,
    );
  }
  if (!path.includes("*")) return [{ path, inputs }];
  state.allFiles ??= await files.listFiles();
  const isMatch = wildcardMatcher(path);
  const found = state.allFiles.filter((f) => isMatch(f)).sort();
  if (found.length === 0) {
    options.warnings.push({ location: item.loc, key, message: `no file matches "${local}"` });
  }
  return found.map((p) => ({ path: p, inputs }));
}

/**
 * GitLab's wildcard paths (`Repository#search_files_by_wildcard_path`): `**`
 * matches anything, slashes included, `*` anything but a slash; every other
 * character stands for itself. So `configs/**.yml` takes `configs/a.yml` and
 * `configs/sub/b.yml`, while `configs/**` followed by `/*.yml` needs a
 * subfolder.
 */
export function wildcardMatcher(pattern: string): (path: string) => boolean {
  const source = pattern.split("**").map((part) =>
    part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*?")
  ).join(".*?");
  const re = new RegExp(`^${source}$`);
  return (path) => re.test(path);
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

/** An included file's text; a path that leaves the project is an error naming the include. */
async function readIncluded(
  files: ProjectFiles,
  path: string,
  { loc, key }: { loc: SourceLocation; key: string },
): Promise<string | null> {
  try {
    return await files.readText(path);
  } catch (error) {
    // LocalProjectFiles refuses `../` paths with a RangeError naming only the path.
    if (!(error instanceof RangeError)) throw error;
    throw new CiConfigError(loc, key, `local file "${path}" is outside the project`, {
      cause: error,
    });
  }
}
