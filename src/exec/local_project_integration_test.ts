import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalProjectFiles, originUrlOf, readGitState, remotePathOf } from "./local_project.ts";

async function git(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args: [
      "-c",
      "user.name=Ada",
      "-c",
      "user.email=ada@example.com",
      "-c",
      "init.defaultBranch=main",
      ...args,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test("the file list leaves out tracked files deleted from the working tree and those a sparse checkout leaves out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-git-" });
  try {
    await git(dir, "init", "-q");
    for (const path of ["kept.txt", "gone.txt", "dir/gone.txt", "sparse/out.txt"]) {
      await Deno.mkdir(join(dir, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, path), `${path}\n`);
    }
    await git(dir, "add", ".");
    await git(dir, "commit", "-q", "-m", "First");
    await Deno.remove(join(dir, "gone.txt"));
    await Deno.remove(join(dir, "dir"), { recursive: true });
    await git(dir, "sparse-checkout", "set", "--no-cone", "/*", "!/sparse/");
    await Deno.writeTextFile(join(dir, "new.txt"), "new\n");
    const files = new LocalProjectFiles(dir);
    assert.deepEqual(await files.listFiles(), ["kept.txt", "new.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a real git project gives HEAD, branch, changed files and its file list", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-git-" });
  try {
    await git(dir, "init", "-q");
    await Deno.writeTextFile(join(dir, ".gitignore"), "node_modules/\n");
    await Deno.writeTextFile(join(dir, ".gitlab-ci.yml"), "job: { script: echo }\n");
    await Deno.writeTextFile(join(dir, "a.txt"), "one\n");
    await git(dir, "add", ".");
    await git(dir, "commit", "-q", "-m", "First\n\nBody");
    await git(dir, "remote", "add", "origin", "git@gitlab.example.com:acme/widget.git");
    await Deno.writeTextFile(join(dir, "a.txt"), "two\n");
    await Deno.writeTextFile(join(dir, "new.txt"), "new\n");
    await Deno.mkdir(join(dir, "node_modules"));
    await Deno.writeTextFile(join(dir, "node_modules", "x.js"), "");

    const state = await readGitState(dir);
    assert.match(state.sha, /^[0-9a-f]{40}$/);
    assert.equal(state.ref, "main");
    assert.equal(state.refType, "branch");
    assert.equal(state.commitMessage, "First\n\nBody");
    assert.equal(state.commitAuthor, "Ada <ada@example.com>");
    assert.deepEqual(state.changedFiles, ["a.txt", "new.txt"]);
    assert.equal(state.remotePath, "acme/widget");

    const files = new LocalProjectFiles(dir);
    assert.deepEqual(await files.listFiles(), [".gitignore", ".gitlab-ci.yml", "a.txt", "new.txt"]);
    assert.equal(await files.readText("a.txt"), "two\n");
    assert.equal(await files.readText("missing.yml"), null);
    await assert.rejects(files.readText("../etc/passwd"), RangeError);

    await git(dir, "tag", "v1.0.0");
    await git(dir, "checkout", "-q", "--detach");
    const tagged = await readGitState(dir);
    assert.equal(tagged.ref, "v1.0.0");
    assert.equal(tagged.refType, "tag");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the git state read with the project's file listing equals the one read alone; before sha is HEAD~1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-git-" });
  try {
    await git(dir, "init", "-q");
    await Deno.writeTextFile(join(dir, ".gitignore"), "ignored/\n");
    await Deno.writeTextFile(join(dir, "a.txt"), "one\n");
    assert.equal((await readGitState(dir)).sha, "0000000000000000000000000000000000000000");
    assert.deepEqual((await readGitState(dir)).changedFiles, [".gitignore", "a.txt"]);
    await git(dir, "add", ".");
    await git(dir, "commit", "-q", "-m", "First");
    const first = (await readGitState(dir)).sha;
    assert.equal((await readGitState(dir)).beforeSha, "0000000000000000000000000000000000000000");
    await Deno.writeTextFile(join(dir, "a.txt"), "two\n");
    await git(dir, "commit", "-q", "-am", "Second");
    await Deno.writeTextFile(join(dir, "a.txt"), "three\n");
    await Deno.writeTextFile(join(dir, "new.txt"), "new\n");
    await Deno.mkdir(join(dir, "ignored"));
    await Deno.writeTextFile(join(dir, "ignored", "x"), "");
    const files = new LocalProjectFiles(dir);
    const alone = await readGitState(dir);
    const shared = await readGitState(dir, files);
    assert.deepEqual(shared, alone);
    assert.equal(shared.beforeSha, first);
    assert.notEqual(shared.sha, first);
    assert.deepEqual(shared.changedFiles, ["a.txt", "new.txt"]);
    assert.deepEqual(await files.untrackedFiles(), ["new.txt"]);
    assert.deepEqual(await files.listFiles(), [".gitignore", "a.txt", "new.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a directory that is not a repository lists its files and has a zero sha", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-nogit-" });
  try {
    await Deno.mkdir(join(dir, "ci"));
    await Deno.writeTextFile(join(dir, "ci", "a.yml"), "");
    await Deno.writeTextFile(join(dir, ".gitlab-ci.yml"), "");
    const state = await readGitState(dir);
    assert.equal(state.sha, "0000000000000000000000000000000000000000");
    assert.equal(state.ref, "main");
    assert.deepEqual(await new LocalProjectFiles(dir).listFiles(), [".gitlab-ci.yml", "ci/a.yml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("remote URLs give the project path", () => {
  assert.equal(remotePathOf("https://gitlab.com/group/sub/name.git"), "group/sub/name");
  assert.equal(remotePathOf("git@gitlab.com:group/name.git"), "group/name");
  assert.equal(remotePathOf("ssh://git@host:2222/g/n"), "g/n");
  assert.equal(remotePathOf(""), "");
});

Deno.test("HEAD's branch and origin's default branch read alike from .git and through git (a worktree)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-git-" });
  try {
    const main = join(dir, "main");
    await Deno.mkdir(main);
    await git(main, "init", "-q");
    assert.equal((await readGitState(main)).ref, "main", "no commit yet: git names the branch");
    await Deno.writeTextFile(join(main, "a.txt"), "one\n");
    await git(main, "add", ".");
    await git(main, "commit", "-q", "-m", "First");
    await git(main, "remote", "add", "origin", "https://gitlab.example.com/acme/widget.git");
    await git(main, "update-ref", "refs/remotes/origin/develop", "HEAD");
    await git(main, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop");
    await git(main, "checkout", "-q", "-b", "feature/x");
    // A tag named like the branch: `git symbolic-ref --short` would say "heads/feature/x".
    await git(main, "tag", "feature/x");
    const fromFiles = await readGitState(main);
    assert.equal(fromFiles.ref, "feature/x");
    assert.equal(fromFiles.refType, "branch");
    assert.equal(fromFiles.defaultBranch, "develop");
    assert.equal(fromFiles.remotePath, "acme/widget");

    // A worktree's .git is a file: git is asked, with the same answers.
    const tree = join(dir, "tree");
    await git(main, "worktree", "add", "-q", tree, "feature/x", "--force");
    const throughGit = await readGitState(tree);
    assert.deepEqual({ ...throughGit, changedFiles: [] }, { ...fromFiles, changedFiles: [] });

    await git(main, "checkout", "-q", "--detach");
    const detached = await readGitState(main);
    assert.equal(detached.ref, "feature/x");
    assert.equal(detached.refType, "tag");
    assert.equal(detached.defaultBranch, "develop");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("origin's URL is read from a config file as git reads it, or left to git", () => {
  const origin = (body: string) => `[core]\n\tbare = false\n${body}`;
  assert.equal(
    originUrlOf(origin('[remote "origin"]\n\turl = https://h/a/b.git\n')),
    "https://h/a/b.git",
  );
  assert.equal(originUrlOf(origin('[Remote "origin"]\n\tURL=git@h:a/b.git   \n')), "git@h:a/b.git");
  assert.equal(originUrlOf(origin("[remote.origin]\n  url = https://h/a/b\n")), "https://h/a/b");
  // Other remotes and sections' URLs are not origin's; subsections are case-sensitive.
  assert.equal(
    originUrlOf(origin('[remote "upstream"]\n\turl = x\n[submodule "m"]\n\turl = y\n')),
    "",
  );
  assert.equal(originUrlOf(origin('[remote "Origin"]\n\turl = x\n')), "");
  assert.equal(originUrlOf(""), "");
  // What git would read otherwise than a plain line: git is asked.
  for (
    const body of [
      '[remote "origin"]\n\turl = "https://h/a b.git"\n',
      '[remote "origin"]\n\turl = https://h/a.git # mirror\n',
      '[remote "origin"]\n\turl = https://h/\\\n\ta.git\n',
      '[remote "origin"]\n\turl = https://h/a.git\n\turl = https://h/b.git\n',
      '[remote "origin"] url = https://h/a.git\n',
      '[remote "origin"]\n\turl\n',
    ]
  ) assert.equal(originUrlOf(origin(body)), null, body);
});

Deno.test("origin's URL rewritten by an insteadOf rule, in the repository or the user's config, is git's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exec-git-" });
  const home = join(dir, "home");
  const project = join(dir, "project");
  const savedHome = Deno.env.get("HOME");
  try {
    await Deno.mkdir(home);
    await Deno.mkdir(project);
    await git(project, "init", "-q");
    await Deno.writeTextFile(join(project, "a.txt"), "one\n");
    await git(project, "add", ".");
    await git(project, "commit", "-q", "-m", "First");
    await git(project, "remote", "add", "origin", "https://gitlab.example.com/acme/widget.git");
    assert.equal((await readGitState(project)).remotePath, "acme/widget");

    await git(
      project,
      "config",
      "url.https://gitlab.example.com/mirror/.insteadOf",
      "https://gitlab.example.com/acme/",
    );
    assert.equal((await readGitState(project)).remotePath, "mirror/widget");

    await git(project, "config", "--unset", "url.https://gitlab.example.com/mirror/.insteadOf");
    await Deno.writeTextFile(
      join(home, ".gitconfig"),
      '[url "https://gitlab.example.com/global/"]\n\tinsteadOf = https://gitlab.example.com/acme/\n',
    );
    Deno.env.set("HOME", home);
    assert.equal((await readGitState(project)).remotePath, "global/widget");
  } finally {
    if (savedHome === undefined) Deno.env.delete("HOME");
    else Deno.env.set("HOME", savedHome);
    await Deno.remove(dir, { recursive: true });
  }
});
