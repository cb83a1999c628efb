import assert from "node:assert/strict";
import { quoteShell } from "./shell_quote.ts";
import { getSourcesScript, type GitSources, type ScriptInfo, stepScript } from "./stage_scripts.ts";
import { ScriptWriter } from "./script_writer.ts";

const INFO: ScriptInfo = {
  shell: "bash",
  variables: [{ key: "A", value: "1", file: false }],
  projectDir: "/builds/t/0/acme/widget",
  tmpDir: "/builds/t/0/acme/widget.tmp",
  exitCodeCheck: false,
  scriptSections: false,
  debugTrace: false,
  legacyEval: false,
};

const GIT: GitSources = {
  strategy: "fetch",
  checkout: true,
  cleanFlags: ["-ffdx"],
  fetchFlags: ["--prune", "--quiet"],
  depth: 20,
  refspecs: ["+refs/heads/main:refs/remotes/origin/main"],
  sha: "3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
  ref: "main",
  objectFormat: "sha1",
  remoteUrl: "https://gitlab.example.com/acme/widget.git",
  insteadOfs: [[
    "https://gitlab-ci-token:tok@gitlab.example.com/acme/widget.git",
    "https://gitlab.example.com/acme/widget.git",
  ]],
  userAgent: "gitlab-runner 17.5.0 linux/amd64",
  lfsSmudgeDisabled: false,
  submoduleStrategy: "none",
  submoduleDepth: 0,
  submoduleUpdateFlags: [],
  bundleUris: true,
  gitalyCorrelationId: "",
  cleanGitConfig: false,
  preCommands: ["echo pre"],
  postCommands: ["echo post"],
  credentialHost: "https://gitlab.example.com",
  sslFiles: [],
  remoteHost: "https://gitlab.example.com",
};

/** The body inside `eval '…'`, unquoted. */
function body(script: string): string {
  const start = script.indexOf("eval '") + "eval '".length;
  return script.slice(start, script.lastIndexOf("') < /dev/null")).replaceAll("'\\''", "'");
}

Deno.test("quoteShell leaves safe words bare and single-quotes the rest", () => {
  assert.equal(quoteShell("abc/def-1.2"), "abc/def-1.2");
  assert.equal(quoteShell(""), "''");
  assert.equal(quoteShell("it's $HOME"), `'it'\\''s $HOME'`);
  assert.throws(() => quoteShell("a\0b"), RangeError);
});

Deno.test("finish wraps the body like the official bash writer", () => {
  const w = new ScriptWriter({ tmpDir: "/t" });
  w.command("echo", "hi");
  const script = w.finish();
  assert.ok(script.startsWith("trap 'exit 1' TERM\n\n"));
  assert.match(
    script,
    /command set -o pipefail 2>\/dev\/null \|\| true; set -o errexit\nset \+o noclobber\n/,
  );
  assert.match(script, /\(trap 'exit 1' TERM; eval 'echo hi\n'\) < \/dev\/null\nexit 0\n$/);
  const legacy = new ScriptWriter({ tmpDir: "/t", legacyEval: true, debugTrace: true });
  legacy.line("true");
  assert.match(legacy.finish(), /set -o xtrace\n[\s\S]*: \| eval 'true\n'\n/);
});

Deno.test("the exit code check follows every command when enabled", () => {
  const w = new ScriptWriter({ tmpDir: "/t", exitCodeCheck: true });
  w.userCommands(["make"]);
  assert.match(
    w.body(),
    /\nmake\n_runner_exit_code=\$\?; if \[ \$_runner_exit_code -ne 0 \]; then exit \$_runner_exit_code; fi\n/,
  );
});

Deno.test("multi-line commands show their first line, or a collapsed section with FF_SCRIPT_SECTIONS", () => {
  const plain = new ScriptWriter({ tmpDir: "/t" });
  plain.userCommands(["echo one\necho two"]);
  assert.ok(plain.body().includes("$ echo one # collapsed multi-line command"));
  const sections = new ScriptWriter({ tmpDir: "/t" });
  sections.userCommands(["echo one\necho two"], { sectionPrefix: "script_step" });
  assert.ok(
    sections.body().includes(
      "section_start:$(date +%s):section_script_step_0[hide_duration=true,collapsed=true]",
    ),
  );
  assert.ok(sections.body().includes("section_end:$(date +%s):section_script_step_0"));
});

Deno.test("get_sources fetches with refspecs, depth and flags, keeping credentials out of the remote", () => {
  const script = body(getSourcesScript(INFO, GIT));
  assert.ok(script.includes("export GIT_TERMINAL_PROMPT=0\n"));
  assert.ok(
    script.includes(
      "git config --file /builds/t/0/acme/widget.tmp/.gitlab-runner.ext.conf --replace-all " +
        "url.https://gitlab-ci-token:tok@gitlab.example.com/acme/widget.git.insteadOf " +
        "https://gitlab.example.com/acme/widget.git '^https://gitlab\\.example\\.com/acme/widget\\.git$'",
    ),
    script,
  );
  assert.ok(
    script.includes(
      "git init /builds/t/0/acme/widget --template /builds/t/0/acme/widget.tmp/git-template\n",
    ),
  );
  assert.ok(
    script.includes(
      "if git remote add origin https://gitlab.example.com/acme/widget.git >/dev/null 2>&1; then",
    ),
  );
  assert.ok(
    script.includes(
      "git -c 'http.userAgent=gitlab-runner 17.5.0 linux/amd64' fetch origin --no-recurse-submodules " +
        "+refs/heads/main:refs/remotes/origin/main --depth 20 --prune --quiet\n",
    ),
  );
  assert.ok(!script.includes("--unshallow"));
  assert.ok(
    script.includes(
      "git -c submodule.recurse=false checkout -f -q 3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c\ngit clean -ffdx\n",
    ),
  );
  const order = ["$ echo pre", "git init", "checkout -f -q", "$ echo post", "git credential reject"]
    .map((s) => script.indexOf(s));
  assert.ok(order.every((i, n) => i > 0 && (n === 0 || i > order[n - 1]!)), order.join(","));
});

Deno.test("get_sources unshallows a shallow clone when the job wants full history", () => {
  const script = body(getSourcesScript(INFO, { ...GIT, depth: 0 }));
  assert.ok(script.includes("if [ -e .git/shallow ]; then"));
  assert.match(
    script,
    /fetch origin --no-recurse-submodules \+refs\/heads\/main:refs\/remotes\/origin\/main --prune --quiet --unshallow\n/,
  );
});

Deno.test("get_sources with GIT_STRATEGY none runs no git and no hooks", () => {
  const script = body(getSourcesScript(INFO, { ...GIT, strategy: "none", checkout: false }));
  assert.ok(!/\ngit /.test(script));
  assert.ok(!script.includes("echo pre"));
  assert.ok(script.includes("Skipping Git repository setup"));
});

Deno.test("get_sources with clone removes the old checkout first", () => {
  const script = body(getSourcesScript(INFO, { ...GIT, strategy: "clone" }));
  assert.ok(script.indexOf("rm -r -f /builds/t/0/acme/widget\n") < script.indexOf("git init"));
});

Deno.test("a step script exports variables, enters the project dir and echoes commands", () => {
  const script = body(stepScript(INFO, ["make test"]));
  assert.ok(
    script.startsWith(
      "export A=1\nexport GITLAB_ENV=/builds/t/0/acme/widget.tmp/gitlab_runner_env\n",
    ),
  );
  assert.ok(script.includes("cd /builds/t/0/acme/widget\n"));
  assert.ok(script.includes(`printf '%s\\n' '\x1b[32;1m$ make test\x1b[0;m'\nmake test\n`));
});

Deno.test("get_sources points git at the runner's TLS files for the remote's host only", () => {
  const script = body(getSourcesScript(INFO, {
    ...GIT,
    sslFiles: [
      ["sslCAInfo", "/builds/t/0/acme/widget.tmp/CI_SERVER_TLS_CA_FILE"],
      ["sslCert", "/builds/t/0/acme/widget.tmp/CI_SERVER_TLS_CERT_FILE"],
      ["sslKey", "/builds/t/0/acme/widget.tmp/CI_SERVER_TLS_KEY_FILE"],
    ],
  }));
  const ext = "/builds/t/0/acme/widget.tmp/.gitlab-runner.ext.conf";
  for (const [setting, key] of [["sslCAInfo", "CA"], ["sslCert", "CERT"], ["sslKey", "KEY"]]) {
    assert.ok(
      script.includes(
        `git config -f ${ext} http.https://gitlab.example.com.${setting} ` +
          `/builds/t/0/acme/widget.tmp/CI_SERVER_TLS_${key}_FILE\n`,
      ),
      script,
    );
  }
  assert.ok(!body(getSourcesScript(INFO, GIT)).includes("sslCAInfo"));
});

Deno.test("get_sources pulls the LFS files of submodules after updating them, unless GIT_LFS_SKIP_SMUDGE is set", () => {
  const sub = { ...GIT, submoduleStrategy: "recursive" as const };
  const script = body(getSourcesScript(INFO, sub));
  const pull = "git -c include.path=/builds/t/0/acme/widget.tmp/.gitlab-runner.ext.conf " +
    "submodule foreach --recursive 'git lfs pull'";
  const at = script.indexOf(pull);
  assert.ok(at > script.indexOf("Updated submodules"), script);
  assert.match(script.slice(0, at), /if git lfs version >\/dev\/null 2>&1; then\n\s*$/);
  const skipped = body(getSourcesScript(INFO, { ...sub, lfsSmudgeDisabled: true }));
  assert.ok(!skipped.includes("lfs pull"), skipped);
});

Deno.test("get_sources with GIT_STRATEGY empty says it skips submodules, as the official runner", () => {
  const script = body(getSourcesScript(INFO, { ...GIT, strategy: "empty", checkout: false }));
  const notices = [...script.matchAll(new RegExp("\x1b\\[32;1m(.*?)\x1b\\[0;m", "g"))]
    .map((m) => m[1]);
  assert.deepEqual(notices, [
    "Skipping Git repository setup and creating an empty build directory",
    "Skipping Git checkout",
    "Skipping Git submodules setup",
  ]);
});
