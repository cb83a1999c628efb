/** File selection on a real project directory with real git. */
import assert from "node:assert/strict";
import { LocalArchiveSource } from "../archive/local_archive_source.ts";
import { selectFiles } from "./file_selection.ts";
import { LocalCommandRunner } from "./local_command_runner.ts";

Deno.test("untracked takes git's untracked files, ignored ones included, and no symlink is followed", async () => {
  const project = await Deno.makeTempDir({ prefix: "select-it-" });
  try {
    const git = new LocalCommandRunner(project);
    assert.ok((await git.run(["git", "init", "-q"])).success);
    await Deno.writeTextFile(`${project}/.gitignore`, "build/\n");
    await Deno.writeTextFile(`${project}/tracked.txt`, "t");
    assert.ok((await git.run(["git", "add", ".gitignore", "tracked.txt"])).success);
    await Deno.mkdir(`${project}/build`);
    await Deno.writeTextFile(`${project}/build/out.bin`, "o");
    await Deno.writeTextFile(`${project}/new.txt`, "n");
    await Deno.symlink("/etc", `${project}/etc-link`);
    const lines: string[] = [];
    const files = await selectFiles(
      { paths: ["**/passwd"], exclude: [], untracked: true },
      {
        source: new LocalArchiveSource(project),
        projectDir: project,
        git,
        log: (l) => lines.push(l),
      },
    );
    assert.deepEqual(files, ["build/out.bin", "etc-link", "new.txt"]);
    assert.ok(lines[0]?.startsWith("WARNING: **/passwd: no matching files."));
    assert.equal(lines[1], "untracked: found 3 files");
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});

Deno.test("a path through a symlinked directory is refused with a warning, nothing outside is taken", async () => {
  const outside = await Deno.makeTempDir({ prefix: "select-outside-" });
  const project = await Deno.makeTempDir({ prefix: "select-it-" });
  try {
    await Deno.writeTextFile(`${outside}/secret.txt`, "s");
    await Deno.mkdir(`${outside}/sub`);
    await Deno.writeTextFile(`${outside}/sub/deep.txt`, "d");
    await Deno.mkdir(`${project}/dir`);
    await Deno.symlink(outside, `${project}/dir/out`);
    await Deno.writeTextFile(`${project}/kept.txt`, "k");
    const lines: string[] = [];
    const files = await selectFiles(
      {
        paths: ["dir/out/secret.txt", "dir/out/sub", "dir/out/*.txt", "dir/out/", "kept.txt"],
        exclude: [],
        untracked: false,
      },
      { source: new LocalArchiveSource(project), projectDir: project, log: (l) => lines.push(l) },
    );
    assert.deepEqual(files, ["dir/out", "kept.txt"]);
    assert.deepEqual(lines, [
      'WARNING: dir/out/secret.txt: "dir/out" is a symlink, and artifact paths never lead through one',
      'WARNING: dir/out/sub: "dir/out" is a symlink, and artifact paths never lead through one',
      "WARNING: dir/out/*.txt: no matching files. Ensure that the artifact path is relative to the working directory (" +
      project + ")",
      "dir/out: found 1 matching artifact files and directories",
      "kept.txt: found 1 matching artifact files and directories",
    ]);
  } finally {
    await Deno.remove(project, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a path with a NUL byte takes nothing and is named in a warning, not a system failure", async () => {
  const project = await Deno.makeTempDir({ prefix: "select-it-" });
  try {
    await Deno.writeTextFile(`${project}/kept.txt`, "k");
    const lines: string[] = [];
    const files = await selectFiles(
      { paths: ["dist\0/app", "dist/*\0", "kept.txt"], exclude: [], untracked: false },
      { source: new LocalArchiveSource(project), projectDir: project, log: (l) => lines.push(l) },
    );
    assert.deepEqual(files, ["kept.txt"]);
    assert.deepEqual(lines, [
      'WARNING: "dist\\u0000/app": no matching files: a path cannot contain a NUL byte',
      'WARNING: "dist/*\\u0000": no matching files: a path cannot contain a NUL byte',
      "kept.txt: found 1 matching artifact files and directories",
    ]);
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});
