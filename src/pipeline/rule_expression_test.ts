import assert from "node:assert/strict";
import { parseRuleExpression, RuleExpressionError } from "./rule_expression.ts";

const vars: Record<string, string> = {
  CI_COMMIT_BRANCH: "main",
  CI_DEFAULT_BRANCH: "main",
  CI_COMMIT_TAG: "",
  CI_COMMIT_MESSAGE: "Fix: [skip e2e] tidy",
  PATTERN: "/^ma/",
  OTHER: "feature/x",
};
const ev = (text: string) => parseRuleExpression(text).evaluate((n) => vars[n]);

Deno.test("rules:if compares variables, strings, null and other variables", () => {
  assert.equal(ev('$CI_COMMIT_BRANCH == "main"'), true);
  assert.equal(ev("$CI_COMMIT_BRANCH == 'dev'"), false);
  assert.equal(ev('$CI_COMMIT_BRANCH != "dev"'), true);
  assert.equal(ev("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"), true);
  assert.equal(ev("$OTHER == $CI_DEFAULT_BRANCH"), false);
  assert.equal(ev("$UNDEFINED == null"), true);
  assert.equal(ev("$CI_COMMIT_TAG == null"), false);
  assert.equal(ev('$CI_COMMIT_TAG == ""'), true);
  assert.equal(ev('"main" == $CI_COMMIT_BRANCH'), true);
});

Deno.test("rules:if treats a lone variable as true when it is set and not empty", () => {
  assert.equal(ev("$CI_COMMIT_BRANCH"), true);
  assert.equal(ev("$CI_COMMIT_TAG"), false);
  assert.equal(ev("$UNDEFINED"), false);
  assert.equal(ev("${CI_COMMIT_BRANCH}"), true);
});

Deno.test("rules:if matches regexes with flags and patterns held in variables", () => {
  assert.equal(ev("$CI_COMMIT_MESSAGE =~ /\\[skip e2e\\]/"), true);
  assert.equal(ev("$CI_COMMIT_MESSAGE !~ /\\[skip e2e\\]/"), false);
  assert.equal(ev("$CI_COMMIT_BRANCH =~ /^MAIN$/i"), true);
  assert.equal(ev("$CI_COMMIT_BRANCH =~ /^MAIN$/"), false);
  assert.equal(ev("$OTHER =~ /^feature\\//"), true);
  assert.equal(ev("$CI_COMMIT_BRANCH =~ $PATTERN"), true);
  assert.equal(ev("$UNDEFINED =~ /x/"), false);
  assert.equal(ev("$UNDEFINED !~ /x/"), true);
});

Deno.test("rules:if gives && precedence over || and honours parentheses", () => {
  assert.equal(ev('$CI_COMMIT_TAG || $CI_COMMIT_BRANCH == "main" && $OTHER'), true);
  assert.equal(ev('($CI_COMMIT_TAG || $CI_COMMIT_BRANCH == "main") && $UNDEFINED'), false);
  assert.equal(ev('$CI_COMMIT_BRANCH == "dev" || $CI_COMMIT_BRANCH == "main"'), true);
  assert.equal(ev("$UNDEFINED && $CI_COMMIT_BRANCH || $CI_COMMIT_TAG"), false);
});

Deno.test("rules:if rejects malformed expressions with a reason", () => {
  for (const bad of ["$A ==", "($A", "$A = 1", '$A =~ "x"', "", "$A $B", "/[/ =~ $A"]) {
    assert.throws(() => ev(bad), RuleExpressionError, bad);
  }
});
