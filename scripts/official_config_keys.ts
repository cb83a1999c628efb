/**
 * Extracts the official GitLab Runner's config.toml keys and `register` flags
 * from its Go sources and writes them as data (src/config/official_keys.json).
 * The Go structs are the authority: `toml:"…"` tags give the keys (embedded
 * structs without a tag are flattened, as BurntSushi/toml does), `long:"…"`
 * and `env:"…"` tags give the flags, prefixed by each enclosing `namespace:"…"`
 * joined with "-", as gitlab.com/ayufan/golang-cli-helpers generates them.
 *
 *   deno run -A scripts/official_config_keys.ts <gitlab-runner git dir> v19.3.0
 *
 * With `--exec`, the flags of `gitlab-runner exec` instead (removed in 17.0:
 * give a 16.x tag), written to tests/fixtures/official_exec_flags.json:
 *
 *   deno run -A scripts/official_config_keys.ts <gitlab-runner git dir> v16.11.4 --exec
 *
 * Types from outside the repository (Kubernetes API, fleeting) are leaves.
 */

interface Field {
  name: string;
  /** Go type text, e.g. `*DockerConfig`, `[]Service`, `map[string]string`. */
  type: string;
  tag: string;
  embedded: boolean;
  /** Inline `struct { … }` type. */
  inline?: Field[];
}

interface TypeDef {
  dir: string;
  file: string;
  name: string;
  fields?: Field[];
  /** Underlying type text of a non-struct named type. */
  underlying?: string;
}

export interface OfficialKey {
  /** Dotted TOML path; `[]` marks an array of tables: "runners[].docker.services[].name". */
  path: string;
  /** Go type of the leaf, as written. */
  goType: string;
}

export interface OfficialFlag {
  /** Flag name without dashes: "docker-services_privileged". */
  name: string;
  /** One-letter (or word) alias from the `short` tag, or "". */
  short: string;
  env: string;
  /** The TOML path the flag sets, when it sets one. */
  key: string | null;
  goType: string;
}

function git(gitDir: string, args: string[]): string {
  const res = new Deno.Command("git", {
    args: ["--git-dir", gitDir, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  if (!res.success) throw new Error(new TextDecoder().decode(res.stderr));
  return new TextDecoder().decode(res.stdout);
}

function tagValue(tag: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${key}:"([^"]*)"`).exec(tag);
  return m?.[1];
}

function parseFields(body: string[]): Field[] {
  const fields: Field[] = [];
  for (let i = 0; i < body.length; i++) {
    // The tag first: descriptions hold URLs, whose "//" is not a comment.
    const raw = body[i]!;
    const rawTag = /`([^`]*)`/.exec(raw)?.[1];
    let line = raw.replace(/`[^`]*`/, "").replace(/\/\/.*$/, "").trim();
    if (rawTag !== undefined) line = `${line} \`${rawTag}\``;
    if (line === "") continue;
    // Inline struct: `Name struct {` ... `} \`tag\``
    const inlineStart = /^(\w+)\s+(\[\])?\*?struct\s*\{$/.exec(line);
    if (inlineStart) {
      let depth = 1;
      const inner: string[] = [];
      let j = i + 1;
      for (; j < body.length; j++) {
        const l = body[j]!.replace(/\/\/.*$/, "");
        depth += (l.match(/\{/g) ?? []).length - (l.match(/\}/g) ?? []).length;
        if (depth === 0) break;
        inner.push(l);
      }
      const closing = body[j] ?? "";
      const tag = /`([^`]*)`/.exec(closing)?.[1] ?? "";
      fields.push({
        name: inlineStart[1]!,
        type: `${inlineStart[2] ?? ""}struct`,
        tag,
        embedded: false,
        inline: parseFields(inner),
      });
      i = j;
      continue;
    }
    const tag = /`([^`]*)`/.exec(line)?.[1] ?? "";
    line = line.replace(/`[^`]*`/, "").trim();
    const named = /^(\w+(?:\s*,\s*\w+)*)\s+(.+)$/.exec(line);
    if (named && !/^[\w.*]+$/.test(line)) {
      for (const name of named[1]!.split(/\s*,\s*/)) {
        fields.push({ name, type: named[2]!.trim(), tag, embedded: false });
      }
      continue;
    }
    if (/^\*?[\w.]+$/.test(line)) {
      const type = line;
      fields.push({ name: type.replace(/^\*/, "").split(".").pop()!, type, tag, embedded: true });
    }
  }
  return fields;
}

function parseFile(dir: string, file: string, text: string, types: Map<string, TypeDef>) {
  const lines = text.split("\n");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^\s*(?:(\w+)\s+)?"([^"]+)"\s*$/gm)) {
    const path = m[2]!;
    imports.set(m[1] ?? path.split("/").pop()!, path);
  }
  for (let i = 0; i < lines.length; i++) {
    const start = /^type\s+(\w+)\s+struct\s*\{\s*$/.exec(lines[i]!);
    if (start) {
      let depth = 1;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length; j++) {
        const l = lines[j]!.replace(/\/\/.*$/, "").replace(/`[^`]*`/g, "").replace(/"[^"]*"/g, "");
        depth += (l.match(/\{/g) ?? []).length - (l.match(/\}/g) ?? []).length;
        if (depth === 0) break;
        body.push(lines[j]!);
      }
      types.set(`${dir}.${start[1]}`, {
        dir,
        file,
        name: start[1]!,
        fields: parseFields(body),
      });
      fileImports.set(`${dir}.${start[1]}`, imports);
      i = j;
      continue;
    }
    const alias = /^type\s+(\w+)\s+=?\s*([^{]+?)\s*$/.exec(lines[i]!);
    if (alias && !alias[2]!.startsWith("interface") && !alias[2]!.startsWith("func")) {
      types.set(`${dir}.${alias[1]}`, { dir, file, name: alias[1]!, underlying: alias[2]! });
      fileImports.set(`${dir}.${alias[1]}`, imports);
    }
  }
}

const fileImports = new Map<string, Map<string, string>>();
const MODULE = "gitlab.com/gitlab-org/gitlab-runner/";

/** Resolves a type name used in `fromId`'s file to a TypeDef id, or null (builtin/external). */
function resolve(types: Map<string, TypeDef>, fromId: string, typeName: string): string | null {
  const dir = types.get(fromId)!.dir;
  if (typeName.includes(".")) {
    const [alias, name] = typeName.split(".") as [string, string];
    const path = fileImports.get(fromId)?.get(alias);
    if (path === undefined || !path.startsWith(MODULE)) return null;
    const id = `${path.slice(MODULE.length)}.${name}`;
    return types.has(id) ? id : null;
  }
  const id = `${dir}.${typeName}`;
  return types.has(id) ? id : null;
}

function walk(
  types: Map<string, TypeDef>,
  id: string,
  fields: Field[],
  keyPrefix: string,
  flagPrefix: string,
  keys: OfficialKey[],
  flags: OfficialFlag[],
  seen: Set<string>,
) {
  for (const f of fields) {
    const toml = tagValue(f.tag, "toml");
    if (toml === "-") continue;
    const tomlName = toml?.split(",")[0] || "";
    const ns = tagValue(f.tag, "namespace");
    const long = tagValue(f.tag, "long");
    const env = tagValue(f.tag, "env") ?? tagValue(f.tag, "ENV") ?? "";
    let type = f.type.trim();
    let isArray = false;
    for (;;) {
      if (type.startsWith("*")) type = type.slice(1);
      else if (type.startsWith("[]")) {
        isArray = true;
        type = type.slice(2);
      } else break;
    }
    // Embedded without a toml name: flattened into the parent.
    if (f.embedded && tomlName === "") {
      const target = resolve(types, id, type);
      const def = target ? types.get(target) : undefined;
      if (def?.fields) {
        walk(types, target!, def.fields, keyPrefix, flagPrefix, keys, flags, seen);
      }
      continue;
    }
    if (tomlName === "" && long === undefined && ns === undefined) continue;
    // A namespaced struct outside config.toml (register's `template` group): flags only.
    if (tomlName === "" && ns !== undefined && !f.embedded) {
      const target = resolve(types, id, type);
      const def = target ? types.get(target) : undefined;
      if (def?.fields) {
        walk(types, target!, def.fields, "", `${flagPrefix}${ns}-`, [], flags, seen);
      }
      continue;
    }
    const name = tomlName || f.name;
    const path = tomlName ? `${keyPrefix}${name}${isArray ? "[]" : ""}` : null;
    let structFields: Field[] | undefined = f.inline;
    let structId = id;
    if (!structFields && !type.startsWith("map[")) {
      let target = resolve(types, id, type);
      // Follow named types (`type X Y`) to a struct.
      while (target && types.get(target)!.underlying && !types.get(target)!.fields) {
        const u = types.get(target)!.underlying!.replace(/^\*/, "");
        if (u.startsWith("[]") || u.startsWith("map[")) break;
        const next = resolve(types, target, u);
        if (!next) break;
        target = next;
      }
      const def = target ? types.get(target) : undefined;
      if (def?.fields && !seen.has(target!)) {
        structFields = def.fields;
        structId = target!;
      }
    }
    if (structFields && path !== null) {
      seen.add(structId);
      walk(
        types,
        structId,
        structFields,
        `${path}.`,
        ns !== undefined ? `${flagPrefix}${ns}-` : flagPrefix,
        keys,
        // go-flags does not descend into slices: no flags inside [[arrays]].
        isArray ? [] : flags,
        seen,
      );
      seen.delete(structId);
      if (long !== undefined) {
        flags.push({
          name: `${flagPrefix}${long}`,
          short: tagValue(f.tag, "short") ?? "",
          env,
          key: path.replaceAll("[]", ""),
          goType: f.type,
        });
      }
      continue;
    }
    if (path !== null) keys.push({ path, goType: f.type });
    if (long !== undefined) {
      flags.push({
        name: `${flagPrefix}${long}`,
        short: tagValue(f.tag, "short") ?? "",
        env,
        key: path?.replaceAll("[]", "") ?? null,
        goType: f.type,
      });
    }
  }
}

if (import.meta.main) {
  const [gitDir, tag, mode] = Deno.args;
  if (!gitDir || !tag) throw new Error("usage: official_config_keys.ts <git dir> <tag> [--exec]");
  const files = git(gitDir, ["ls-tree", "-r", "--name-only", tag]).split("\n")
    .filter((f) => f.endsWith(".go") && !f.endsWith("_test.go") && !f.startsWith("vendor/"));
  const types = new Map<string, TypeDef>();
  for (const file of files) {
    const text = git(gitDir, ["show", `${tag}:${file}`]);
    parseFile(file.split("/").slice(0, -1).join("/"), file, text, types);
  }
  const version = git(gitDir, ["show", `${tag}:VERSION`]).trim();
  const commit = git(gitDir, ["rev-parse", `${tag}^{commit}`]).trim();
  const source = "https://gitlab.com/gitlab-org/gitlab-runner";
  const generatedBy = "scripts/official_config_keys.ts";
  if (mode === "--exec") {
    // `exec <executor>` took RunnerSettings (no URL, token or name) and its own two flags.
    const execFlags: OfficialFlag[] = [];
    const command = types.get("commands.ExecCommand")!;
    walk(
      types,
      "commands.ExecCommand",
      command.fields!,
      "runners[].",
      "",
      [],
      execFlags,
      new Set(),
    );
    const data = { source, version, tag, commit, generatedBy: `${generatedBy} --exec`, execFlags };
    Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(data, null, 1) + "\n"));
    Deno.exit(0);
  }
  const keys: OfficialKey[] = [];
  const configFlags: OfficialFlag[] = [];
  walk(types, "common.Config", types.get("common.Config")!.fields!, "", "", keys, [], new Set());
  walk(
    types,
    "commands.RegisterCommand",
    types.get("commands.RegisterCommand")!.fields!,
    "runners[].",
    "",
    [],
    configFlags,
    new Set(),
  );
  const data = {
    source,
    version,
    tag,
    commit,
    generatedBy,
    keys,
    registerFlags: configFlags,
  };
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(data, null, 1) + "\n"));
}
