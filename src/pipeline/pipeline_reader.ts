import type { StepWhen } from "../job/job_spec.ts";
import { CiConfigError, type CiWarning } from "./ci_config_error.ts";
import { type CiEntry, type CiMap, type CiNode, describeNode } from "./ci_node.ts";
import { parseCiDuration } from "./ci_duration.ts";
import {
  checkKeys,
  fail,
  readBool,
  readInt,
  readItems,
  readMap,
  readString,
  readStrings,
  readText,
} from "./_node_reader.ts";
import {
  DEFAULT_KEYWORDS,
  DEFAULT_STAGES,
  IGNORED_JOB_KEYWORDS,
  isReservedKeyword,
  JOB_KEYWORDS,
} from "./pipeline_keywords.ts";
import { parseRuleExpression, RuleExpressionError } from "./rule_expression.ts";
import type {
  AllowFailureConfig,
  ArtifactsConfig,
  CacheConfig,
  CiVariable,
  EnvironmentConfig,
  ImageConfig,
  JobConfig,
  JobWhen,
  NeedConfig,
  OnlyExceptConfig,
  ParallelConfig,
  Pipeline,
  RetryConfig,
  RuleConfig,
  TriggerConfig,
} from "./pipeline.ts";

/** Retry failure types GitLab accepts in `retry:when`. */
const RETRY_WHEN = [
  "always",
  "unknown_failure",
  "script_failure",
  "api_failure",
  "stuck_or_timeout_failure",
  "runner_system_failure",
  "runner_unsupported",
  "stale_schedule",
  "job_execution_timeout",
  "archived_failure",
  "unmet_prerequisites",
  "scheduler_failure",
  "data_integrity_failure",
];

const RULE_KEYS = [
  "if",
  "changes",
  "exists",
  "when",
  "start_in",
  "allow_failure",
  "variables",
  "needs",
];

const JOB_WHEN: readonly JobWhen[] = ["on_success", "on_failure", "always", "manual", "delayed"];
const RULE_WHEN: readonly JobWhen[] = [...JOB_WHEN, "never"];
const STEP_WHEN: readonly StepWhen[] = ["on_success", "on_failure", "always"];

export interface ReadPipelineOptions {
  projectDir: string;
  files: string[];
  warnings: CiWarning[];
}

/**
 * Validates the merged configuration (includes, `extends` and `!reference`
 * already applied) into a `Pipeline`. Wrong types are a `CiConfigError`
 * naming file, line and key; unknown keywords are warnings.
 */
export function readPipeline(root: CiMap, options: ReadPipelineOptions): Pipeline {
  const { warnings } = options;
  const stages = readStages(root);
  const globalVars = root.entries.get("variables");
  const variables = globalVars ? readVariables(globalVars.value, "variables", true) : [];
  const defaults = readDefaults(root, warnings);
  const workflowEntry = root.entries.get("workflow");
  let workflow: Pipeline["workflow"] = { name: "", rules: null };
  if (workflowEntry) {
    const map = readMap(workflowEntry.value, "workflow");
    for (const [k, e] of map.entries) {
      if (!["rules", "name", "auto_cancel"].includes(k)) {
        warnings.push({
          location: e.keyLoc,
          key: `workflow.${k}`,
          message: `unknown keyword "${k}", ignored`,
        });
      }
    }
    const rules = map.entries.get("rules");
    const name = map.entries.get("name");
    workflow = {
      name: name ? readString(name.value, "workflow.name") : "",
      // GitLab: a pipeline is created or not; no manual or delayed pipelines.
      rules: rules
        ? readRules(rules.value, "workflow.rules", { allowedWhen: ["always", "never"], warnings })
        : null,
    };
  }
  const jobs: JobConfig[] = [];
  for (const [name, entry] of root.entries) {
    if (isReservedKeyword(name)) continue;
    if (name.startsWith(".")) continue;
    jobs.push(readJob(name, entry, { stages, defaults, warnings }));
  }
  if (jobs.length === 0) {
    throw new CiConfigError(root.loc, "", "the pipeline defines no jobs");
  }
  return {
    projectDir: options.projectDir,
    files: options.files,
    stages,
    variables,
    workflow,
    jobs,
    warnings,
  };
}

function readStages(root: CiMap): string[] {
  const types = root.entries.get("types");
  if (types) {
    throw new CiConfigError(types.keyLoc, "types", "was removed in GitLab 15.0: use stages");
  }
  const entry = root.entries.get("stages");
  if (!entry) return [...DEFAULT_STAGES];
  // GitLab: "stages config should be an array of strings" (a lone string too).
  if (entry.value.kind !== "seq") {
    fail(entry.value, "stages", `expected an array of strings, got ${describeNode(entry.value)}`);
  }
  const listed = readStrings(entry.value, "stages");
  // GitLab always runs .pre first and .post last, whatever `stages:` says.
  return [".pre", ...listed.filter((s) => s !== ".pre" && s !== ".post"), ".post"];
}

/** `default:` merged over the deprecated top-level image, services, cache and scripts. */
function readDefaults(root: CiMap, warnings: CiWarning[]): Map<string, CiEntry> {
  const out = new Map<string, CiEntry>();
  for (const k of ["image", "services", "cache", "before_script", "after_script"]) {
    const entry = root.entries.get(k);
    if (entry) {
      warnings.push({
        location: entry.keyLoc,
        key: k,
        message: `top-level "${k}" is deprecated; use default:${k}`,
      });
      out.set(k, entry);
    }
  }
  const def = root.entries.get("default");
  if (def) {
    for (const [k, e] of readMap(def.value, "default").entries) {
      if (!DEFAULT_KEYWORDS.includes(k)) {
        warnings.push({
          location: e.keyLoc,
          key: `default.${k}`,
          message: `unknown keyword "${k}", ignored`,
        });
        continue;
      }
      const ignored = IGNORED_JOB_KEYWORDS.get(k);
      if (ignored) warnings.push({ location: e.keyLoc, key: `default.${k}`, message: ignored });
      out.set(k, e);
    }
  }
  return out;
}

interface JobContext {
  stages: string[];
  defaults: Map<string, CiEntry>;
  warnings: CiWarning[];
}

/** Keys of a script job that GitLab refuses in a trigger job ("contains unknown keys"). */
const TRIGGER_REFUSED_KEYS = [
  "script",
  "before_script",
  "after_script",
  "image",
  "services",
  "artifacts",
  "cache",
  "coverage",
];

/** GitLab's longest job name. */
const MAX_JOB_NAME_LENGTH = 255;

function readJob(name: string, entry: CiEntry, ctx: JobContext): JobConfig {
  const at = `jobs.${name}`;
  if (name === "") throw new CiConfigError(entry.keyLoc, "jobs", "a job name can't be blank");
  if (name.length > MAX_JOB_NAME_LENGTH) {
    throw new CiConfigError(
      entry.keyLoc,
      `jobs.${name.slice(0, 40)}…`,
      `the job name is ${name.length} characters long, more than ${MAX_JOB_NAME_LENGTH}`,
    );
  }
  if (entry.value.kind !== "map") {
    throw new CiConfigError(
      entry.keyLoc,
      at,
      `expected a job hash, got ${describeNode(entry.value)}`,
    );
  }
  const job = entry.value;
  for (const [k, e] of job.entries) {
    if (!JOB_KEYWORDS.has(k)) {
      ctx.warnings.push({
        location: e.keyLoc,
        key: `${at}.${k}`,
        message: `unknown keyword "${k}", ignored`,
      });
    } else if (IGNORED_JOB_KEYWORDS.has(k)) {
      ctx.warnings.push({
        location: e.keyLoc,
        key: `${at}.${k}`,
        message: IGNORED_JOB_KEYWORDS.get(k)!,
      });
    }
  }
  const own = (k: string) => job.entries.get(k)?.value;

  // inherit: default and variables may be true, false or a list of names.
  let inheritDefault: boolean | string[] = true;
  let inheritVariables: boolean | string[] = true;
  const inherit = own("inherit");
  if (inherit) {
    const map = readMap(inherit, `${at}.inherit`);
    checkKeys(map, `${at}.inherit`, ["default", "variables"]);
    const read = (k: string): boolean | string[] => {
      const n = map.entries.get(k)?.value;
      if (!n) return true;
      if (n.kind === "scalar" && typeof n.value === "boolean") return n.value;
      return readStrings(n, `${at}.inherit.${k}`);
    };
    inheritDefault = read("default");
    inheritVariables = read("variables");
    const unknown = Array.isArray(inheritDefault)
      ? inheritDefault.find((k) => !DEFAULT_KEYWORDS.includes(k))
      : undefined;
    if (unknown !== undefined) {
      fail(
        map.entries.get("default")!.value,
        `${at}.inherit.default`,
        `"${unknown}" is not a default: keyword (${DEFAULT_KEYWORDS.join(", ")})`,
      );
    }
  }
  const get = (k: string): CiNode | undefined => {
    const v = own(k);
    if (v) return v;
    const isInherited = inheritDefault === true ||
      (Array.isArray(inheritDefault) && inheritDefault.includes(k));
    return isInherited ? ctx.defaults.get(k)?.value : undefined;
  };

  const isTrigger = job.entries.has("trigger");
  if (isTrigger) {
    // GitLab's trigger jobs (bridges) take none of a script job's keys.
    const scriptKey = TRIGGER_REFUSED_KEYS.find((k) => job.entries.has(k));
    if (scriptKey) {
      throw new CiConfigError(
        job.entries.get(scriptKey)!.keyLoc,
        `${at}.${scriptKey}`,
        "not allowed in a trigger job: it starts a pipeline and runs no script",
      );
    }
    const triggerWhen = own("when");
    if (triggerWhen?.kind === "scalar" && triggerWhen.value === "delayed") {
      fail(triggerWhen, `${at}.when`, "a trigger job cannot be delayed");
    }
  }
  const scriptNode = own("script");
  if (!scriptNode && !isTrigger) {
    if (job.entries.has("run")) {
      throw new CiConfigError(entry.keyLoc, at, "run: (CI steps) jobs are not supported by exec");
    }
    throw new CiConfigError(entry.keyLoc, at, "a job needs a script: or trigger: keyword");
  }
  const script = readScript(scriptNode, `${at}.script`);
  if (scriptNode && script.length === 0) {
    // GitLab: "jobs:<name> script can't be blank".
    throw new CiConfigError(scriptNode.loc, `${at}.script`, "can't be blank");
  }
  const stageNode = own("stage");
  const stage = stageNode ? readString(stageNode, `${at}.stage`) : "test";
  if (!ctx.stages.includes(stage)) {
    throw new CiConfigError(
      stageNode?.loc ?? entry.keyLoc,
      `${at}.stage`,
      `stage "${stage}" is not defined in stages (${ctx.stages.join(", ")})`,
    );
  }
  const whenNode = own("when");
  const when = whenNode ? readWhen(whenNode, `${at}.when`, JOB_WHEN) : "on_success";
  const variablesNode = own("variables");
  const timeoutNode = get("timeout");
  const imageNode = get("image");
  const servicesNode = get("services");
  const onlyNode = own("only");
  const exceptNode = own("except");
  const rulesNode = own("rules");
  if (rulesNode && (onlyNode || exceptNode)) {
    throw new CiConfigError(
      rulesNode.loc,
      `${at}.rules`,
      "rules cannot be used with only or except",
    );
  }
  const dependenciesNode = own("dependencies");
  const needs = own("needs") ? readNeeds(own("needs")!, `${at}.needs`) : null;
  const dependencies = dependenciesNode
    ? readPathList(dependenciesNode, `${at}.dependencies`)
    : null;
  // GitLab: with needs, a job starts once they are done, so what it takes
  // artifacts from must be among them ("the X should be part of needs").
  const unneeded = needs && dependencies?.find((d) => !needs.some((n) => n.job === d));
  if (unneeded) {
    fail(dependenciesNode!, `${at}.dependencies`, `"${unneeded}" should be part of needs`);
  }
  const envNode = own("environment");
  const interruptible = get("interruptible");
  const coverage = own("coverage");
  const startIn = own("start_in");
  const cacheNode = get("cache");
  return {
    name,
    loc: entry.keyLoc,
    stage,
    beforeScript: readScript(get("before_script"), `${at}.before_script`),
    script,
    afterScript: readScript(get("after_script"), `${at}.after_script`),
    image: imageNode ? readImage(imageNode, `${at}.image`, false) : null,
    services: servicesNode
      ? readItems(servicesNode, `${at}.services`, false).map((n, i) =>
        readImage(n, `${at}.services[${i}]`, true)
      )
      : [],
    variables: variablesNode ? readVariables(variablesNode, `${at}.variables`, false) : [],
    inheritVariables,
    rules: rulesNode ? readRules(rulesNode, `${at}.rules`, { warnings: ctx.warnings }) : null,
    only: onlyNode ? readOnlyExcept(onlyNode, `${at}.only`, ctx.warnings) : null,
    except: exceptNode ? readOnlyExcept(exceptNode, `${at}.except`, ctx.warnings) : null,
    when,
    startIn: readJobStartIn(entry, at, { when, startIn, isRuled: rulesNode !== undefined }),
    allowFailure: readAllowFailure(own("allow_failure"), `${at}.allow_failure`),
    timeout: timeoutNode ? readTimeout(timeoutNode, `${at}.timeout`) : null,
    retry: readRetry(get("retry"), `${at}.retry`),
    parallel: readParallel(own("parallel"), `${at}.parallel`),
    needs,
    dependencies,
    artifacts: get("artifacts")
      ? readArtifacts(get("artifacts")!, `${at}.artifacts`, ctx.warnings)
      : null,
    cache: cacheNode ? readCaches(cacheNode, `${at}.cache`) : [],
    tags: get("tags") ? readPathList(get("tags")!, `${at}.tags`) : [],
    environment: envNode ? readEnvironment(envNode, `${at}.environment`) : null,
    interruptible: interruptible ? readBool(interruptible, `${at}.interruptible`) : false,
    coverage: coverage ? readCoverage(coverage, `${at}.coverage`, ctx.warnings) : "",
    isTrigger,
    trigger: isTrigger ? readTrigger(own("trigger")!, `${at}.trigger`) : null,
  };
}

function readTrigger(node: CiNode, key: string): TriggerConfig {
  const trigger: TriggerConfig = {
    localIncludes: [],
    unsupported: "",
    isDepend: false,
    isYamlVariablesForwarded: true,
    isPipelineVariablesForwarded: false,
  };
  if (node.kind === "scalar") {
    return { ...trigger, unsupported: `multi-project pipeline "${readString(node, key)}"` };
  }
  const map = readMap(node, key);
  checkKeys(map, key, ["include", "project", "branch", "strategy", "forward", "inputs"]);
  const get = (k: string) => map.entries.get(k)?.value;
  const strategy = get("strategy");
  if (strategy) trigger.isDepend = readWhen(strategy, `${key}.strategy`, ["depend"]) === "depend";
  const forward = get("forward");
  if (forward) {
    const f = readMap(forward, `${key}.forward`);
    checkKeys(f, `${key}.forward`, ["yaml_variables", "pipeline_variables"]);
    const yaml = f.entries.get("yaml_variables")?.value;
    if (yaml) trigger.isYamlVariablesForwarded = readBool(yaml, `${key}.forward.yaml_variables`);
    const pipeline = f.entries.get("pipeline_variables")?.value;
    if (pipeline) {
      trigger.isPipelineVariablesForwarded = readBool(
        pipeline,
        `${key}.forward.pipeline_variables`,
      );
    }
  }
  const project = get("project");
  if (project) {
    return {
      ...trigger,
      unsupported: `multi-project pipeline "${readString(project, `${key}.project`)}"`,
    };
  }
  const include = get("include");
  if (!include) fail(node, key, "expected include: or project:");
  for (const [i, item] of readItems(include, `${key}.include`).entries()) {
    const at = `${key}.include[${i}]`;
    if (item.kind === "scalar") {
      trigger.localIncludes.push(readString(item, at).replace(/^\/+/, ""));
      continue;
    }
    const m = readMap(item, at);
    const local = m.entries.get("local")?.value;
    if (local && !m.entries.has("inputs")) {
      trigger.localIncludes.push(readString(local, `${at}.local`).replace(/^\/+/, ""));
    } else {
      const kind = [...m.entries.keys()].find((k) => k !== "inputs") ?? "include";
      trigger.unsupported = `child pipeline from a ${kind} include`;
    }
  }
  // Inputs for the child's spec:inputs: exec's child pipelines take none (its
  // defaults would run in their place).
  if (get("inputs") && trigger.unsupported === "") {
    trigger.unsupported = "a child pipeline with trigger:inputs";
  }
  return trigger;
}

function readScript(node: CiNode | undefined, key: string): string[] {
  return node ? readStrings(node, key) : [];
}

function readStringList(node: CiNode, key: string): string[] {
  return readItems(node, key).map((n) => readString(n, key));
}

/**
 * Where GitLab wants an array of strings (`artifacts:paths`, `cache:paths`,
 * `tags`, `dependencies`, `only`/`except` and their keys, `rules:changes` and
 * `exists`, `cache:key:files`, `fallback_keys`), a lone string is an error.
 */
function readPathList(node: CiNode, key: string): string[] {
  if (node.kind !== "seq") {
    fail(node, key, `expected an array of strings, got ${describeNode(node)}`);
  }
  return readItems(node, key).map((n) => readString(n, key));
}

function checkRuleExpression(node: CiNode, key: string, text: string): void {
  try {
    parseRuleExpression(text);
  } catch (error) {
    if (!(error instanceof RuleExpressionError)) throw error;
    fail(node, key, `invalid expression "${text}": ${error.message}`);
  }
}

function readWhen<T extends string>(node: CiNode, key: string, allowed: readonly T[]): T {
  const value = readString(node, key);
  if (!(allowed as readonly string[]).includes(value)) {
    fail(node, key, `unknown value "${value}"; expected one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function readDuration(node: CiNode, key: string): number {
  const text = readText(node, key);
  const seconds = parseCiDuration(text);
  if (seconds === null) {
    fail(node, key, `"${text}" is not a duration (like "1h 30m" or "45 minutes")`);
  }
  return seconds;
}

/**
 * GitLab's longest job timeout (`Project::MAX_BUILD_TIMEOUT`, one month as
 * ActiveSupport counts it: 30.44 days); a timeout must be below it.
 */
const MAX_TIMEOUT_SECONDS = 2_629_746;

function readTimeout(node: CiNode, key: string): number {
  const seconds = readDuration(node, key);
  if (seconds >= MAX_TIMEOUT_SECONDS) {
    fail(node, key, `"${readText(node, key)}" is more than GitLab's limit of 1 month`);
  }
  return seconds;
}

/** `KEY: value` or `KEY: {value, description, expand, options}`. */
export function readVariables(node: CiNode, key: string, isGlobal: boolean): CiVariable[] {
  const map = readMap(node, key);
  const out: CiVariable[] = [];
  for (const [name, entry] of map.entries) {
    const at = `${key}.${name}`;
    if (!/^[A-Za-z0-9_]+$/.test(name)) {
      throw new CiConfigError(
        entry.keyLoc,
        at,
        "variable names may only contain letters, digits and _",
      );
    }
    const v = entry.value;
    if (v.kind === "map") {
      checkKeys(
        v,
        at,
        isGlobal
          ? ["value", "description", "expand", "options"]
          : ["value", "description", "expand"],
      );
      const value = v.entries.get("value")?.value;
      const description = v.entries.get("description")?.value;
      const expand = v.entries.get("expand")?.value;
      const options = v.entries.get("options")?.value;
      const text = value ? readVariableValue(value, at) : "";
      // GitLab: "value must be present in options" (the choices a manual run offers).
      if (options) {
        const choices = readItems(options, `${at}.options`, false).map((n) =>
          readText(n, `${at}.options`)
        );
        if (!choices.includes(text)) {
          fail(
            value ?? v,
            `${at}.value`,
            `"${text}" is not one of its options (${choices.join(", ")})`,
          );
        }
      }
      out.push({
        key: name,
        value: text,
        isRaw: expand ? !readBool(expand, `${at}.expand`) : false,
        description: description ? readString(description, `${at}.description`) : "",
      });
    } else {
      out.push({ key: name, value: readVariableValue(v, at), isRaw: false, description: "" });
    }
  }
  return out;
}

function readVariableValue(node: CiNode, key: string): string {
  if (node.kind === "scalar" && node.value === null) return "";
  if (node.kind === "scalar" && typeof node.value !== "boolean" && !node.isFloat) {
    return String(node.value);
  }
  // GitLab refuses a float ("variable definition must be either a string or a
  // hash"): `3.10` would be "3.1".
  const hint = node.kind === "scalar" && node.isFloat ? " (quote it to keep it as written)" : "";
  return fail(node, key, `expected a string or an integer, got ${describeNode(node)}${hint}`);
}

function readImage(node: CiNode, key: string, isService: boolean): ImageConfig {
  const image: ImageConfig = {
    name: "",
    entrypoint: [],
    command: [],
    alias: "",
    pullPolicy: [],
    platform: "",
    user: "",
    variables: [],
  };
  if (node.kind === "scalar" && typeof node.value === "string") {
    return { ...image, name: node.value };
  }
  if (node.kind !== "map") {
    return fail(
      node,
      key,
      `expected an image name or a hash with name:, got ${describeNode(node)}`,
    );
  }
  const allowed = ["name", "entrypoint", "pull_policy", "docker", "kubernetes"];
  if (isService) allowed.push("alias", "command", "variables");
  checkKeys(node, key, allowed);
  const get = (k: string) => node.entries.get(k)?.value;
  const name = get("name");
  if (!name) fail(node, key, "name: is required");
  image.name = readString(name, `${key}.name`);
  if (get("entrypoint")) image.entrypoint = readStrings(get("entrypoint")!, `${key}.entrypoint`);
  if (get("command")) image.command = readStrings(get("command")!, `${key}.command`);
  if (get("alias")) image.alias = readString(get("alias")!, `${key}.alias`);
  if (get("pull_policy")) {
    image.pullPolicy = readStrings(get("pull_policy")!, `${key}.pull_policy`);
    for (const p of image.pullPolicy) {
      if (!["always", "if-not-present", "never"].includes(p)) {
        fail(get("pull_policy")!, `${key}.pull_policy`, `unknown pull policy "${p}"`);
      }
    }
  }
  if (get("variables")) {
    image.variables = readVariables(get("variables")!, `${key}.variables`, false);
  }
  const docker = get("docker");
  if (docker) {
    const map = readMap(docker, `${key}.docker`);
    checkKeys(map, `${key}.docker`, ["platform", "user"]);
    const platform = map.entries.get("platform")?.value;
    const user = map.entries.get("user")?.value;
    if (platform) image.platform = readString(platform, `${key}.docker.platform`);
    if (user) image.user = readText(user, `${key}.docker.user`);
  }
  return image;
}

/** Keys of `rules:changes` and `rules:exists` exec reads but cannot act on. */
const IGNORED_RULE_KEYS: ReadonlyMap<string, string> = new Map([
  [
    "changes.compare_to",
    "ignored: changes are the working tree's against HEAD (docs/exec.md)",
  ],
  ["exists.project", "another project's files cannot be seen locally: this project's are checked"],
  ["exists.ref", "ignored: the working tree's files are checked"],
]);

export function readRules(
  node: CiNode,
  key: string,
  options: {
    allowedKeys?: readonly string[];
    allowedWhen?: readonly JobWhen[];
    /** Told about what exec reads but does not act on (`compare_to`, `exists:project`). */
    warnings?: CiWarning[];
  } = {},
): RuleConfig[] {
  const allowedKeys = options.allowedKeys ?? RULE_KEYS;
  const allowedWhen = options.allowedWhen ?? RULE_WHEN;
  const items = readItems(node, key, false);
  // GitLab: "rules config should be an array of hashes" (an empty one included).
  if (items.length === 0) fail(node, key, "expected at least one rule");
  return items.map((item, i) => {
    const at = `${key}[${i}]`;
    const map = readMap(item, at);
    checkKeys(map, at, allowedKeys);
    const get = (k: string) => map.entries.get(k)?.value;
    const pathsOf = (k: string): string[] | null => {
      const n = get(k);
      if (!n) return null;
      if (n.kind === "map") {
        checkKeys(
          n,
          `${at}.${k}`,
          k === "changes" ? ["paths", "compare_to"] : ["paths", "project", "ref"],
        );
        const paths = n.entries.get("paths")?.value;
        if (!paths) fail(n, `${at}.${k}`, "paths: is required");
        for (const [name, entry] of n.entries) {
          const why = IGNORED_RULE_KEYS.get(`${k}.${name}`);
          if (why) {
            options.warnings?.push({
              location: entry.keyLoc,
              key: `${at}.${k}.${name}`,
              message: why,
            });
          }
        }
        return readStringList(paths, `${at}.${k}.paths`);
      }
      return readPathList(n, `${at}.${k}`);
    };
    const allowFailure = get("allow_failure");
    const ifNode = get("if");
    const ifText = ifNode ? readString(ifNode, `${at}.if`) : null;
    // GitLab validates every rules:if when the file is read, not only those it evaluates.
    if (ifNode && ifText !== null) checkRuleExpression(ifNode, `${at}.if`, ifText);
    return {
      loc: item.loc,
      if: ifText,
      changes: pathsOf("changes"),
      exists: pathsOf("exists"),
      when: get("when") ? readWhen(get("when")!, `${at}.when`, allowedWhen) : null,
      startIn: readRuleStartIn(item, at, get("when"), get("start_in")),
      allowFailure: allowFailure ? readBool(allowFailure, `${at}.allow_failure`) : null,
      variables: get("variables") ? readVariables(get("variables")!, `${at}.variables`, false) : [],
      needs: get("needs") ? readNeeds(get("needs")!, `${at}.needs`) : null,
    };
  });
}

/**
 * `coverage:`, a `/regex/` as GitLab requires ("must be a regular expression
 * with re2 syntax"). One JavaScript cannot compile (RE2's `(?i)`, or a typo
 * GitLab would refuse too) is kept with a warning: no coverage is found.
 */
function readCoverage(node: CiNode, key: string, warnings: CiWarning[]): string {
  const text = readString(node, key);
  const m = /^\/(.*)\/([ismU]*)$/s.exec(text);
  if (!m) fail(node, key, `"${text}" is not a regular expression: write it as /pattern/`);
  try {
    new RegExp(m[1]!, m[2]!.replace(/U/g, ""));
  } catch (error) {
    warnings.push({
      location: node.loc,
      key,
      message: `${text} cannot be used locally, no coverage is shown: ${(error as Error).message}`,
    });
  }
  return text;
}

/** GitLab's longest `start_in` for a delayed job or rule. */
const MAX_START_IN_SECONDS = 7 * 86400;

/**
 * A job's `start_in`: required with `when: delayed`, a duration of at most a
 * week, and allowed nowhere else (a job with rules sets it in its rule), as
 * GitLab validates it.
 */
function readJobStartIn(
  entry: CiEntry,
  at: string,
  { when, startIn, isRuled }: { when: JobWhen; startIn: CiNode | undefined; isRuled: boolean },
): string {
  const key = `${at}.start_in`;
  if (startIn && (isRuled || when !== "delayed")) {
    fail(
      startIn,
      key,
      isRuled
        ? "not allowed with rules: set it in the rule with when: delayed"
        : "only allowed with when: delayed",
    );
  }
  if (when !== "delayed") return "";
  if (isRuled) {
    throw new CiConfigError(
      entry.keyLoc,
      `${at}.when`,
      "delayed is not allowed with rules: set it in the rule, with its start_in",
    );
  }
  if (!startIn) throw new CiConfigError(entry.keyLoc, key, "required with when: delayed");
  return readStartIn(startIn, key);
}

/** A rule's `start_in`: required with its `when: delayed`, refused without it. */
function readRuleStartIn(
  rule: CiNode,
  key: string,
  when: CiNode | undefined,
  startIn: CiNode | undefined,
): string {
  const isDelayed = when?.kind === "scalar" && when.value === "delayed";
  if (startIn && !isDelayed) fail(startIn, `${key}.start_in`, "only allowed with when: delayed");
  if (!isDelayed) return "";
  if (!startIn) fail(rule, `${key}.start_in`, "required with when: delayed");
  return readStartIn(startIn, `${key}.start_in`);
}

function readStartIn(node: CiNode, key: string): string {
  const text = readString(node, key);
  const seconds = parseCiDuration(text);
  if (seconds === null) {
    fail(node, key, `"${text}" is not a duration (like "30 minutes" or "1 day")`);
  }
  if (seconds > MAX_START_IN_SECONDS) fail(node, key, `"${text}" is more than 1 week`);
  return text;
}

function readOnlyExcept(node: CiNode, key: string, warnings: CiWarning[]): OnlyExceptConfig {
  if (node.kind !== "map") {
    return { loc: node.loc, refs: readPathList(node, key), variables: [], changes: [] };
  }
  checkKeys(node, key, ["refs", "variables", "changes", "kubernetes"]);
  const get = (k: string) => node.entries.get(k)?.value;
  const changes = get("changes");
  const kubernetes = node.entries.get("kubernetes");
  if (kubernetes) {
    warnings.push({
      location: kubernetes.keyLoc,
      key: `${key}.kubernetes`,
      message:
        "whether the project has an active Kubernetes integration is not known locally; ignored",
    });
  }
  const compareTo = changes?.kind === "map" ? changes.entries.get("compare_to") : undefined;
  if (compareTo) {
    warnings.push({
      location: compareTo.keyLoc,
      key: `${key}.changes.compare_to`,
      message: IGNORED_RULE_KEYS.get("changes.compare_to")!,
    });
  }
  return {
    loc: node.loc,
    refs: get("refs") ? readPathList(get("refs")!, `${key}.refs`) : [],
    variables: get("variables") ? readPathList(get("variables")!, `${key}.variables`) : [],
    changes: changes
      ? changes.kind === "map"
        ? readStringList(
          readMap(changes, `${key}.changes`).entries.get("paths")?.value ?? changes,
          `${key}.changes.paths`,
        )
        : readPathList(changes, `${key}.changes`)
      : [],
  };
}

function readAllowFailure(node: CiNode | undefined, key: string): AllowFailureConfig | null {
  if (!node) return null;
  if (node.kind === "scalar" && typeof node.value === "boolean") {
    return { isAllowed: node.value, exitCodes: [] };
  }
  if (node.kind === "map") {
    checkKeys(node, key, ["exit_codes"]);
    const codes = node.entries.get("exit_codes")?.value;
    if (!codes) fail(node, key, "exit_codes: is required");
    return {
      isAllowed: true,
      exitCodes: readItems(codes, `${key}.exit_codes`).map((n) =>
        readInt(n, `${key}.exit_codes`, 0, 255)
      ),
    };
  }
  return fail(
    node,
    key,
    `expected true, false or a hash with exit_codes:, got ${describeNode(node)}`,
  );
}

function readRetry(node: CiNode | undefined, key: string): RetryConfig {
  const retry: RetryConfig = { max: 0, when: ["always"], exitCodes: [] };
  if (!node) return retry;
  if (node.kind === "scalar") return { ...retry, max: readInt(node, key, 0, 2) };
  const map = readMap(node, key);
  checkKeys(map, key, ["max", "when", "exit_codes"]);
  const max = map.entries.get("max")?.value;
  const when = map.entries.get("when")?.value;
  const codes = map.entries.get("exit_codes")?.value;
  if (max) retry.max = readInt(max, `${key}.max`, 0, 2);
  if (when) {
    retry.when = readStringList(when, `${key}.when`);
    const bad = retry.when.find((w) => !RETRY_WHEN.includes(w));
    if (bad) fail(when, `${key}.when`, `unknown failure type "${bad}"`);
  }
  if (codes) {
    retry.exitCodes = readItems(codes, `${key}.exit_codes`).map((n) =>
      readInt(n, `${key}.exit_codes`, 0, 255)
    );
  }
  return retry;
}

/** GitLab's limit on the jobs one `parallel:` makes (a count, or a matrix's rows together). */
const MAX_PARALLEL = 200;

function readParallel(node: CiNode | undefined, key: string): ParallelConfig | null {
  if (!node) return null;
  if (node.kind === "scalar") return { kind: "count", count: readInt(node, key, 1, MAX_PARALLEL) };
  const map = readMap(node, key);
  checkKeys(map, key, ["matrix"]);
  const matrixNode = map.entries.get("matrix")?.value;
  if (!matrixNode) fail(node, key, "expected an integer or a hash with matrix:");
  const matrix = readMatrix(matrixNode, `${key}.matrix`);
  // GitLab counts the jobs every row generates against the limit of `parallel: N`.
  const count = matrix.reduce(
    (n, row) => n + row.reduce((p, [, values]) => p * values.length, 1),
    0,
  );
  if (count > MAX_PARALLEL) {
    fail(matrixNode, `${key}.matrix`, `generates ${count} jobs, more than ${MAX_PARALLEL}`);
  }
  return { kind: "matrix", matrix };
}

function readMatrix(node: CiNode, key: string): Array<Array<[string, string[]]>> {
  return readItems(node, key, false).map((item, i) => {
    const map = readMap(item, `${key}[${i}]`);
    return [...map.entries].map(([name, e]): [string, string[]] => {
      const at = `${key}[${i}].${name}`;
      const values = readItems(e.value, at).map((n) => readText(n, at));
      if (values.length === 0) fail(e.value, at, "expected at least one value");
      return [name, values];
    });
  });
}

function readNeeds(node: CiNode, key: string): NeedConfig[] {
  return readItems(node, key, false).map((item, i) => {
    const at = `${key}[${i}]`;
    if (item.kind === "scalar" && typeof item.value === "string") {
      return { job: item.value, artifacts: true, optional: false, matrix: null, external: "" };
    }
    const map = readMap(item, at);
    checkKeys(map, at, ["job", "artifacts", "optional", "parallel", "pipeline", "project", "ref"]);
    const get = (k: string) => map.entries.get(k)?.value;
    const project = get("project");
    const pipeline = get("pipeline");
    const external = project
      ? `needs:project "${readText(project, `${at}.project`)}"`
      : pipeline
      ? `needs:pipeline "${readText(pipeline, `${at}.pipeline`)}"`
      : "";
    const job = get("job");
    if (!job) fail(item, at, "job: is required");
    const parallel = get("parallel");
    let matrix: Record<string, string[]>[] | null = null;
    if (parallel) {
      const m = readMap(parallel, `${at}.parallel`).entries.get("matrix")?.value;
      if (!m) fail(parallel, `${at}.parallel`, "matrix: is required");
      matrix = readItems(m, `${at}.parallel.matrix`, false).map((row, j) => {
        const out: Record<string, string[]> = {};
        for (const [k, e] of readMap(row, `${at}.parallel.matrix[${j}]`).entries) {
          const valueKey = `${at}.parallel.matrix[${j}].${k}`;
          out[k] = readItems(e.value, valueKey).map((n) => readText(n, valueKey));
        }
        return out;
      });
    }
    return {
      job: readString(job, `${at}.job`),
      artifacts: get("artifacts") ? readBool(get("artifacts")!, `${at}.artifacts`) : true,
      optional: get("optional") ? readBool(get("optional")!, `${at}.optional`) : false,
      matrix,
      external,
    };
  });
}

function readArtifacts(node: CiNode, key: string, warnings: CiWarning[]): ArtifactsConfig {
  const map = readMap(node, key);
  checkKeys(map, key, [
    "paths",
    "exclude",
    "untracked",
    "when",
    "expire_in",
    "expose_as",
    "name",
    "public",
    "access",
    "reports",
  ]);
  const get = (k: string) => map.entries.get(k)?.value;
  const reports: ArtifactsConfig["reports"] = [];
  const reportsNode = get("reports");
  if (reportsNode) {
    for (const [type, e] of readMap(reportsNode, `${key}.reports`).entries) {
      const at = `${key}.reports.${type}`;
      if (type === "coverage_report") {
        const m = readMap(e.value, at);
        const path = m.entries.get("path")?.value;
        const format = m.entries.get("coverage_format")?.value;
        if (!path || !format) fail(e.value, at, "coverage_format: and path: are required");
        // GitLab stores a coverage report under its format's type (cobertura, jacoco).
        reports.push({
          type: readString(format, `${at}.coverage_format`),
          paths: [readString(path, `${at}.path`)],
        });
        continue;
      }
      if (!REPORT_TYPES.includes(type)) {
        warnings.push({
          location: e.keyLoc,
          key: at,
          message: `unknown report type "${type}", ignored`,
        });
        continue;
      }
      reports.push({ type, paths: readStringList(e.value, at) });
    }
  }
  const expire = get("expire_in");
  return {
    name: get("name") ? readString(get("name")!, `${key}.name`) : "",
    paths: get("paths") ? readPathList(get("paths")!, `${key}.paths`) : [],
    exclude: get("exclude") ? readPathList(get("exclude")!, `${key}.exclude`) : [],
    untracked: get("untracked") ? readBool(get("untracked")!, `${key}.untracked`) : false,
    when: get("when") ? readWhen(get("when")!, `${key}.when`, STEP_WHEN) : "on_success",
    expireIn: expire ? readExpireIn(expire, `${key}.expire_in`) : "",
    reports,
  };
}

/** `artifacts:expire_in`: a duration or `never`, as GitLab validates it. */
function readExpireIn(node: CiNode, key: string): string {
  const text = readString(node, key);
  if (text.trim().toLowerCase() !== "never" && parseCiDuration(text) === null) {
    fail(node, key, `"${text}" is not a duration (like "1 week" or "30 days") or never`);
  }
  return text;
}

/** Report types GitLab accepts under `artifacts:reports` (besides coverage_report). */
const REPORT_TYPES = [
  "accessibility",
  "annotations",
  "api_fuzzing",
  "browser_performance",
  "cobertura",
  "codequality",
  "container_scanning",
  "coverage_fuzzing",
  "cyclonedx",
  "dast",
  "dependency_scanning",
  "dotenv",
  "junit",
  "license_scanning",
  "load_performance",
  "metrics",
  "requirements",
  "repository_xray",
  "sast",
  "secret_detection",
  "terraform",
];

function readCaches(node: CiNode, key: string): CacheConfig[] {
  const items = node.kind === "seq" ? readItems(node, key) : [node];
  if (items.length > 4) fail(node, key, "at most 4 caches per job");
  return items.map((item, i) => readCache(item, node.kind === "seq" ? `${key}[${i}]` : key));
}

function readCache(node: CiNode, key: string): CacheConfig {
  const map = readMap(node, key);
  checkKeys(map, key, [
    "key",
    "paths",
    "untracked",
    "policy",
    "when",
    "fallback_keys",
    "unprotect",
  ]);
  const get = (k: string) => map.entries.get(k)?.value;
  let cacheKey: CacheConfig["key"] = { kind: "text", value: "default" };
  const keyNode = get("key");
  if (keyNode?.kind === "map") {
    checkKeys(keyNode, `${key}.key`, ["files", "prefix"]);
    const files = keyNode.entries.get("files")?.value;
    const prefix = keyNode.entries.get("prefix")?.value;
    if (!files) fail(keyNode, `${key}.key`, "files: is required");
    const list = readPathList(files, `${key}.key.files`);
    if (list.length < 1 || list.length > 2) {
      fail(files, `${key}.key.files`, "expected one or two files");
    }
    cacheKey = {
      kind: "files",
      files: list,
      prefix: prefix ? readText(prefix, `${key}.key.prefix`) : "",
    };
  } else if (keyNode) {
    const text = readText(keyNode, `${key}.key`);
    if (text.includes("/") || text === "." || text === "..") {
      fail(keyNode, `${key}.key`, `"${text}" cannot contain "/" or be "." or ".."`);
    }
    cacheKey = { kind: "text", value: text };
  }
  const policy = get("policy");
  const policyValue = policy ? readString(policy, `${key}.policy`) : "pull-push";
  if (!["pull", "push", "pull-push"].includes(policyValue) && !policyValue.includes("$")) {
    fail(
      policy!,
      `${key}.policy`,
      `unknown policy "${policyValue}"; expected pull, push or pull-push`,
    );
  }
  return {
    key: cacheKey,
    paths: get("paths") ? readPathList(get("paths")!, `${key}.paths`) : [],
    untracked: get("untracked") ? readBool(get("untracked")!, `${key}.untracked`) : false,
    policy: policyValue as CacheConfig["policy"],
    when: get("when") ? readWhen(get("when")!, `${key}.when`, STEP_WHEN) : "on_success",
    fallbackKeys: get("fallback_keys")
      ? readPathList(get("fallback_keys")!, `${key}.fallback_keys`)
      : [],
  };
}

/** What GitLab allows in a job's `environment:` hash, and its actions. */
const ENVIRONMENT_KEYS = [
  "name",
  "url",
  "action",
  "on_stop",
  "auto_stop_in",
  "kubernetes",
  "deployment_tier",
];
const ENVIRONMENT_ACTIONS = ["start", "stop", "prepare", "verify", "access"];

function readEnvironment(node: CiNode, key: string): EnvironmentConfig {
  if (node.kind === "scalar") {
    return { name: readString(node, key), url: "", action: "start", tier: "" };
  }
  const map = readMap(node, key);
  checkKeys(map, key, ENVIRONMENT_KEYS);
  const get = (k: string) => map.entries.get(k)?.value;
  const name = get("name");
  if (!name) fail(node, key, "name: is required");
  return {
    name: readString(name, `${key}.name`),
    url: get("url") ? readString(get("url")!, `${key}.url`) : "",
    action: get("action")
      ? readWhen(get("action")!, `${key}.action`, ENVIRONMENT_ACTIONS)
      : "start",
    tier: get("deployment_tier") ? readDeploymentTier(get("deployment_tier")!, key) : "",
  };
}

function readDeploymentTier(node: CiNode, key: string): string {
  return readWhen(node, `${key}.deployment_tier`, [
    "production",
    "staging",
    "testing",
    "development",
    "other",
  ]);
}
