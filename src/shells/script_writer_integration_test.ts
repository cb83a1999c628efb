import assert from "node:assert/strict";
import { type ScriptVariable, ScriptWriter } from "./script_writer.ts";
import { stepScript } from "./stage_scripts.ts";
import { testEnv } from "../../tests/fixtures/test_env.ts";

const NASTY: ScriptVariable[] = [
  { key: "SINGLE", value: "it's a 'quoted' value", file: false },
  { key: "DOUBLE", value: 'say "hi" \\"there\\"', file: false },
  { key: "DOLLAR", value: "$HOME ${PATH} $(whoami) `id` $$ $", file: false },
  { key: "BACKSLASH", value: "C:\\path\\n\\t\\\\end\\", file: false },
  { key: "NEWLINES", value: "line1\nline2\r\n\nline4\n", file: false },
  { key: "CONTROL", value: "bell\x07 esc\x1b[31m tab\t", file: false },
  { key: "UNICODE", value: "żółć ✓ 日本", file: false },
  { key: "GLOB", value: "* ? [a-z] ~ ; & | < > ! # %", file: false },
  { key: "EMPTY", value: "", file: false },
  { key: "FILE_VAR", value: "-----BEGIN KEY-----\nAAA'$X\"\\\n-----END KEY-----\n", file: true },
];

async function runShell(shell: string, script: string): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command(shell, {
    args: [shell === "bash" ? "--login" : "-l"],
    env: testEnv(),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const result = await out.output();
  return { code: result.code, stdout: new TextDecoder().decode(result.stdout) };
}

for (const shell of ["bash", "sh"]) {
  Deno.test(`${shell}: exported variables with nasty characters come out identical`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const w = new ScriptWriter({ tmpDir: `${tmp}/project.tmp` });
      w.exportVariables(NASTY);
      for (const v of NASTY) w.line(`printf '%s\\0' "$${v.key}"`);
      w.line(`cat "$FILE_VAR"; printf '\\0'`);
      const { code, stdout } = await runShell(shell, w.finish());
      assert.equal(code, 0);
      const values = stdout.split("\0");
      NASTY.forEach((v, i) => {
        assert.equal(values[i], v.file ? `${tmp}/project.tmp/${v.key}` : v.value, v.key);
      });
      assert.equal(values[NASTY.length], NASTY.at(-1)!.value);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });

  Deno.test(`${shell}: commands are echoed in green, run in order, and stop at the first failure`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const script = stepScript(
        {
          shell: shell as "bash" | "sh",
          variables: [{ key: "GREETING", value: "hello 'world'", file: false }],
          projectDir: tmp,
          tmpDir: `${tmp}.tmp`,
          exitCodeCheck: false,
          scriptSections: false,
          debugTrace: false,
          legacyEval: false,
        },
        ['echo "$GREETING"', "printf 'a\\\\b\\n'", "exit 7", "echo unreachable"],
      );
      const { code, stdout } = await runShell(shell, script);
      assert.equal(code, 7);
      assert.equal(
        stdout,
        "\x1b[32;1m$ echo \"$GREETING\"\x1b[0;m\nhello 'world'\n" +
          "\x1b[32;1m$ printf 'a\\\\b\\n'\x1b[0;m\na\\b\n" +
          "\x1b[32;1m$ exit 7\x1b[0;m\n",
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
      await Deno.remove(`${tmp}.tmp`, { recursive: true }).catch(() => {});
    }
  });

  Deno.test(`${shell}: GITLAB_ENV written by one stage is sourced by the next`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const info = {
        shell: shell as "bash" | "sh",
        variables: [{ key: "FROM_JOB", value: "job", file: false }],
        projectDir: tmp,
        tmpDir: `${tmp}.tmp`,
        exitCodeCheck: false,
        scriptSections: false,
        debugTrace: false,
        legacyEval: false,
      };
      const first = await runShell(
        shell,
        stepScript(info, ['echo "PASSED=on with spaces" >> "$GITLAB_ENV"']),
      );
      assert.equal(first.code, 0);
      const second = await runShell(shell, stepScript(info, ['echo "got=$PASSED from=$FROM_JOB"']));
      assert.equal(second.code, 0);
      assert.match(second.stdout, /got=on with spaces from=job/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
      await Deno.remove(`${tmp}.tmp`, { recursive: true }).catch(() => {});
    }
  });
}

Deno.test("bash: a failing command inside a pipeline fails the script (pipefail)", async () => {
  const w = new ScriptWriter({ tmpDir: "/tmp/unused.tmp" });
  w.userCommands(["false | cat", "echo unreachable"]);
  const { code, stdout } = await runShell("bash", w.finish());
  assert.equal(code, 1);
  assert.doesNotMatch(stdout, /^unreachable/m);
});
