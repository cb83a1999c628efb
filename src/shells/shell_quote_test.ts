import assert from "node:assert/strict";
import { parseJobSpec } from "../job/job_spec.ts";
import { quoteShell, unexportedVariables, unquotableField } from "./shell_quote.ts";

Deno.test("a value with a NUL byte cannot be quoted, and the error does not show it", () => {
  assert.throws(() => quoteShell("s3cr3t\0tail"), (err: Error) => {
    assert.ok(err instanceof RangeError);
    assert.doesNotMatch(err.message, /s3cr3t|tail/);
    return true;
  });
});

Deno.test("unquotableField names the variable or the script line that holds a NUL byte", () => {
  const job = (payload: Record<string, unknown>) => parseJobSpec({ id: 1, token: "t", ...payload });
  assert.equal(unquotableField(job({ variables: [{ key: "A", value: "ok" }] })), null);
  // A key no shell can export is never written to a script.
  assert.equal(unquotableField(job({ variables: [{ key: "A-B", value: "\0" }] })), null);
  assert.equal(
    unquotableField(job({ variables: [{ key: "A", value: "ok" }, { key: "B", value: "x\0" }] })),
    'the value of variable "B"',
  );
  assert.equal(
    unquotableField(job({ steps: [{ name: "script", script: ["true", "echo \0"] }] })),
    'line 2 of steps[0] ("script")',
  );
  assert.equal(
    unquotableField(job({ hooks: [{ name: "pre_get_sources_script", script: ["\0"] }] })),
    'line 1 of hooks[0] ("pre_get_sources_script")',
  );
  // What get_sources writes into its script from git_info.
  const git = { "repo_url": "https://h/a.git", ref: "main", sha: "0".repeat(40), refspecs: [] };
  assert.equal(unquotableField(job({ "git_info": git })), null);
  assert.equal(unquotableField(job({ "git_info": { ...git, ref: "ma\0in" } })), "git_info.ref");
  assert.equal(
    unquotableField(job({ "git_info": { ...git, refspecs: ["+a:b", "+c\0:d"] } })),
    "git_info.refspecs[1]",
  );
  assert.equal(
    unquotableField(job({ "git_info": { ...git, "repo_url": "https://h/\0" } })),
    "git_info.repo_url",
  );
});

Deno.test("unexportedVariables lists each key that is not a shell name once", () => {
  const job = parseJobSpec({
    id: 1,
    token: "t",
    variables: [
      { key: "OK_1", value: "" },
      { key: "A-B", value: "" },
      { key: "A=B", value: "" },
      { key: "A-B", value: "" },
      { key: "1X", value: "" },
    ],
  });
  assert.deepEqual(unexportedVariables(job), ["A-B", "A=B", "1X"]);
});
