/**
 * GitLab's `rules:if` language: `$VAR`, quoted strings, `null`, `/regex/flags`,
 * `==`, `!=`, `=~`, `!~`, `&&` (binds tighter), `||` and parentheses.
 * Evaluation is pure: variables come in as a lookup.
 */

/** The expression cannot be parsed; the message says where. */
export class RuleExpressionError extends Error {
  override readonly name = "RuleExpressionError";
}

/** Value of a variable, or undefined when it is not defined. */
export type VariableLookup = (name: string) => string | undefined;

type Token =
  | { t: "var"; name: string }
  | { t: "str"; value: string }
  | { t: "null" }
  | { t: "re"; source: string; flags: string }
  | { t: "op"; op: "==" | "!=" | "=~" | "!~" | "&&" | "||" | "(" | ")" };

type Expr =
  | { kind: "operand"; token: Token }
  | { kind: "compare"; op: "==" | "!=" | "=~" | "!~"; left: Token; right: Token }
  | { kind: "and" | "or"; left: Expr; right: Expr };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    const op = /^(==|!=|=~|!~|&&|\|\||\(|\))/.exec(rest);
    if (op) {
      tokens.push({ t: "op", op: op[1] as "==" });
      i += op[0].length;
      continue;
    }
    const variable = /^\$(?:\{(\w+)\}|(\w+))/.exec(rest);
    if (variable) {
      tokens.push({ t: "var", name: (variable[1] ?? variable[2])! });
      i += variable[0].length;
      continue;
    }
    const str = /^"((?:[^"\\]|\\.)*)"|^'((?:[^'\\]|\\.)*)'/.exec(rest);
    if (str) {
      tokens.push({ t: "str", value: (str[1] ?? str[2])!.replace(/\\(.)/g, "$1") });
      i += str[0].length;
      continue;
    }
    const re = /^\/((?:[^/\\]|\\.)*)\/([a-z]*)/.exec(rest);
    if (re) {
      tokens.push({ t: "re", source: re[1]!, flags: re[2]! });
      i += re[0].length;
      continue;
    }
    if (/^null\b/.test(rest)) {
      tokens.push({ t: "null" });
      i += 4;
      continue;
    }
    throw new RuleExpressionError(`unexpected "${rest.slice(0, 12)}" at position ${i + 1}`);
  }
  return tokens;
}

/** Parses `text`; throws `RuleExpressionError` saying what is wrong. */
export function parseRuleExpression(text: string): RuleExpression {
  const tokens = tokenize(text);
  let pos = 0;
  const peekOp = () => {
    const tok = tokens[pos];
    return tok?.t === "op" ? tok.op : null;
  };
  const operand = (): Token => {
    const tok = tokens[pos++];
    if (!tok || tok.t === "op") {
      throw new RuleExpressionError(tok ? `unexpected "${tok.op}"` : "expression ends too early");
    }
    return tok;
  };
  const primary = (): Expr => {
    if (peekOp() === "(") {
      pos++;
      const inner = or();
      if (peekOp() !== ")") throw new RuleExpressionError('missing ")"');
      pos++;
      return inner;
    }
    const left = operand();
    const op = peekOp();
    if (op === "==" || op === "!=" || op === "=~" || op === "!~") {
      pos++;
      const right = operand();
      if ((op === "=~" || op === "!~") && right.t !== "re" && right.t !== "var") {
        throw new RuleExpressionError(`"${op}" needs a /regex/ or a variable on its right`);
      }
      return { kind: "compare", op, left, right };
    }
    return { kind: "operand", token: left };
  };
  const and = (): Expr => {
    let left = primary();
    while (peekOp() === "&&") {
      pos++;
      left = { kind: "and", left, right: primary() };
    }
    return left;
  };
  const or = (): Expr => {
    let left = and();
    while (peekOp() === "||") {
      pos++;
      left = { kind: "or", left, right: and() };
    }
    return left;
  };
  if (tokens.length === 0) throw new RuleExpressionError("the expression is empty");
  const expr = or();
  const extra = tokens[pos];
  if (extra) {
    throw new RuleExpressionError(
      `unexpected ${extra.t === "op" ? `"${extra.op}"` : "value"} after the expression`,
    );
  }
  return new RuleExpression(expr);
}

export class RuleExpression {
  readonly #expr: Expr;
  constructor(expr: Expr) {
    this.#expr = expr;
  }

  /** Whether the expression holds for these variables. */
  evaluate(lookup: VariableLookup): boolean {
    return truthy(evalExpr(this.#expr, lookup));
  }
}

type Value = string | null | RegExp | boolean;

function truthy(v: Value): boolean {
  if (v === null || v === false) return false;
  if (typeof v === "string") return v !== "";
  return true;
}

function valueOf(token: Token, lookup: VariableLookup): Value {
  switch (token.t) {
    case "var":
      return lookup(token.name) ?? null;
    case "str":
      return token.value;
    case "null":
      return null;
    case "re":
      return toRegExp(token.source, token.flags);
    case "op":
      return null;
  }
}

function toRegExp(source: string, flags: string): RegExp {
  try {
    // RE2 flags GitLab accepts map onto JavaScript's; `u` keeps \p{..} working.
    return new RegExp(source, [...new Set(flags.replace(/[^ims]/g, "") + "u")].join(""));
  } catch (error) {
    throw new RuleExpressionError(
      `invalid regular expression /${source}/: ${(error as Error).message}`,
    );
  }
}

function evalExpr(expr: Expr, lookup: VariableLookup): Value {
  switch (expr.kind) {
    case "operand":
      return valueOf(expr.token, lookup);
    case "and":
      return truthy(evalExpr(expr.left, lookup)) && truthy(evalExpr(expr.right, lookup));
    case "or":
      return truthy(evalExpr(expr.left, lookup)) || truthy(evalExpr(expr.right, lookup));
    case "compare": {
      const left = valueOf(expr.left, lookup);
      let right = valueOf(expr.right, lookup);
      if (expr.op === "==" || expr.op === "!=") {
        const same = left instanceof RegExp || right instanceof RegExp
          ? String(left) === String(right)
          : left === right;
        return expr.op === "==" ? same : !same;
      }
      // A variable on the right of =~ holds a pattern written as "/…/flags".
      if (typeof right === "string") {
        const m = /^\/(.*)\/([a-z]*)$/s.exec(right);
        if (!m) throw new RuleExpressionError(`variable value "${right}" is not a /regex/`);
        right = toRegExp(m[1]!, m[2]!);
      }
      if (!(right instanceof RegExp)) return expr.op === "!~";
      const isMatch = typeof left === "string" && right.test(left);
      return expr.op === "=~" ? isMatch : !isMatch;
    }
  }
}
