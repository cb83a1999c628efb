/**
 * config.toml text -> validated GlobalConfig with every default filled, plus
 * warnings for the caller to log. Pure: the environment for $VAR expansion is a
 * parameter; no file access here (see load_config.ts).
 */
import { parse, TomlError } from "smol-toml";
import { isSameConfigValue } from "./config_equal.ts";
import type { GlobalConfig, RunnerConfig } from "./runner_config.ts";
import { childSections, keysOf, type KeySpec, type SectionSpec } from "./schema.ts";
import {
  ConfigError,
  type ConfigProblem,
  type ConfigWarning,
  type ConfigWarningKind,
} from "./config_error.ts";
import { displayKeyPath, findKeyLine, type KeyPath } from "./_source_lines.ts";
import {
  convertValue,
  describeValue,
  exactInteger,
  INT64_MAX,
  INT64_MIN,
  isTable,
  toPlain,
  typedDefault,
} from "./_convert_value.ts";
import {
  arrayFieldPath,
  keyFieldPath,
  lastName,
  type Obj,
  relativeToRoot,
  setField,
} from "./_field_path.ts";
import {
  applyGlobalDynamicDefaults,
  applyRunnerDynamicDefaults,
  defaultRunnerConfig,
  defaultsForRoot,
} from "./default_config.ts";
import { expandEnv, hasEnvReference } from "./env_expansion.ts";
import { isGitLabUrl } from "./gitlab_url.ts";
import { isSupportedExecutor, SUPPORTED_EXECUTORS } from "./executor_names.ts";
// The flag table has no imports of its own; it lives beside the code that reads the flags.
import {
  FEATURE_FLAG_DEFAULTS,
  ignoredFeatureFlags,
  parseGoBool,
  REMOVED_FEATURE_FLAGS,
  RUNNER_ONLY_FEATURE_FLAGS,
} from "../build/feature_flags.ts";
import { cacheBackend } from "../cache/cache_url_signer.ts";
import { s3SettingsProblem } from "../cache/s3_settings.ts";
import { s3EndpointProblem } from "../cache/s3_endpoint.ts";
import { gcsEndpointProblem } from "../cache/gcs_endpoint.ts";
import { azureEndpointProblem } from "../cache/azure_endpoint.ts";
import { azureSettingsProblem, gcsSettingsProblem } from "../cache/cache_settings.ts";
import { unusedCacheSettings } from "../cache/unused_cache_settings.ts";
import { dockerValueProblems } from "./docker_values.ts";
import { dockerEndpoint } from "./docker_endpoint.ts";
import { CLONE_URL_EXPECTED, parseCloneUrl } from "./clone_url.ts";
import { sshHostProblem, sshPortProblem } from "./ssh_address.ts";
import { isShellVariableName } from "../shells/shell_quote.ts";
// Pure parsers of the two listeners' addresses, so load and lint judge them as `run` does.
import { parseListenAddress } from "../metrics/listen_address.ts";
import { sessionAddresses } from "../session/session_address.ts";

export interface ParseConfigOptions {
  /** Path shown in messages. */
  file: string;
  /** Variables for $VAR expansion in [[runners]] url and token. */
  env: Readonly<Record<string, string>>;
}

export interface LoadedConfig {
  config: GlobalConfig;
  /** Not fatal; the caller logs them (lint treats unknown keys as errors). */
  warnings: ConfigWarning[];
}

/** Where values of one [[array]] entry (or the document) go. */
interface Target {
  obj: Obj;
  unsupported: Obj;
  /** Schema path of the array section owning `obj`; "" for the document. */
  root: string;
  /** "section.key" of keys written in the file, for dynamic defaults. */
  present: Set<string>;
}

/** `light`: inside an unsupported section; check types, keep nothing typed. */
type Mode = "full" | "light";

class Validation {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigWarning[] = [];
  readonly #reportedUnsupported = new Set<string>();

  constructor(
    readonly text: string,
    readonly file: string,
    readonly env: Readonly<Record<string, string>>,
  ) {}

  #locate(path: KeyPath): { file: string; line: number | null; key: string } {
    return { file: this.file, line: findKeyLine(this.text, path), key: displayKeyPath(path) };
  }

  error(path: KeyPath, reason: string): void {
    const where = this.#locate(path);
    this.problems.push({ ...where, message: `key ${where.key} ${reason}` });
  }

  warn(kind: ConfigWarningKind, path: KeyPath, message: string): void {
    this.warnings.push({ ...this.#locate(path), kind, message });
  }

  /** One warning per schema key per load, whatever the runner entry. */
  unsupported(schemaPath: string, path: KeyPath): void {
    if (this.#reportedUnsupported.has(schemaPath)) return;
    this.#reportedUnsupported.add(schemaPath);
    this.warn("unsupported_key", path, `key ${schemaPath} is accepted but not supported`);
  }
}

function schemaId(section: string, name: string): string {
  return section === "" ? name : `${section}.${name}`;
}

function applyRules(v: Validation, spec: KeySpec, path: KeyPath, value: unknown): unknown {
  if (typeof value === "number") {
    if (spec.belowOne === "fatal" && value < 1) {
      v.error(path, `must be 1 or more, got ${value}`);
      return typedDefault(spec);
    }
    if ((spec.belowOne === "default" && value < 1) || (spec.zero === "default" && value === 0)) {
      return typedDefault(spec);
    }
  }
  if (spec.oneOf !== undefined && typeof value === "string") {
    if (!spec.oneOf.includes(value)) {
      v.error(path, `must be one of ${spec.oneOf.join(", ")}, got ${describeValue(value)}`);
      return typedDefault(spec);
    }
    if (spec.key === "log_level" && value === "warning") return "warn";
  }
  return value;
}

function readKey(
  v: Validation,
  spec: KeySpec,
  raw: unknown,
  path: KeyPath,
  target: Target,
  mode: Mode,
): void {
  const relative = schemaId(relativeToRoot(spec.section, target.root), spec.key);
  const converted = convertValue(spec.type, raw);
  if (mode === "full" && spec.supported) {
    if (!converted.ok) {
      v.error(path, converted.reason);
      return;
    }
    if (spec.type === "duration" && typeof raw === "number" && raw !== 0 && Math.abs(raw) < 1e6) {
      v.warn(
        "duration_nanoseconds",
        path,
        `key ${displayKeyPath(path)} = ${raw} is ${raw} nanoseconds: an integer duration counts ` +
          `nanoseconds, as in the official runner; write "${raw}s" for seconds`,
      );
    }
    setField(target.obj, keyFieldPath(spec), applyRules(v, spec, path, converted.value));
    target.present.add(schemaId(spec.section, spec.key));
    if (typeof raw === "bigint") keepExactInteger(v, spec, raw, path, target, relative);
    return;
  }
  if (!converted.ok) {
    v.warn("unsupported_value", path, `key ${displayKeyPath(path)} ${converted.reason}`);
  }
  if (mode === "full") {
    target.unsupported[relative] = toPlain(raw);
    if (!isDefaultValue(spec, raw)) v.unsupported(schemaId(spec.section, spec.key), path);
  }
}

/**
 * An integer key written beyond ±2^53 (up to Go's int64: 9223372036854775807,
 * what people write for "no limit") holds a number that differs from it. The
 * integer itself is kept beside the unsupported values, so that saving writes
 * it back while the key still holds what it was read as (encode_config.ts).
 * Only an identity changes meaning by that: `runners.id` warns.
 */
function keepExactInteger(
  v: Validation,
  spec: KeySpec,
  raw: bigint,
  path: KeyPath,
  target: Target,
  relative: string,
): void {
  target.unsupported[relative] = exactInteger(raw);
  if (spec.section === "runners" && spec.key === "id") {
    v.warn(
      "clamped_integer",
      path,
      `key ${displayKeyPath(path)} = ${raw} is beyond ${Number.MAX_SAFE_INTEGER}, the largest ` +
        `runner id this runner holds exactly: commands that name the runner by id ` +
        `(unregister --id…) use ${Number.MAX_SAFE_INTEGER}`,
    );
  }
}

/**
 * Integers beyond Go's int64, which the official runner's TOML decoder
 * refuses (smol-toml takes any size): one error each, naming key and line.
 */
function checkIntegerRange(v: Validation, value: unknown, path: KeyPath): void {
  if (typeof value === "bigint") {
    if (value < INT64_MIN || value > INT64_MAX) {
      v.error(
        path,
        `= ${value} is out of range: TOML integers are 64-bit (${INT64_MIN} to ${INT64_MAX})`,
      );
    }
  } else if (Array.isArray(value)) {
    // Entries of an array of values are named by the array's key; of tables, by index.
    for (const [i, item] of value.entries()) {
      checkIntegerRange(v, item, isTable(item) ? [...path, i] : path);
    }
  } else if (isTable(value)) {
    for (const [name, item] of Object.entries(value)) checkIntegerRange(v, item, [...path, name]);
  }
}

/**
 * config.toml's text as a TOML document; integers beyond ±2^53 as bigints
 * (an int64 is a valid config value). Throws smol-toml's TomlError.
 */
export function parseTomlDocument(text: string): Record<string, unknown> {
  return parse(text, { integersAsBigInt: "asNeeded" }) as Record<string, unknown>;
}

/**
 * The official runner writes some keys into every file with their default
 * (`connection_max_age = "15m0s"`, `[session_server] session_timeout = 1800`,
 * both acted on now).
 * Written with the official default, an unsupported key asks for nothing that
 * leaving it out would not: no warning, or every migrated file would warn.
 */
function isDefaultValue(spec: KeySpec, raw: unknown): boolean {
  const converted = convertValue(spec.type, raw);
  return converted.ok && isSameConfigValue(converted.value, typedDefault(spec));
}

/** A table of an unsupported section whose keys all hold their official defaults. */
function isAllDefaults(sectionPath: string, raw: Obj): boolean {
  const keys = keysOf(sectionPath);
  return Object.entries(raw).every(([name, value]) => {
    const spec = keys.find((k) => k.key === name);
    return spec !== undefined && isDefaultValue(spec, value);
  });
}

function readArraySection(
  v: Validation,
  section: SectionSpec,
  raw: unknown,
  path: KeyPath,
  target: Target,
  mode: Mode,
): void {
  const entries = Array.isArray(raw) && raw.every(isTable) ? raw : null;
  const supported = mode === "full" && section.supported;
  if (entries === null) {
    const reason = `must be an array of tables ([[${section.path}]]), got ${describeValue(raw)}`;
    if (supported) v.error(path, reason);
    else v.warn("unsupported_value", path, `key ${displayKeyPath(path)} ${reason}`);
    if (!supported && mode === "full") {
      target.unsupported[relativeToRoot(section.path, target.root)] = toPlain(raw);
    }
    return;
  }
  const items: Obj[] = [];
  entries.forEach((entry, index) => {
    const item: Target = {
      obj: supported ? defaultsForRoot(section.path) : {},
      unsupported: {},
      root: section.path,
      present: new Set(),
    };
    readTable(v, section.path, entry, [...path, index], item, supported ? "full" : "light");
    if (supported) {
      item.obj["unsupported"] = item.unsupported;
      if (section.path === "runners") {
        finishRunner(v, item.obj as unknown as RunnerConfig, item, [...path, index]);
      }
      items.push(item.obj);
    }
  });
  if (supported) setField(target.obj, arrayFieldPath(section.path), items);
  else if (mode === "full") {
    target.unsupported[relativeToRoot(section.path, target.root)] = toPlain(raw);
    v.unsupported(section.path, path);
  }
}

function readTable(
  v: Validation,
  sectionPath: string,
  raw: Obj,
  path: KeyPath,
  target: Target,
  mode: Mode,
): void {
  const keys = keysOf(sectionPath);
  const children = childSections(sectionPath);
  const names = [...keys.map((k) => k.key), ...children.map((c) => lastName(c.path))];
  const seen = new Map<string, string>();
  const relativeSection = relativeToRoot(sectionPath, target.root);

  for (const [rawName, value] of Object.entries(raw)) {
    const here = [...path, rawName];
    let name = names.find((n) => n === rawName);
    if (name === undefined) {
      name = names.find((n) => n.toLowerCase() === rawName.toLowerCase());
      if (name !== undefined) {
        v.warn(
          "key_case",
          here,
          `key ${displayKeyPath(here)} matches "${name}" only when ignoring case; write "${name}"`,
        );
      }
    }
    if (name === undefined) {
      v.warn("unknown_key", here, `key ${displayKeyPath(here)} is unknown and ignored`);
      // Kept for saving unless its name would not survive a dotted path.
      if (mode === "full" && /^[A-Za-z0-9_-]+$/.test(rawName)) {
        target.unsupported[schemaId(relativeSection, rawName)] = toPlain(value);
      }
      continue;
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      v.warn(
        "duplicate_key",
        here,
        `key ${displayKeyPath(here)} repeats "${earlier}" with different case and is ignored`,
      );
      continue;
    }
    seen.set(name, rawName);

    const spec = keys.find((k) => k.key === name);
    if (spec !== undefined) {
      readKey(v, spec, value, here, target, mode);
      continue;
    }
    const child = children.find((c) => lastName(c.path) === name);
    if (child === undefined) continue;
    readSection(v, child, value, here, target, mode);
  }
}

function readSection(
  v: Validation,
  section: SectionSpec,
  raw: unknown,
  path: KeyPath,
  target: Target,
  mode: Mode,
): void {
  if (section.kind === "array") {
    readArraySection(v, section, raw, path, target, mode);
    return;
  }
  const supported = mode === "full" && section.supported;
  const relative = relativeToRoot(section.path, target.root);
  if (!isTable(raw)) {
    const reason = `must be a table ([${section.path}]), got ${describeValue(raw)}`;
    if (supported) v.error(path, reason);
    else v.warn("unsupported_value", path, `key ${displayKeyPath(path)} ${reason}`);
  } else if (supported) {
    readTable(v, section.path, raw, path, target, "full");
    return;
  } else if (section.kind === "table") {
    readTable(v, section.path, raw, path, { ...target, obj: {}, unsupported: {} }, "light");
  }
  // The official runner writes empty [runners.cache.gcs] and [runners.cache.azure]
  // into every file; an empty table configures nothing, so it is not worth a warning.
  if (isTable(raw) && (Object.keys(raw).length === 0 || isAllDefaults(section.path, raw))) {
    if (mode === "full" && Object.keys(raw).length > 0) {
      target.unsupported[relative] = toPlain(raw);
    }
    return;
  }
  if (mode === "full") {
    target.unsupported[relative] = toPlain(raw);
    v.unsupported(section.path, path);
  }
}

/** `https://gitlab.example.com/ci` -> `https://gitlab.example.com`, as upstream. */
const CI_SUFFIX = /\/ci\/?$/;

function finishRunner(v: Validation, runner: RunnerConfig, item: Target, path: KeyPath): void {
  for (const name of ["url", "token"] as const) {
    const written = runner[name];
    if (hasEnvReference(written)) {
      const value = expandEnv(written, v.env);
      runner[name] = value;
      runner.envExpansion[name] = { template: written, value };
    }
  }
  if (CI_SUFFIX.test(runner.url)) {
    const stripped = runner.url.replace(CI_SUFFIX, "");
    v.warn(
      "url_ci_suffix",
      [...path, "url"],
      `key ${
        displayKeyPath([...path, "url"])
      } ends with "/ci", which is not needed; using "${stripped}"`,
    );
    runner.url = stripped;
    if (runner.envExpansion.url !== null) runner.envExpansion.url.value = stripped;
  }
  if (runner.token !== "" && !isGitLabUrl(runner.url)) {
    const where = [...path, "url"];
    const template = runner.envExpansion.url?.template;
    const from = template === undefined ? "" : ` (from ${JSON.stringify(template)})`;
    v.warn(
      "invalid_url",
      where,
      `key ${displayKeyPath(where)} ${JSON.stringify(runner.url)}${from} is not an absolute ` +
        `http or https URL: runner ${JSON.stringify(runner.name)} never asks for jobs`,
    );
  }
  if (!isSupportedExecutor(runner.executor)) {
    const where = [...path, "executor"];
    const what = runner.executor === ""
      ? "is not set"
      : `names ${JSON.stringify(runner.executor)}, an executor this runner does not have`;
    v.warn(
      "unsupported_executor",
      runner.executor === "" ? path : where,
      `key ${displayKeyPath(where)} ${what}: runner ${
        JSON.stringify(runner.name)
      } never asks for jobs (supported: ${SUPPORTED_EXECUTORS.join(", ")})`,
    );
  }
  if (runner.executor === "custom" && runner.custom.runExec === "") {
    // Asks for jobs and fails every one with runner_configuration_error, as the official runner.
    v.warn(
      "missing_key",
      [...path, "executor"],
      `key ${displayKeyPath([...path, "custom", "run_exec"])} is not set: every job of runner ${
        JSON.stringify(runner.name)
      } fails ("custom executor is missing run_exec")`,
    );
  }
  /** A [runners.cache] Type whose jobs get no distributed cache, and why. */
  const warnCacheType = (why: string) => {
    const where = [...path, "cache", "Type"];
    v.warn(
      "unsupported_value",
      where,
      `key ${displayKeyPath(where)} = ${
        JSON.stringify(runner.cache.type)
      } ${why}: its jobs keep their cache in cache_dir on this host`,
    );
  };
  if (cacheBackend(runner.cache.type) === null) {
    // Each job then warns that it has no URL; this says why once, at load.
    warnCacheType('is not a cache type (use "s3", "gcs" or "azure")');
  }
  const backend = cacheBackend(runner.cache.type);
  // A custom executor entry gets no distributed cache at all (warned below).
  if (
    (backend === "s3" || backend === "gcs" || backend === "azure") && runner.executor !== "custom"
  ) {
    // The signer cannot be made: each job warns "No URL for the distributed cache".
    const problem = backend === "s3"
      ? s3SettingsProblem(runner.cache.s3) ?? s3EndpointProblem(runner.cache.s3)
      : backend === "gcs"
      ? gcsSettingsProblem(runner.cache.gcs) ?? gcsEndpointProblem(runner.cache.gcs)
      : azureSettingsProblem(runner.cache.azure) ?? azureEndpointProblem(runner.cache.azure);
    if (problem !== null) {
      const where = [...path, "cache", backend, problem.key];
      const message = problem.message.replace(/^\[runners\.cache\.\w+\] /, "");
      v.warn(
        "unsupported_value",
        where,
        `key ${displayKeyPath(where)}: ${message}; ` +
          `its jobs keep their cache in cache_dir on this host`,
      );
    }
  }
  if (runner.cache.maxUploadedArchiveSize < 0) {
    // The official runner passes the helper only a limit above 0.
    const where = [...path, "cache", "MaxUploadedArchiveSize"];
    v.warn(
      "unsupported_value",
      where,
      `key ${displayKeyPath(where)} = ${runner.cache.maxUploadedArchiveSize} is negative: ` +
        "no limit applies, as with 0 (set a size in bytes to limit uploads)",
    );
  }
  // Set, but not read given the rest of the section. Not for a custom executor
  // entry with a Type, nor an unknown Type: their Type warning says it all.
  if (backend !== null && !(runner.executor === "custom" && backend !== "")) {
    const defaults = defaultRunnerConfig(runner.executor).cache;
    for (const { section, key, why } of unusedCacheSettings(runner.cache, backend, defaults)) {
      const where = [...path, "cache", ...(section === "" ? [] : [section]), key];
      v.warn("unsupported_value", where, `key ${displayKeyPath(where)} is not used: ${why}`);
    }
  }
  if (runner.executor === "custom" && cacheBackend(runner.cache.type)) {
    // The custom executor's cache helpers (`runner cache-archiver|cache-extractor`)
    // work on cache_dir only: they are given no pre-signed URLs.
    warnCacheType("is not supported with the custom executor");
  }
  if (EXECUTORS_WITH_SECTIONS.has(runner.executor)) {
    // A section only other executors read would look as if it acted (a block
    // copied from another runner, an executor line changed): [runners.ssh]
    // as if jobs went to a build host, [runners.docker] as if they ran in an
    // image. Named once per section: by its main key when set, else its first.
    for (const [section, main, readers] of EXECUTOR_SECTIONS) {
      if (readers.includes(runner.executor)) continue;
      const prefix = `runners.${section}.`;
      // [[runners.docker.services]] entries are items of their own, not keys of this one.
      const services = section === "docker" && runner.docker.services.length > 0
        ? ["runners.docker.services"]
        : [];
      const set = [...item.present, ...services].filter((id) => id.startsWith(prefix));
      if (set.length === 0) continue;
      const key = set.includes(prefix + main) ? main : (set[0] as string).slice(prefix.length);
      const where = [...path, section, key];
      const by = readers.length === 1
        ? `the ${readers[0]} executor`
        : `the ${readers.join(" and ")} executors`;
      v.warn(
        "unsupported_value",
        where,
        `key ${displayKeyPath(where)} is not used: [runners.${section}] is read by ${by}, ` +
          `not by "${runner.executor}"`,
      );
    }
  }
  if (!["", "bash", "sh"].includes(runner.shell) && EXECUTORS_WITH_SECTIONS.has(runner.executor)) {
    // Every executor here drives bash or sh only: the shell, ssh and custom
    // executors fail every job on another shell; docker runs the image's bash or sh.
    const where = [...path, "shell"];
    const fails = `every job of runner ${JSON.stringify(runner.name)} fails`;
    // Only docker runs jobs anyway, and a custom config_exec may still give a shell:
    // otherwise no job can run, which lint reports as an error.
    const isRescued = runner.executor === "custom" && runner.custom.configExec !== "";
    const consequence = runner.executor === "docker"
      ? "its jobs run in the image's bash or sh"
      : isRescued
      ? `${fails} unless config_exec gives a shell (use "bash" or "sh")`
      : `${fails} (use "bash" or "sh")`;
    v.warn(
      runner.executor === "docker" || isRescued ? "unsupported_value" : "invalid_value",
      where,
      `key ${displayKeyPath(where)} = ${
        JSON.stringify(runner.shell)
      } is not supported by the ${runner.executor} executor: ${consequence}`,
    );
  }
  if (runner.executor === "docker+ssh") {
    // docker+ssh starts one container from the job image with [runners.docker]'s pull,
    // host and connection settings: a key it never reads looked as if it acted.
    const prefix = "runners.docker.";
    // [[runners.docker.services]] entries are items of their own, not keys of this one.
    const named = new Set<string>();
    const ids = [
      ...item.present,
      ...(runner.docker.services.length > 0 ? [`${prefix}services`] : []),
    ];
    for (const id of ids) {
      if (!id.startsWith(prefix)) continue;
      const key = id.slice(prefix.length).split(".")[0] as string;
      if (DOCKER_SSH_KEYS.has(key) || named.has(key)) continue;
      named.add(key);
      const where = [...path, "docker", key];
      v.warn(
        "unsupported_value",
        where,
        `key ${
          displayKeyPath(where)
        } is not used by the docker+ssh executor: it starts the job container alone, without services, volumes, a helper or a job network`,
      );
    }
  }
  if (runner.cloneUrl !== "" && parseCloneUrl(runner.cloneUrl) === null) {
    const where = [...path, "clone_url"];
    v.warn(
      "invalid_value",
      where,
      `key ${displayKeyPath(where)} = ${
        JSON.stringify(runner.cloneUrl)
      } is not ${CLONE_URL_EXPECTED}: every job of runner ${JSON.stringify(runner.name)} fails`,
    );
  }
  if (runner.executor === "ssh" || runner.executor === "docker+ssh") {
    // docker+ssh connects to the job container's address: only the port is its.
    const checks = [
      ...(runner.executor === "ssh"
        ? [["host", runner.ssh.host, sshHostProblem(runner.ssh.host)] as const]
        : []),
      ["port", runner.ssh.port, sshPortProblem(runner.ssh.port)] as const,
    ];
    for (const [key, value, why] of checks) {
      if (why === null) continue;
      const where = [...path, "ssh", key];
      v.warn(
        "invalid_value",
        where,
        `key ${displayKeyPath(where)}${
          value === undefined ? "" : ` = ${JSON.stringify(value)}`
        } is not valid (${why}): ` +
          `every job of runner ${JSON.stringify(runner.name)} fails`,
      );
    }
  }
  if (runner.executor === "docker") {
    // Mount points in the job container: the executor refuses a relative one.
    const mountPoints = [["builds_dir", runner.buildsDir], ["cache_dir", runner.cacheDir]] as const;
    for (const [key, dir] of mountPoints) {
      if (dir === "" || dir.startsWith("/")) continue;
      const where = [...path, key];
      v.warn(
        "invalid_value",
        where,
        `key ${displayKeyPath(where)} = ${
          JSON.stringify(dir)
        } is not an absolute path, which the docker executor needs in the container: ` +
          `every job of runner ${JSON.stringify(runner.name)} fails`,
      );
    }
  }
  if ((runner.executor === "docker" || runner.executor === "docker+ssh") && runner.docker.host) {
    try {
      dockerEndpoint(runner.docker);
    } catch {
      const where = [...path, "docker", "host"];
      const ssh = runner.docker.host.startsWith("ssh://")
        ? "; the docker CLI's ssh:// transport is not supported"
        : "";
      v.warn(
        "invalid_value",
        where,
        `key ${displayKeyPath(where)} = ${
          JSON.stringify(runner.docker.host)
        } is not a Docker endpoint (expected unix:///path or tcp://host:port${ssh}): ` +
          `every job of runner ${JSON.stringify(runner.name)} fails`,
      );
    }
  }
  if (runner.executor === "docker" || runner.executor === "docker+ssh") {
    const problems = dockerValueProblems(runner.docker, {
      hasServices: runner.executor === "docker",
      isPullPolicySet: item.present.has("runners.docker.pull_policy"),
    });
    for (const { key, index, subkey, value, why, jobs } of problems) {
      const where: KeyPath = [
        ...path,
        "docker",
        key,
        ...(index === undefined ? [] : [index]),
        ...(subkey === undefined ? [] : [subkey]),
      ];
      const which = jobs ?? (/^services?_/.test(key) ? "that has services" : "");
      v.warn(
        "invalid_value",
        where,
        `key ${displayKeyPath(where)}${
          value === undefined ? "" : ` = ${JSON.stringify(value)}`
        } is not valid (${why}): ` +
          `every job of runner ${JSON.stringify(runner.name)} ${
            which === "" ? "" : `${which} `
          }fails`,
      );
    }
  }
  if (runner.executor === "docker+ssh" && runner.ssh.host !== "") {
    // Every stage goes to the job container's address, known only once it runs.
    const where = [...path, "ssh", "host"];
    v.warn(
      "unsupported_value",
      where,
      `key ${
        displayKeyPath(where)
      } is not used by the docker+ssh executor: it connects to the job container's address`,
    );
  }
  for (const name of ignoredFeatureFlags(runner.featureFlags)) {
    v.warn(
      "unsupported_key",
      [...path, "feature_flags", name],
      `key ${displayKeyPath([...path, "feature_flags", name])} = ${
        runner.featureFlags[name]
      } is not supported by this runner and has no effect`,
    );
  }
  // An entry that is not KEY=VALUE gives the jobs no variable (upstream drops it silently).
  runner.environment.forEach((entry, i) => {
    const eq = entry.indexOf("=");
    const where = [...path, "environment", i];
    if (eq > 0) {
      // Only the name is shown: the value may be a secret.
      const name = entry.slice(0, eq);
      const value = entry.slice(eq + 1);
      if (
        name in FEATURE_FLAG_DEFAULTS && runner.featureFlags[name] === undefined &&
        !value.includes("$") && parseGoBool(value) === undefined
      ) {
        // A flag's value is no secret; the job log says the same for each job.
        v.warn(
          "unsupported_value",
          where,
          `key ${displayKeyPath(where)} sets ${name} to ${JSON.stringify(value)}, which is not ` +
            `true or false: it keeps its default, ${FEATURE_FLAG_DEFAULTS[name]}, unless a job ` +
            "sets it",
        );
      }
      if (
        RUNNER_ONLY_FEATURE_FLAGS.has(name) && runner.featureFlags[name] === undefined &&
        parseGoBool(value) === !FEATURE_FLAG_DEFAULTS[name]
      ) {
        v.warn(
          "unsupported_value",
          where,
          `key ${displayKeyPath(where)} sets ${name}, which has no effect here: this runner ` +
            `reads it only from [runners.feature_flags]`,
        );
      }
      if (isShellVariableName(name)) return;
      v.warn(
        "unsupported_value",
        where,
        `key ${displayKeyPath(where)} names ${JSON.stringify(name)}, which is not a shell ` +
          "variable name (letters, digits and _, not starting with a digit): the job's scripts " +
          "do not export it",
      );
      return;
    }
    v.warn(
      "unsupported_value",
      where,
      eq < 0
        ? `key ${displayKeyPath(where)} = ${
          JSON.stringify(entry)
        } is not KEY=VALUE: the jobs get no variable from it`
        : `key ${displayKeyPath(where)} has no name before "=": the jobs get no variable from it`,
    );
  });
  // As [[runners]] environment: upstream drops such an entry of a service silently.
  if (runner.executor === "docker") {
    runner.docker.services.forEach((service, s) => {
      service.environment.forEach((entry, i) => {
        const eq = entry.indexOf("=");
        if (eq > 0) return;
        const where = [...path, "docker", "services", s, "environment", i];
        v.warn(
          "unsupported_value",
          where,
          eq < 0
            ? `key ${displayKeyPath(where)} = ${
              JSON.stringify(entry)
            } is not KEY=VALUE: the service gets no variable from it`
            : `key ${
              displayKeyPath(where)
            } has no name before "=": the service gets no variable from it`,
        );
      });
    });
  }
  // A name no runner knows (a typo, a flag upstream removed such as
  // FF_USE_NEW_BASH_EVAL_STRATEGY) is read by nothing: say so.
  for (const name of Object.keys(runner.featureFlags)) {
    if (name in FEATURE_FLAG_DEFAULTS) continue;
    const where = [...path, "feature_flags", name];
    v.warn(
      "unsupported_key",
      where,
      REMOVED_FEATURE_FLAGS.has(name)
        ? `key ${displayKeyPath(where)} is a feature flag GitLab Runner removed and has no effect`
        : `key ${displayKeyPath(where)} is not a feature flag this runner knows and has no effect`,
    );
  }
  applyRunnerDynamicDefaults(runner, {
    safeDirectoryCheckout: item.present.has("runners.safe_directory_checkout"),
    cleanGitConfig: item.present.has("runners.clean_git_config"),
    customBuildDirEnabled: item.present.has("runners.custom_build_dir.enabled"),
  });
}

/** The executors' own sections, the key each is known by, and the executors that read them. */
const EXECUTOR_SECTIONS: readonly [string, string, readonly string[]][] = [
  ["ssh", "host", ["ssh", "docker+ssh"]],
  ["docker", "image", ["docker", "docker+ssh"]],
  ["custom", "run_exec", ["custom"]],
];
/**
 * The [runners.docker] keys the docker+ssh executor reads: the daemon, the image and its
 * pull, the entrypoint rule, and the build container's host config (buildHostConfig).
 */
const DOCKER_SSH_KEYS: ReadonlySet<string> = new Set([
  "host",
  "tls_verify",
  "tls_cert_path",
  "image",
  "pull_policy",
  "allowed_pull_policies",
  "allowed_images",
  "network_mode",
  "hostname",
  "disable_entrypoint_overwrite",
  "privileged",
  "allowed_privileged_images",
  "cap_add",
  "cap_drop",
  "cgroup_parent",
  "cpu_shares",
  "cpus",
  "cpuset_cpus",
  "cpuset_mems",
  "device_cgroup_rules",
  "devices",
  "dns",
  "dns_search",
  "extra_hosts",
  "gpus",
  "group_add",
  "ipcmode",
  "links",
  "log_options",
  "memory",
  "memory_reservation",
  "memory_swap",
  "oom_kill_disable",
  "oom_score_adjust",
  "pid_mode",
  "runtime",
  "security_opt",
  "shm_size",
  "sysctls",
  "tmpfs",
  "ulimit",
  "userns_mode",
  "volume_driver",
  "volumes_from",
]);
const EXECUTORS_WITH_SECTIONS = new Set(["shell", "docker", "ssh", "docker+ssh", "custom"]);

function syntaxError(error: TomlError, file: string, text: string): ConfigError {
  let reason = error.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "") ?? "";
  if (reason.startsWith("trying to redefine")) {
    // The parser names neither; the official runner's does ("Key 'x' has already been defined").
    const source = text.split("\n")[error.line - 1]?.trim() ?? "";
    const table = /^(\[\[?)\s*(.+?)\s*\]\]?/.exec(source);
    const key = /^([^=#]+?)\s*=/.exec(source);
    const what = table
      ? `table ${table[1]}${table[2]}${table[1] === "[" ? "]" : "]]"}`
      : key
      ? `key ${key[1]}`
      : null;
    if (what) reason = `${what} is already defined (${reason})`;
  }
  return new ConfigError([{
    file,
    line: error.line,
    key: "",
    message: `Invalid TOML at column ${error.column}: ${reason}`,
  }], { cause: error });
}

// Upstream's label rules (common/labels.go, "kept in sync with GitLab Rails"):
// a label that breaks them makes the whole file invalid, as upstream's
// Config.Validate does at every load.
const LABEL_KEY = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{2,64}$/;
const LABEL_VALUE = /^[a-zA-Z0-9._-]{1,256}$/;
const MAX_LABELS = 32;

function checkLabelPatterns(v: Validation, labels: Record<string, string>, path: KeyPath): void {
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key)) {
      v.error([...path, key], `is not a valid label key: it must match ${LABEL_KEY.source}`);
    } else if (!LABEL_VALUE.test(value)) {
      v.error(
        [...path, key],
        `is not a valid label value, got ${
          describeValue(value)
        }: it must match ${LABEL_VALUE.source}`,
      );
    }
  }
}

/**
 * Two entries with the same url and token are one runner to GitLab, and the
 * poller keeps one entry per runner, the last: the earlier ones' settings are
 * never used, which the file must not leave unsaid.
 */
/**
 * Addresses `run` cannot listen on, found at load: a metrics `listen_address`
 * (its server then does not start, as upstream runs on without it) warns; a
 * `[session_server]` one is an error, as the runner cannot start with it
 * (a reload keeps the running config).
 */
function checkListenAddresses(v: Validation, config: GlobalConfig): void {
  if (config.listenAddress !== "") {
    try {
      parseListenAddress(config.listenAddress);
    } catch (err) {
      const why = (err as Error).message.replace(/^Invalid listen address "[^"]*": /, "");
      v.warn(
        "unsupported_value",
        ["listen_address"],
        `key listen_address = ${
          JSON.stringify(config.listenAddress)
        } cannot be listened on: ${why}; the metrics server does not start`,
      );
    }
  }
  const { listenAddress, advertiseAddress } = config.sessionServer;
  if (listenAddress === "") return;
  try {
    sessionAddresses(listenAddress, advertiseAddress);
  } catch (err) {
    const message = (err as Error).message;
    const key = advertiseAddress !== "" && message.includes('advertise_address "')
      ? "advertise_address"
      : "listen_address";
    const value = key === "listen_address" ? listenAddress : advertiseAddress;
    v.error(
      ["session_server", key],
      `= ${JSON.stringify(value)} cannot be used: ${
        message.replace(/^Invalid \[session_server\](?: \w+ "[^"]*")?: /, "")
      }`,
    );
  }
}

function checkDuplicateRunners(v: Validation, config: GlobalConfig): void {
  // The entries the poller asks for jobs with (poller/poller.ts apply).
  const isUsed = (r: RunnerConfig) =>
    r.token !== "" && isSupportedExecutor(r.executor) && isGitLabUrl(r.url);
  const last = new Map<string, number>();
  config.runners.forEach((r, i) => {
    if (isUsed(r)) last.set(`${r.url}\u0000${r.token}`, i);
  });
  config.runners.forEach((r, i) => {
    const kept = last.get(`${r.url}\u0000${r.token}`);
    if (!isUsed(r) || kept === undefined || kept === i) return;
    const other = config.runners[kept]!;
    v.warn(
      "duplicate_runner",
      ["runners", i, "token"],
      `key runners[${i}].token: runners[${i}] (${JSON.stringify(r.name)}) and runners[${kept}] ` +
        `(${JSON.stringify(other.name)}) have the same url and token, one runner to GitLab; ` +
        `only the settings of runners[${kept}] are used`,
    );
  });
}

/** Global and per-runner `labels`: patterns, and at most 32 per runner once combined. */
function checkLabels(v: Validation, config: GlobalConfig): void {
  checkLabelPatterns(v, config.labels, ["labels"]);
  config.runners.forEach((runner, i) => {
    checkLabelPatterns(v, runner.labels, ["runners", i, "labels"]);
    const count = Object.keys({ ...config.labels, ...runner.labels }).length;
    if (count > MAX_LABELS) {
      v.error(
        Object.keys(runner.labels).length > 0 ? ["runners", i, "labels"] : ["labels"],
        `makes ${count} labels for runners[${i}] with the global ones, more than the ${MAX_LABELS} allowed`,
      );
    }
  });
}

/**
 * Validates `text`. Throws ConfigError (syntax errors, wrong types, bad values)
 * naming file, line and key; everything else is a warning in the result.
 */
export function parseConfig(text: string, options: ParseConfigOptions): LoadedConfig {
  let document: Obj;
  try {
    document = parseTomlDocument(text) as Obj;
  } catch (error) {
    if (error instanceof TomlError) throw syntaxError(error, options.file, text);
    throw error;
  }
  const v = new Validation(text, options.file, options.env);
  checkIntegerRange(v, document, []);
  if (v.problems.length > 0) throw new ConfigError(v.problems);
  const root: Target = { obj: defaultsForRoot(""), unsupported: {}, root: "", present: new Set() };
  readTable(v, "", document, [], root, "full");
  checkLabels(v, root.obj as unknown as GlobalConfig);
  checkDuplicateRunners(v, root.obj as unknown as GlobalConfig);
  checkListenAddresses(v, root.obj as unknown as GlobalConfig);
  if (v.problems.length > 0) throw new ConfigError(v.problems);
  root.obj["unsupported"] = root.unsupported;
  const config = root.obj as unknown as GlobalConfig;
  applyGlobalDynamicDefaults(config);
  return { config, warnings: v.warnings };
}
