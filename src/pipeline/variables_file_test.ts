import assert from "node:assert/strict";
import { CiConfigError } from "./ci_config_error.ts";
import { parseVariableArgument } from "./exec_variable.ts";
import { parseVariablesFile } from "./variables_file.ts";

Deno.test("a dotenv variables file gives KEY=VALUE pairs with quotes and comments", async () => {
  const vars = await parseVariablesFile(
    "# settings\nexport A=1\nB = two words # note\nC=\"line1\\nline2\"\nD='$LITERAL'\nE=\nF=x=y\n",
    "ci.env",
  );
  assert.deepEqual(vars.map((v) => [v.key, v.value]), [
    ["A", "1"],
    ["B", "two words"],
    ["C", "line1\nline2"],
    ["D", "$LITERAL"],
    ["E", ""],
    ["F", "x=y"],
  ]);
});

Deno.test("a bad dotenv line is an error naming file and line", async () => {
  await assert.rejects(
    () => parseVariablesFile("A=1\nnot a pair\n", "ci.env"),
    (e: unknown) =>
      e instanceof CiConfigError && e.message === 'ci.env:2: expected KEY=VALUE, got "not a pair"',
  );
});

Deno.test("a YAML or JSON variables file may mark values masked, file or raw", async () => {
  const yaml = await parseVariablesFile(
    "TOKEN: { value: s3cr3t, masked: true }\nPORT: 8080\nKEY: { value: abc, file: true, raw: true }\n",
    "vars.yml",
  );
  assert.deepEqual(yaml, [
    { key: "TOKEN", value: "s3cr3t", isMasked: true, isFile: false, isRaw: false },
    { key: "PORT", value: "8080", isMasked: false, isFile: false, isRaw: false },
    { key: "KEY", value: "abc", isMasked: false, isFile: true, isRaw: true },
  ]);
  const json = await parseVariablesFile(
    '{"A": "1", "B": {"value": "2", "masked": true}}',
    "vars.json",
  );
  assert.deepEqual(json.map((v) => [v.key, v.value, v.isMasked]), [["A", "1", false], [
    "B",
    "2",
    true,
  ]]);
  await assert.rejects(
    () => parseVariablesFile("A: { value: 1, secret: true }", "v.yml"),
    /v\.yml:1: A\.secret: unknown key/,
  );
  await assert.rejects(() => parseVariablesFile("- A\n", "v.yml"), /expected a map/);
});

Deno.test("a YAML or JSON variables file keeps unquoted values as written", async () => {
  const yaml = await parseVariablesFile(
    "PRICE: 3.10\nID: 12345678901234567890\nDEBUG: yes\nOCTAL: 010\nEMPTY:\n" +
      "T: { value: 1.50, masked: true }\n",
    "vars.yml",
  );
  assert.deepEqual(yaml.map((v) => [v.key, v.value, v.isMasked]), [
    ["PRICE", "3.10", false],
    ["ID", "12345678901234567890", false],
    ["DEBUG", "yes", false],
    ["OCTAL", "010", false],
    ["EMPTY", "", false],
    ["T", "1.50", true],
  ]);
  const json = await parseVariablesFile('{"P": 3.10, "F": {"value": 2.50, "raw": true}}', "v.json");
  assert.deepEqual(json.map((v) => [v.key, v.value, v.isRaw]), [["P", "3.10", false], [
    "F",
    "2.50",
    true,
  ]]);
});

Deno.test("--variable takes KEY=VALUE and rejects anything else", () => {
  assert.deepEqual(parseVariableArgument("A=b=c", { isMasked: true }), {
    key: "A",
    value: "b=c",
    isMasked: true,
    isFile: false,
    isRaw: false,
    isPipelineVariable: true,
  });
  assert.throws(() => parseVariableArgument("NOVALUE"), /expected KEY=VALUE/);
  assert.throws(() => parseVariableArgument("1A=x"), /expected KEY=VALUE/);
});

Deno.test("a YAML variables file's errors name the line", async () => {
  await assert.rejects(
    () => parseVariablesFile("A: 1\nB: { value: x, secret: true }\n", "v.yml"),
    /^CiConfigError: v\.yml:2: B\.secret: unknown key/,
  );
  await assert.rejects(
    () => parseVariablesFile("A: 1\nA: 2\n", "v.yml"),
    /^CiConfigError: v\.yml:2: cannot be parsed: Map keys must be unique/,
  );
  await assert.rejects(
    () => parseVariablesFile("A: 1\nB-C: 2\n", "v.yml"),
    /^CiConfigError: v\.yml:2: B-C: variable names/,
  );
});
