/**
 * Stage scripts through real bash and sh: what the build may print itself
 * instead of running a script must match what that script prints.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cleanupScript,
  EXTERNAL_GIT_CONFIG_FILE,
  getSourcesScript,
  GIT_NONE_NOTICES,
  type GitSources,
  isGetSourcesScriptNeeded,
  prepareScript,
  type ScriptInfo,
  stepScript,
} from "./stage_scripts.ts";
import { ANSI_BOLD_GREEN, ANSI_RESET } from "./script_writer.ts";

async function runShell(shell: string, script: string, cwd: string): Promise<string> {
  const child = new Deno.Command(shell, {
    args: [shell === "bash" ? "--login" : "-l"],
    cwd,
    env: { HOME: cwd },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return new TextDecoder().decode(out.stdout);
}

function infoFor(root: string, shell: "bash" | "sh"): ScriptInfo {
  const projectDir = join(root, "builds", "acme", "widget");
  return {
    shell,
    variables: [{ key: "A", value: "1", file: false }],
    projectDir,
    tmpDir: `${projectDir}.tmp`,
    exitCodeCheck: false,
    scriptSections: false,
    debugTrace: false,
    legacyEval: false,
  };
}

const NONE: GitSources = {
  strategy: "none",
  checkout: false,
  cleanFlags: [],
  fetchFlags: [],
  depth: 0,
  refspecs: [],
  sha: "3c8b1f0e9d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
  ref: "main",
  objectFormat: "sha1",
  remoteUrl: "https://gitlab.example.com/acme/widget.git",
  insteadOfs: [],
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
  credentialHost: null,
  sslFiles: [],
  remoteHost: null,
};

for (const shell of ["bash", "sh"] as const) {
  Deno.test(`${shell}: get_sources for GIT_STRATEGY=none prints GIT_NONE_NOTICES and only creates the project dir`, async () => {
    const root = await Deno.makeTempDir();
    try {
      const info = infoFor(root, shell);
      assert.equal(isGetSourcesScriptNeeded(info, NONE), false);
      const stdout = await runShell(shell, getSourcesScript(info, NONE), root);
      // Byte for byte what JobLog.info prints for each notice.
      assert.equal(
        stdout,
        GIT_NONE_NOTICES.map((n) => `${ANSI_BOLD_GREEN}${n}${ANSI_RESET}\n`).join(""),
      );
      assert.ok((await Deno.stat(info.projectDir)).isDirectory);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`${shell}: cleanup_file_variables removes the env, credential and file variable files`, async () => {
    const root = await Deno.makeTempDir();
    try {
      const info = {
        ...infoFor(root, shell),
        variables: [
          { key: "KEY_FILE", value: "secret", file: true },
          { key: "PLAIN", value: "x", file: false },
          { key: "CERT", value: "pem", file: true },
        ],
      };
      await Deno.mkdir(info.tmpDir, { recursive: true });
      const names = [
        "gitlab_runner_env",
        "masking.db",
        EXTERNAL_GIT_CONFIG_FILE,
        "KEY_FILE",
        "CERT",
      ];
      for (const name of [...names, "PLAIN", "other"]) {
        await Deno.writeTextFile(join(info.tmpDir, name), "x");
      }
      await runShell(shell, cleanupScript(info, { credentialHost: null, strategy: "none" }), root);
      const left = [];
      for await (const entry of Deno.readDir(info.tmpDir)) left.push(entry.name);
      assert.deepEqual(left.sort(), ["PLAIN", "other"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`${shell}: with FF_SCRIPT_SECTIONS a multi-line command's section ends its line, as upstream's`, async () => {
    const root = await Deno.makeTempDir();
    try {
      const info = { ...infoFor(root, shell), scriptSections: true };
      await Deno.mkdir(info.projectDir, { recursive: true });
      const stdout = await runShell(shell, stepScript(info, ["echo a\necho b"]), root);
      // The command's output starts a line of its own, not the section_end marker's.
      assert.match(
        stdout,
        // deno-lint-ignore no-control-regex -- the section marker's escape sequence
        /\nsection_end:\d+:section_script_step_0\r\x1b\[0K\na\nb\n$/,
        JSON.stringify(stdout),
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`${shell}: prepare_script with createProjectDir creates the project dir`, async () => {
    const root = await Deno.makeTempDir();
    try {
      const info = infoFor(root, shell);
      const stdout = await runShell(shell, prepareScript(info, { createProjectDir: true }), root);
      assert.match(stdout, /^Running on .+\.\.\.\n$/);
      assert.ok((await Deno.stat(info.projectDir)).isDirectory);
      assert.ok((await Deno.stat(info.tmpDir)).isDirectory);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

for (const shell of ["bash", "sh"] as const) {
  Deno.test(`${shell}: a job's housekeeping starts a process only when there is work (mkdir, touch, rm, git, hostname)`, async () => {
    const root = await Deno.makeTempDir();
    try {
      // Wrappers that log their name, ahead of the real programs in PATH.
      const bin = join(root, "bin");
      const log = join(root, "started.log");
      await Deno.mkdir(bin);
      for (const name of ["mkdir", "touch", "rm", "git", "hostname"]) {
        const real = join(bin, name);
        await Deno.writeTextFile(
          real,
          `#!/bin/sh\necho ${name} >> '${log}'\nPATH="\${PATH#*:}" exec ${name} "$@"\n`,
        );
        await Deno.chmod(real, 0o755);
      }
      const info = infoFor(root, shell);
      const git = { ...NONE, credentialHost: "https://gitlab.example.com" };
      const job = async () => {
        await Deno.writeTextFile(log, "");
        let stdout = "";
        for (
          const script of [
            // The shell executor knows its host's name: no `hostname` process.
            prepareScript(info, { createProjectDir: true, runningOn: "build-host-1" }),
            stepScript(info, ['echo hello >> "$GITLAB_ENV".seen']),
            cleanupScript(info, git),
          ]
        ) {
          // Not a login shell: root's profile would reset PATH past the wrappers.
          const out = await new Deno.Command(shell, {
            cwd: root,
            env: { HOME: root, PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
            clearEnv: true,
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const writer = out.stdin.getWriter();
          await writer.write(new TextEncoder().encode(script));
          await writer.close();
          const result = await out.output();
          assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
          stdout += new TextDecoder().decode(result.stdout);
        }
        return { stdout, started: (await Deno.readTextFile(log)).split("\n").filter(Boolean) };
      };
      const first = await job();
      assert.match(first.stdout, /^Running on build-host-1\.\.\.$/m);
      assert.match(first.stdout, /hello/);
      // The first job creates the directories, the project's and its temporary one in one
      // process; nothing asks git to forget a token it never had.
      assert.deepEqual(first.started, ["mkdir", "rm"]);
      // The next job finds them: only cleanup's rm of the GITLAB_ENV file the step created.
      const second = await job();
      assert.deepEqual(second.started, ["rm"]);
      assert.equal(
        (await Deno.readTextFile(join(info.tmpDir, "gitlab_runner_env.seen"))).trim(),
        "hello\nhello",
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("get_sources runs as a script for every strategy but none, and with CI_DEBUG_TRACE", () => {
  const info = infoFor("/tmp/x", "bash");
  for (const strategy of ["fetch", "clone", "empty"] as const) {
    assert.equal(isGetSourcesScriptNeeded(info, { ...NONE, strategy }), true, strategy);
  }
  assert.equal(isGetSourcesScriptNeeded({ ...info, debugTrace: true }, NONE), true);
});
