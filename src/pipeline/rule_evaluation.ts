import { CiConfigError } from "./ci_config_error.ts";
import type { CiVariable, JobWhen, NeedConfig, OnlyExceptConfig, RuleConfig } from "./pipeline.ts";
import {
  parseRuleExpression,
  RuleExpressionError,
  type VariableLookup,
} from "./rule_expression.ts";
import { expandVariables } from "./variable_expansion.ts";

/** What rules, only and except look at. */
export interface RuleContext {
  lookup: VariableLookup;
  /**
   * Files changed locally (uncommitted and staged changes vs HEAD), relative
   * paths; null where no rule has `changes` (`hasChangesRules`).
   */
  changedFiles: readonly string[] | null;
  /** Every file of the project, relative paths. */
  projectFiles: readonly string[];
  /**
   * Glob matching for `changes` and `exists`: `loadGlobMatch()`, or
   * `NO_GLOB_MATCH` where no rule has them (`hasFileRules`).
   */
  matchGlobs: GlobMatch;
}

/** Compiles globs into a test of relative file paths. */
export type GlobMatch = (patterns: string[]) => (file: string) => boolean;

/**
 * GitLab's fnmatch with dotfiles and `**`, by picomatch: CommonJS, loaded on
 * the first call (with Deno's Node compatibility it costs tens of ms at
 * start-up, which pipelines without `changes` or `exists` do not pay).
 */
export async function loadGlobMatch(): Promise<GlobMatch> {
  const { default: picomatch } = await import("picomatch");
  return (patterns) => picomatch(patterns, { dot: true });
}

/** The glob matching of a context whose rules have no `changes` or `exists` (a bug if called). */
export const NO_GLOB_MATCH: GlobMatch = () => {
  throw new TypeError("A changes or exists rule met a rule context made without glob matching");
};

/** Whether any of these rules or only/except conditions looks at changed files (`changes`). */
export function hasChangesRules(
  rules: readonly RuleConfig[] | null,
  onlyExcept: readonly (OnlyExceptConfig | null)[] = [],
): boolean {
  return (rules ?? []).some((r) => r.changes !== null) ||
    onlyExcept.some((c) => c !== null && c.changes.length > 0);
}

/** The changed files of a context that must have them (a bug if it has not). */
function changedFilesOf(ctx: RuleContext): readonly string[] {
  if (ctx.changedFiles === null) {
    throw new TypeError("A changes rule met a rule context made without the changed files");
  }
  return ctx.changedFiles;
}

/** Whether any of these rules or only/except conditions looks at files (`changes`, `exists`). */
export function hasFileRules(
  rules: readonly RuleConfig[] | null,
  onlyExcept: readonly (OnlyExceptConfig | null)[] = [],
): boolean {
  return (rules ?? []).some((r) => r.changes !== null || r.exists !== null) ||
    onlyExcept.some((c) => c !== null && c.changes.length > 0);
}

/** The first rule that matched, or null when none did (the job is not added). */
export interface RuleOutcome {
  index: number;
  when: JobWhen | null;
  startIn: string;
  allowFailure: boolean | null;
  variables: CiVariable[];
  needs: NeedConfig[] | null;
}

/**
 * GitLab's rules: the first rule whose `if`, `changes` and `exists` all hold
 * decides. `key` (like `jobs.test.rules`) names the rules in errors.
 */
export function evaluateRules(
  rules: RuleConfig[],
  ctx: RuleContext,
  key: string,
): RuleOutcome | null {
  for (const [index, rule] of rules.entries()) {
    if (rule.if !== null && !evaluateIf(rule.if, ctx.lookup, rule, `${key}[${index}].if`)) continue;
    if (rule.changes !== null && !matchesAny(rule.changes, changedFilesOf(ctx), ctx)) continue;
    if (rule.exists !== null && !matchesAny(rule.exists, ctx.projectFiles, ctx)) continue;
    return {
      index,
      when: rule.when,
      startIn: rule.startIn,
      allowFailure: rule.allowFailure,
      variables: rule.variables,
      needs: rule.needs,
    };
  }
  return null;
}

function evaluateIf(text: string, lookup: VariableLookup, rule: RuleConfig, key: string): boolean {
  try {
    return parseRuleExpression(text).evaluate(lookup);
  } catch (error) {
    if (error instanceof RuleExpressionError) {
      throw new CiConfigError(rule.loc, key, `invalid expression "${text}": ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** Whether any of `files` matches one of the globs (GitLab's fnmatch with dotfiles and `**`). */
export function matchesAny(
  globs: readonly string[],
  files: readonly string[],
  { lookup, matchGlobs }: Pick<RuleContext, "lookup" | "matchGlobs">,
): boolean {
  // A pattern that is empty, or expands to nothing (an unset variable), matches no file.
  const patterns = globs.map((g) => expandVariables(g, lookup).replace(/^\.?\//, ""))
    .filter((p) => p !== "");
  if (patterns.length === 0) return false;
  const isMatch = matchGlobs(patterns);
  return files.some((f) => isMatch(f));
}

export interface RefContext {
  ref: string;
  refType: "branch" | "tag";
  pipelineSource: string;
}

/**
 * Basic `only`/`except`: refs (branch and tag names, `/regex/`, and the
 * keywords `branches`, `tags`, `pushes`, `web`, …), `variables` expressions
 * and `changes`. Without either, a job runs for branches and tags.
 */
export function evaluateOnlyExcept(
  only: OnlyExceptConfig | null,
  except: OnlyExceptConfig | null,
  ref: RefContext,
  ctx: RuleContext,
  key: string,
): boolean {
  const isOnly = only
    ? matchesCondition(only, ref, ctx, `${key}.only`, true)
    : ref.refType === "branch" || ref.refType === "tag";
  if (!isOnly) return false;
  return except ? !matchesCondition(except, ref, ctx, `${key}.except`, false) : true;
}

function matchesCondition(
  cond: OnlyExceptConfig,
  ref: RefContext,
  ctx: RuleContext,
  key: string,
  isOnly: boolean,
): boolean {
  const refs = cond.refs.length > 0 ? cond.refs : isOnly ? ["branches", "tags"] : [];
  if (refs.length > 0 && !refs.some((r) => matchesRef(r, ref))) return false;
  if (cond.variables.length > 0) {
    const fake: RuleConfig = {
      loc: cond.loc,
      if: null,
      changes: null,
      exists: null,
      when: null,
      startIn: "",
      allowFailure: null,
      variables: [],
      needs: null,
    };
    const ok = cond.variables.some((v, i) =>
      evaluateIf(v, ctx.lookup, fake, `${key}.variables[${i}]`)
    );
    if (!ok) return false;
  }
  if (cond.changes.length > 0 && !matchesAny(cond.changes, changedFilesOf(ctx), ctx)) {
    return false;
  }
  return cond.refs.length > 0 || cond.variables.length > 0 || cond.changes.length > 0 || isOnly;
}

const SOURCE_KEYWORDS: Record<string, string> = {
  pushes: "push",
  web: "web",
  api: "api",
  schedules: "schedule",
  triggers: "trigger",
  pipelines: "pipeline",
  chat: "chat",
  external: "external",
  "external_pull_requests": "external_pull_request_event",
  "merge_requests": "merge_request_event",
};

function matchesRef(pattern: string, ref: RefContext): boolean {
  const name = pattern.replace(/@.*$/, "");
  if (name === "branches") return ref.refType === "branch";
  if (name === "tags") return ref.refType === "tag";
  const source = SOURCE_KEYWORDS[name];
  if (source) return ref.pipelineSource === source;
  const re = /^\/(.*)\/([a-z]*)$/s.exec(name);
  if (re) {
    try {
      return new RegExp(re[1]!, re[2]!.replace(/[^ims]/g, "")).test(ref.ref);
    } catch {
      return false;
    }
  }
  return name === ref.ref;
}
