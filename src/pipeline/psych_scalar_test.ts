import assert from "node:assert/strict";
import { type PlainScalar, readPlainScalar } from "./psych_scalar.ts";

Deno.test("plain scalars resolve as Psych's ScalarScanner resolves them", () => {
  const cases: Array<[string, PlainScalar]> = [
    ["yes", { kind: "boolean", value: true }],
    ["Off", { kind: "boolean", value: false }],
    ["y", { kind: "string", value: "y" }],
    ["NULL", { kind: "null" }],
    ["", { kind: "null" }],
    ["010", { kind: "integer", value: 8n }],
    ["08", { kind: "string", value: "08" }],
    ["0o10", { kind: "string", value: "0o10" }],
    ["0x1F", { kind: "integer", value: 31n }],
    ["-0b101", { kind: "integer", value: -5n }],
    ["1,000", { kind: "integer", value: 1000n }],
    ["12345678901234567890", { kind: "integer", value: 12345678901234567890n }],
    ["1:20", { kind: "integer", value: 4800n }],
    ["12:30:45", { kind: "integer", value: 45045n }],
    ["3.10", { kind: "float", value: 3.1 }],
    ["1.5e+3", { kind: "float", value: 1500 }],
    ["1.5e3", { kind: "string", value: "1.5e3" }],
    ["1e3", { kind: "string", value: "1e3" }],
    ["-.Inf", { kind: "float", value: -Infinity }],
    [":name", { kind: "string", value: "name" }],
    ["2024-02-29", { kind: "date" }],
    ["2023-02-29", { kind: "string", value: "2023-02-29" }],
    ["2001-12-14t21:59:43.10-05:00", { kind: "date" }],
    ["node:18", { kind: "string", value: "node:18" }],
    ["1.2.3", { kind: "string", value: "1.2.3" }],
    ["0b", { kind: "string", value: "0b" }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(readPlainScalar(text), expected, text);
});
