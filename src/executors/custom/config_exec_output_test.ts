import assert from "node:assert/strict";
import { parseConfigExecOutput } from "./config_exec_output.ts";

Deno.test("parseConfigExecOutput reads every official key", () => {
  assert.deepEqual(
    parseConfigExecOutput(JSON.stringify({
      "builds_dir": "/builds/1/acme",
      "cache_dir": "/cache/1/acme",
      "builds_dir_is_shared": true,
      "hostname": "custom-hostname",
      "driver": { "name": "test driver", "version": "v0.0.1" },
      "job_env": { "CUSTOM_ENVIRONMENT": "example" },
      "shell": "bash",
    })),
    {
      buildsDir: "/builds/1/acme",
      cacheDir: "/cache/1/acme",
      isBuildsDirShared: true,
      hostname: "custom-hostname",
      driver: { name: "test driver", version: "v0.0.1" },
      jobEnv: { CUSTOM_ENVIRONMENT: "example" },
      shell: "bash",
    },
  );
});

Deno.test("parseConfigExecOutput treats empty output, null and null keys as no overrides", () => {
  assert.deepEqual(parseConfigExecOutput(""), {});
  assert.deepEqual(parseConfigExecOutput("  \n"), {});
  assert.deepEqual(parseConfigExecOutput("null"), {});
  assert.deepEqual(parseConfigExecOutput('{"builds_dir": null, "driver": null}'), {});
  assert.deepEqual(parseConfigExecOutput('{"driver": {}}'), { driver: {} });
  // The official runner (a Go map of strings) sets a job_env entry that is null to "".
  assert.deepEqual(parseConfigExecOutput('{"job_env": {"A": null, "B": "b"}}'), {
    jobEnv: { A: "", B: "b" },
  });
});

Deno.test("parseConfigExecOutput matches key names case-insensitively when no exact match exists", () => {
  assert.deepEqual(parseConfigExecOutput('{"Builds_Dir": "/b", "builds_dir_is_shared": false}'), {
    buildsDir: "/b",
    isBuildsDirShared: false,
  });
  assert.deepEqual(parseConfigExecOutput('{"HOSTNAME": "x", "hostname": "y"}'), { hostname: "y" });
});

Deno.test("parseConfigExecOutput names what is wrong", () => {
  assert.throws(() => parseConfigExecOutput("{oops"), /invalid JSON: .*; output was "\{oops"/);
  // One line, the output quoted once: V8's own message holds a copy with its newline.
  assert.throws(() => parseConfigExecOutput("Hello, not json\n"), {
    message: `invalid JSON: Unexpected token 'H'; output was "Hello, not json"`,
  });
  assert.throws(() => parseConfigExecOutput("\u0001"), {
    message: `invalid JSON: Unexpected token '\\u0001'; output was "\\u0001"`,
  });
  assert.throws(() => parseConfigExecOutput('{"a":1} trailing'), /invalid JSON/);
  assert.throws(() => parseConfigExecOutput('"text"'), /expected a JSON object, got a string/);
  assert.throws(() => parseConfigExecOutput("[]"), /expected a JSON object, got an array/);
  assert.throws(
    () => parseConfigExecOutput('{"cache_dir": ["x"]}'),
    /"cache_dir" must be a string, got an array/,
  );
  assert.throws(
    () => parseConfigExecOutput('{"builds_dir_is_shared": "yes"}'),
    /"builds_dir_is_shared" must be a boolean, got a string \("yes"\)/,
  );
  assert.throws(() => parseConfigExecOutput('{"driver": "x"}'), /"driver" must be an object/);
  assert.throws(
    () => parseConfigExecOutput('{"driver": {"version": 2}}'),
    /"driver\.version" must be a string, got a number \(2\)/,
  );
  assert.throws(() => parseConfigExecOutput('{"job_env": []}'), /"job_env" must be an object/);
  assert.throws(
    () => parseConfigExecOutput('{"job_env": {"A=B": "x"}}'),
    /"job_env\.A=B" cannot be an environment variable/,
  );
});

Deno.test("parseConfigExecOutput lists the keys it does not know, at any case, inside driver too", () => {
  assert.deepEqual(
    parseConfigExecOutput(
      '{"build_dir": "/b", "HOSTNAME": "h", "other": [1], "driver": {"Name": "d", "url": "x"}}',
    ),
    { hostname: "h", driver: { name: "d" }, unknownKeys: ["build_dir", "other", "driver.url"] },
  );
  assert.equal(parseConfigExecOutput('{"builds_dir": "/b"}').unknownKeys, undefined);
});
