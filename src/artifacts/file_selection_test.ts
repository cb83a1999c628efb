import assert from "node:assert/strict";
import { MemoryTree } from "../archive/memory_tree.ts";
import type { CommandResult, CommandRunner } from "./command_runner.ts";
import { type FileSelectionSpec, selectFiles } from "./file_selection.ts";

const PROJECT = "/builds/group/project";

class FakeGit implements CommandRunner {
  calls: string[][] = [];
  constructor(readonly output: string, readonly success = true) {}
  run(args: readonly string[]): Promise<CommandResult> {
    this.calls.push([...args]);
    return Promise.resolve({
      success: this.success,
      stdout: new TextEncoder().encode(this.output),
      stderr: "fatal: not a git repository",
    });
  }
}

function project(): MemoryTree {
  return new MemoryTree()
    .addFile("README.md", "readme")
    .addFile(".env", "hidden")
    .addFile("build/app.js", "app")
    .addFile("build/app.js.map", "map")
    .addFile("build/lib/util.js", "util")
    .addFile("build/lib/.hidden.js", "dot")
    .addFile("reports/junit.xml", "<x/>")
    .addFile("src/main.ts", "main")
    .addSymlink("outside", "/etc")
    .addSymlink("build/current", "../src");
}

async function select(spec: Partial<FileSelectionSpec>, tree = project(), git?: CommandRunner) {
  const lines: string[] = [];
  const files = await selectFiles(
    { paths: [], exclude: [], untracked: false, ...spec },
    { source: tree, projectDir: PROJECT, log: (l) => lines.push(l), ...(git ? { git } : {}) },
  );
  return { files, lines };
}

Deno.test("a directory path takes the directory and everything below it, links as links", async () => {
  const { files, lines } = await select({ paths: ["build"] });
  assert.deepEqual(files, [
    "build",
    "build/app.js",
    "build/app.js.map",
    "build/current",
    "build/lib",
    "build/lib/.hidden.js",
    "build/lib/util.js",
  ]);
  assert.deepEqual(lines, ["build: found 7 matching artifact files and directories"]);
});

Deno.test("** spans directories, * stays in one and matches dot files", async () => {
  assert.deepEqual((await select({ paths: ["build/**/*.js"] })).files, [
    "build/app.js",
    "build/lib/.hidden.js",
    "build/lib/util.js",
  ]);
  assert.deepEqual((await select({ paths: ["build/*.js"] })).files, ["build/app.js"]);
  assert.deepEqual((await select({ paths: ["*.md", ".env"] })).files, [".env", "README.md"]);
  assert.deepEqual((await select({ paths: ["**/junit.xml"] })).files, ["reports/junit.xml"]);
  assert.deepEqual((await select({ paths: ["{src,reports}/*"] })).files, [
    "reports/junit.xml",
    "src/main.ts",
  ]);
});

Deno.test("globbing does not follow symlinks into other trees", async () => {
  const { files } = await select({ paths: ["**/*.ts"] });
  // src/main.ts once; not again through build/current -> ../src.
  assert.deepEqual(files, ["src/main.ts"]);
  const viaLink = await select({ paths: ["outside/**"] });
  assert.deepEqual(viaLink.files, []);
});

Deno.test("absolute paths inside the project work; paths leading outside are ignored with a warning", async () => {
  assert.deepEqual((await select({ paths: [`${PROJECT}/src/main.ts`] })).files, ["src/main.ts"]);
  assert.deepEqual((await select({ paths: ["../project/src/main.ts"] })).files, ["src/main.ts"]);
  const out = await select({ paths: ["../other/secret", "/etc/passwd"] });
  assert.deepEqual(out.files, []);
  assert.deepEqual(out.lines, [
    "WARNING: processPath: artifact path is not a subpath of project directory: ../other/secret",
    "WARNING: processPath: artifact path is not a subpath of project directory: /etc/passwd",
  ]);
});

Deno.test("exclude drops matching paths and reports the count per rule", async () => {
  const { files, lines } = await select({
    paths: ["build"],
    exclude: ["build/**/*.map", "build/lib/**"],
  });
  // "build/lib/**" matches build/lib too, as doublestar's "dir/**" does.
  assert.deepEqual(files, ["build", "build/app.js", "build/current"]);
  assert.deepEqual(lines, [
    "build: found 3 matching artifact files and directories",
    "build/**/*.map: excluded 1 files",
    "build/lib/**: excluded 3 files",
  ]);
});

Deno.test("a path with no match gets the official warning", async () => {
  const { files, lines } = await select({ paths: ["missing/*.xml", "nothing.txt"] });
  assert.deepEqual(files, []);
  assert.deepEqual(lines, [
    `WARNING: missing/*.xml: no matching files. Ensure that the artifact path is relative to the working directory (${PROJECT})`,
    `WARNING: nothing.txt: no matching files. Ensure that the artifact path is relative to the working directory (${PROJECT})`,
  ]);
  const cancelled = await select({ paths: ["**"], exclude: ["**"] });
  assert.deepEqual(cancelled.files, []);
  assert.match(cancelled.lines[0] ?? "", /^WARNING: \*\*: no matching files/);
});

Deno.test("untracked adds what git ls-files -o lists", async () => {
  const git = new FakeGit("build/app.js\0src/main.ts\0gone.txt\0");
  const { files, lines } = await select({ untracked: true }, project(), git);
  assert.deepEqual(git.calls, [["git", "ls-files", "-o", "-z"]]);
  assert.deepEqual(files, ["build/app.js", "src/main.ts"]);
  assert.deepEqual(lines, ["untracked: found 2 files"]);
  const failing = await select({ untracked: true }, project(), new FakeGit("", false));
  assert.deepEqual(failing.lines, [
    "WARNING: untracked: git ls-files failed: fatal: not a git repository",
  ]);
});

Deno.test("an empty path (a variable that expanded to nothing) takes nothing, as the official runner, not the whole project", async () => {
  const { files, lines } = await select({ paths: ["", "README.md"] });
  assert.deepEqual(files, ["README.md"]);
  assert.deepEqual(lines, [
    "WARNING: No matching files. Path is empty.",
    "README.md: found 1 matching artifact files and directories",
  ]);
});

Deno.test("an empty exclude (a variable that expanded to nothing) or the project dir itself excludes nothing, not a system failure", async () => {
  const { files, lines } = await select({ paths: ["src"], exclude: ["", ".", PROJECT] });
  assert.deepEqual(files, ["src", "src/main.ts"]);
  assert.deepEqual(lines, [
    "WARNING: isExcluded: exclude path is empty: it excludes nothing",
    "src: found 2 matching artifact files and directories",
  ]);
});

Deno.test('parentheses, |, + and @ in a pattern are literal and [!c] negates, as in doublestar: "dist (1)/*.js" takes dist (1)/a.js', async () => {
  const tree = new MemoryTree()
    .addFile("dist (1)/a.js", "a")
    .addFile("dist 1/b.js", "b")
    .addFile("out/a|b.txt", "ab")
    .addFile("out/a", "a")
    .addFile("out/c+(x).log", "c")
    .addFile("out/cx.log", "cx")
    .addFile("out/@(y).log", "y");
  const { files } = await select({
    paths: ["dist (1)/*.js", "dist*/*.js", "out/a|b*", "out/*+(x).log", "out/@(y)*"],
    exclude: ["dist 1/*"],
  }, tree);
  assert.deepEqual(files, [
    "dist (1)/a.js",
    "out/@(y).log",
    "out/a|b.txt",
    "out/c+(x).log",
  ]);
  const negated = await select({ paths: ["out/[!c]*.log", "out/[!]a]"] }, tree);
  assert.deepEqual(negated.files, ["out/@(y).log"]);
});

Deno.test("dir/** takes the directory itself and everything below it, as doublestar matches it", async () => {
  const { files } = await select({ paths: ["build/lib/**"] });
  assert.deepEqual(files, ["build/lib", "build/lib/.hidden.js", "build/lib/util.js"]);
});
