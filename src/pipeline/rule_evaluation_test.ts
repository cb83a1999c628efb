import assert from "node:assert/strict";
import { CiConfigError } from "./ci_config_error.ts";
import type { OnlyExceptConfig, RuleConfig } from "./pipeline.ts";
import {
  evaluateOnlyExcept,
  evaluateRules,
  hasFileRules,
  loadGlobMatch,
  NO_GLOB_MATCH,
  type RuleContext,
} from "./rule_evaluation.ts";

const loc = { file: ".gitlab-ci.yml", line: 7 };
function rule(fields: Partial<RuleConfig>): RuleConfig {
  return {
    loc,
    if: null,
    changes: null,
    exists: null,
    when: null,
    startIn: "",
    allowFailure: null,
    variables: [],
    needs: null,
    ...fields,
  };
}
const ctx: RuleContext = {
  lookup: (n) => ({ CI_COMMIT_BRANCH: "main", DIR: "src" } as Record<string, string>)[n],
  changedFiles: ["src/app.ts", ".github/x.yml"],
  projectFiles: ["Dockerfile", "src/app.ts", "docs/a/b.md", ".env.example"],
  matchGlobs: await loadGlobMatch(),
};

Deno.test("the first matching rule decides when, allow_failure and variables", () => {
  const outcome = evaluateRules(
    [
      rule({ if: '$CI_COMMIT_BRANCH == "dev"', when: "never" }),
      rule({
        if: '$CI_COMMIT_BRANCH == "main"',
        when: "manual",
        allowFailure: true,
        variables: [{ key: "X", value: "1", isRaw: false, description: "" }],
      }),
      rule({ when: "always" }),
    ],
    ctx,
    "jobs.j.rules",
  );
  assert.equal(outcome?.index, 1);
  assert.equal(outcome?.when, "manual");
  assert.equal(outcome?.allowFailure, true);
  assert.deepEqual(outcome?.variables.map((v) => v.key), ["X"]);
});

Deno.test("no matching rule means the job is not added", () => {
  assert.equal(evaluateRules([rule({ if: "$NOPE" })], ctx, "jobs.j.rules"), null);
});

Deno.test("changes matches globs against the changed files, with variables", () => {
  assert.ok(evaluateRules([rule({ changes: ["$DIR/**/*.ts"] })], ctx, "r"));
  assert.ok(evaluateRules([rule({ changes: [".github/*"] })], ctx, "r"));
  assert.equal(evaluateRules([rule({ changes: ["docs/**/*"] })], ctx, "r"), null);
  assert.equal(
    evaluateRules([rule({ changes: ["*.ts"] })], ctx, "r"),
    null,
    "* stays in one directory",
  );
});

Deno.test("exists matches globs against the project files, dotfiles included", () => {
  assert.ok(evaluateRules([rule({ exists: ["Dockerfile"] })], ctx, "r"));
  assert.ok(evaluateRules([rule({ exists: ["docs/**/*.md"] })], ctx, "r"));
  assert.ok(evaluateRules([rule({ exists: [".env.*"] })], ctx, "r"));
  assert.equal(evaluateRules([rule({ exists: ["Makefile"] })], ctx, "r"), null);
});

Deno.test("if, changes and exists must all hold in one rule", () => {
  assert.equal(
    evaluateRules([rule({ if: "$CI_COMMIT_BRANCH", exists: ["Makefile"] })], ctx, "r"),
    null,
  );
});

Deno.test("an invalid if expression is an error naming the rule", () => {
  assert.throws(
    () =>
      evaluateRules([rule({ if: "$NOPE" }), rule({ if: "$A ===" })], {
        ...ctx,
        lookup: () => undefined,
      }, "jobs.j.rules"),
    (e: unknown) =>
      e instanceof CiConfigError &&
      e.message.startsWith('.gitlab-ci.yml:7: jobs.j.rules[1].if: invalid expression "$A ==="'),
  );
});

Deno.test("only/except match refs by name, regex and keyword", () => {
  const cond = (refs: string[]): OnlyExceptConfig => ({ loc, refs, variables: [], changes: [] });
  const branch = { ref: "main", refType: "branch" as const, pipelineSource: "push" };
  const tag = { ref: "v1.2", refType: "tag" as const, pipelineSource: "push" };
  assert.equal(evaluateOnlyExcept(null, null, branch, ctx, "j"), true);
  assert.equal(evaluateOnlyExcept(cond(["main"]), null, branch, ctx, "j"), true);
  assert.equal(evaluateOnlyExcept(cond(["tags"]), null, branch, ctx, "j"), false);
  assert.equal(evaluateOnlyExcept(cond(["/^v\\d/"]), null, tag, ctx, "j"), true);
  assert.equal(evaluateOnlyExcept(cond(["pushes"]), null, tag, ctx, "j"), true);
  assert.equal(evaluateOnlyExcept(cond(["schedules"]), null, tag, ctx, "j"), false);
  assert.equal(evaluateOnlyExcept(null, cond(["main"]), branch, ctx, "j"), false);
  assert.equal(evaluateOnlyExcept(null, cond(["tags"]), branch, ctx, "j"), true);
  assert.equal(
    evaluateOnlyExcept(
      { loc, refs: [], variables: ["$NOPE"], changes: [] },
      null,
      branch,
      ctx,
      "j",
    ),
    false,
  );
});

Deno.test("hasFileRules tells rules and only/except that need glob matching from those that do not", () => {
  assert.equal(hasFileRules(null), false);
  assert.equal(hasFileRules([rule({ if: "$A" })]), false);
  assert.equal(hasFileRules([rule({ if: "$A" }), rule({ changes: [] })]), true);
  assert.equal(hasFileRules([rule({ exists: ["x"] })]), true);
  const cond = (changes: string[]): OnlyExceptConfig => ({ loc, refs: [], variables: [], changes });
  assert.equal(hasFileRules(null, [null, cond([])]), false);
  assert.equal(hasFileRules(null, [null, cond(["src/*"])]), true);
  // A context without glob matching answers rules without changes or exists, and refuses the others.
  const bare = { ...ctx, matchGlobs: NO_GLOB_MATCH };
  assert.ok(evaluateRules([rule({ if: "$DIR" })], bare, "r"));
  assert.throws(() => evaluateRules([rule({ exists: ["Dockerfile"] })], bare, "r"), TypeError);
});
